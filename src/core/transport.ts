/**
 * The `Transport` contract: how the controller, engines and clients move multipart messages.
 * @module
 */

/** One received message on a listening endpoint: who sent it and its frames. */
export interface RoutedFrames {
  /** The sender's identity (its routing id). */
  identity: Buffer;
  /** The message frames, after the identity. */
  frames: Buffer[];
}

/**
 * A bound, listening endpoint (a ZeroMQ ROUTER socket, or its in-process twin). Many peers dial it; each has an
 * identity, and replies are addressed by that identity.
 */
export interface Listener {
  /** The endpoint peers dial, with any wildcard port resolved (e.g. `tcp://127.0.0.1:53012`). */
  readonly address: string;
  /**
   * Queue a message to the peer with this identity. Never throws: a message to a peer that is gone is dropped
   * and reported to `onUnroutable`.
   */
  send(identity: Buffer, frames: readonly Buffer[]): void;
  /** Set the one handler called for every received message, in arrival order. */
  onMessage(handler: (message: RoutedFrames) => void): void;
  /** Set the handler told when a message could not be delivered because its peer is not connected. */
  onUnroutable(handler: (identity: Buffer) => void): void;
  /**
   * Set the handler told when some peer's connection closed (ZeroMQ does not say which peer): a hint to check
   * local peers' processes at once. Optional: a transport without such events never calls it.
   */
  onDisconnect?(handler: () => void): void;
  /** Stop listening and release the endpoint. Closing twice is harmless. */
  close(): Promise<void>;
}

/** A connection from a peer to a {@link Listener} (a ZeroMQ DEALER socket, or its in-process twin). */
export interface Connection {
  /** Queue a message to the listener. Messages keep their order. */
  send(frames: readonly Buffer[]): void;
  /** Set the one handler called for every message the listener sends to this connection. */
  onMessage(handler: (frames: Buffer[]) => void): void;
  /** Close the connection. Closing twice is harmless. */
  close(): Promise<void>;
}

/** Limits on what a listener accepts from each peer. */
export interface ListenOptions {
  /** The largest message accepted, in bytes (ZeroMQ `maxMessageSize`): the peer sending a bigger one is disconnected. */
  maxMessageBytes?: number;
  /** How many received messages may queue per peer before ZeroMQ stops reading from it (default 0: no limit). */
  receiveHighWaterMark?: number;
}

/**
 * The engine side of heartbeats: it answers the controller's pings on its own, so that a busy engine (one running a
 * long synchronous function) is not taken for a dead one. The ZeroMQ transport answers from a worker thread.
 */
export interface Heart {
  /** Called (on the engine's main thread) whenever a ping arrives, so the engine knows its controller is alive. */
  onPing(handler: () => void): void;
  /** Stop answering. Closing twice is harmless. */
  close(): Promise<void>;
}

/**
 * Moves multipart messages between the roles of a cluster. Same semantics for every implementation: messages are
 * delivered whole and in order per connection, frames are copied (a receiver never shares memory with a sender in
 * another role), and nothing blocks the caller. Implementations: `ZeroMqTransport` (tcp/ipc, the default) and
 * `InProcessTransport` (one process, for tests and embedding).
 */
export interface Transport {
  /** A short name written into connection files (`zeromq`, `in-process`), so every role picks the same transport. */
  readonly name: string;
  /**
   * Bind and listen at `address` (`tcp://IP:PORT`, port 0 for any free port, or an implementation's own scheme).
   * @throws TransportError when the address cannot be bound.
   */
  listen(address: string, options?: ListenOptions): Promise<Listener>;
  /** Connect to a listener at `address` with this identity. Like ZeroMQ, a listener that is not there yet is waited for. */
  dial(address: string, options: { identity: string }): Promise<Connection>;
  /** Start answering heartbeats at `address` with this identity (an engine calls this once registered). */
  startHeart(address: string, options: { identity: string }): Promise<Heart>;
}

/**
 * DI token for a {@link Transport} instance a host application supplies: when registered, `createCluster()` and
 * `Client.connect()` use it (and write its name into connection files) instead of asking the factory.
 */
export const TRANSPORT = Symbol.for('tsparallel.Transport');

/** Makes the transport a connection file names. The composition root registers one that knows the built-ins. */
export interface TransportFactory {
  /**
   * The transport called `name` (`zeromq`, `in-process`).
   * @throws ConfigError naming the known transports when there is none by that name.
   */
  create(name: string): Transport;
}

/** DI token for the {@link TransportFactory}. A {@link Transport} registered under {@link TRANSPORT} takes precedence. */
export const TRANSPORT_FACTORY = Symbol.for('tsparallel.TransportFactory');
