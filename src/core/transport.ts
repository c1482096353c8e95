/**
 * The `Transport` contract: how the controller, engines and clients move multipart messages.
 * @module
 */
import { token } from './tokens.js';

/**
 * A CURVE key pair (Curve25519, each key as 40 characters of Z85 text). The public key may be shared freely (it goes
 * into connection files and registration messages); the secret key never leaves the process that made it.
 */
export interface CurveKeyPair {
  /** The public key (Z85). */
  publicKey: string;
  /**
   * The secret key (Z85). Never logged, never on a command line; written to a file only for a controller with
   * `controller.journal` (its 0600 keys file in `security/`, so a restored controller takes its clients back).
   */
  secretKey: string;
}

/**
 * The largest message a controller accepts from a client or an engine unless configured otherwise
 * (`controller.maxMessageBytes`), in bytes: 256 MiB.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** How a {@link Transport} listens: encryption, and limits on what it accepts from each peer. */
export interface ListenOptions {
  /** Encrypt and authenticate every connection with CURVE, as the server with this key pair. */
  curve?: CurveKeyPair;
  /** The largest message accepted, in bytes (ZeroMQ `maxMessageSize`): the peer sending a bigger one is disconnected. */
  maxMessageBytes?: number;
  /** How many received messages may queue per peer before ZeroMQ stops reading from it (default 0: no limit). */
  receiveHighWaterMark?: number;
  /**
   * The endpoint carries heartbeats only: keep it apart from the process's other traffic, so that a big message on
   * another endpoint (ZeroMQ encrypts and decrypts CURVE messages on its I/O thread, a second or more for 100 MB on a
   * busy host) cannot hold back its pings and make live peers look dead. ZeroMQ gives it its own context.
   */
  heartbeatsOnly?: boolean;
  /**
   * Have the transport check each connection itself: probe the peer every `everyMs` and close the connection when it
   * has not answered for `timeoutMs`. ZeroMQ does this with ZMTP heartbeats, which the peer's I/O thread answers
   * whatever its JavaScript is doing, so a connection that stays open proves its peer process is alive and reachable
   * even while its main thread runs a long synchronous task. Only on endpoints that carry small messages
   * ({@link heartbeatsOnly}): a probe queued behind a big message waits for it, and the connection would be closed.
   * A transport that cannot probe ignores it (its {@link Listener.probeTimeoutMs} stays `undefined`).
   */
  probe?: ProbeOptions;
}

/** How a listener probes its connections ({@link ListenOptions.probe}). */
export interface ProbeOptions {
  /** How often to probe each connection, in ms. */
  everyMs: number;
  /** How long a connection may go without answering a probe (or sending anything) before it is closed, in ms. */
  timeoutMs: number;
}

/** How a {@link Transport} dials a listener. */
export interface DialOptions {
  /** This peer's identity (its routing id at the listener). */
  identity: string;
  /** The listener's CURVE public key: encrypt the connection, and refuse a listener that cannot prove it holds the key. */
  curveServerKey?: string;
}

/** One received message on a listening endpoint: who sent it and its frames. */
export interface RoutedFrames {
  /** The sender's identity (its routing id). */
  identity: Buffer;
  /** The message frames, after the identity. */
  frames: Buffer[];
}

/**
 * A bound, listening endpoint (a ZeroMQ ROUTER socket, or its in-process twin). Many peers dial it; each has an
 * identity, and replies are addressed by that identity. A peer that connects again under an identity takes it over:
 * replies go to its new connection, not to an old one that may be dead without either end having seen it.
 */
export interface Listener {
  /** The endpoint peers dial, with any wildcard port resolved (e.g. `tcp://127.0.0.1:53012`). */
  readonly address: string;
  /**
   * Set when this listener probes its connections ({@link ListenOptions.probe}): a message sent to a peer and not
   * reported unroutable went into a connection whose peer answered the transport's probes at most this many ms
   * before. `undefined` on a listener that does not probe.
   */
  readonly probeTimeoutMs?: number;
  /**
   * Queue a message to the peer with this identity. Never throws: a message to a peer that is gone is dropped
   * and reported to the handler set with `setUnroutableHandler`.
   */
  send(identity: Buffer, frames: readonly Buffer[]): void;
  /** Set the one handler called for every received message, in arrival order. */
  setMessageHandler(handler: (message: RoutedFrames) => void): void;
  /** Set the handler told when a message could not be delivered because its peer is not connected. */
  setUnroutableHandler(handler: (identity: Buffer) => void): void;
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
  /**
   * Send at once, with the messages still queued before it: for a process's 'exit' event, where queued sends would
   * never leave. Optional: without it, `send` is used.
   */
  sendNow?(frames: readonly Buffer[]): void;
  /** Set the one handler called for every message the listener sends to this connection. */
  setMessageHandler(handler: (frames: Buffer[]) => void): void;
  /**
   * Set the handler told when the connection dropped and a new one to the same listener is up (ZeroMQ reconnects
   * on its own): messages that were on the way when it dropped may be lost, in either direction. Optional: a
   * transport whose connections never drop (in-process) or that cannot tell never calls it.
   */
  onReconnect?(handler: () => void): void;
  /** Close the connection. Closing twice is harmless. */
  close(): Promise<void>;
  /**
   * Why the security handshake with the listener failed last, while no handshake has succeeded since (e.g. a CURVE
   * key that does not match the listener's); `undefined` when there is nothing to report or the transport cannot tell.
   */
  readonly handshakeError?: string;
}

/**
 * The engine side of heartbeats: it echoes the controller's pings, each answer carrying the process's resource sample.
 * The echo runs on the engine's main thread and waits while a task runs there; what keeps a busy engine (one running
 * a long synchronous function) from being taken for a dead one is the connection itself, which the controller's
 * listener probes ({@link ListenOptions.probe}) and which the ZeroMQ transport answers from libzmq's I/O thread.
 */
export interface Heart {
  /**
   * When the last ping was read (ms since the epoch; 0 before the first). Read on the main thread, so after a long
   * task it jumps to the end of it: the engine's watchdog judges silence with a SilenceClock, which does not count
   * such a stall.
   */
  readonly lastPingAt: number;
  /**
   * Settles once the heart's connection is up (its handshake done), so the controller's first ping is answered at
   * once; an engine registers only then. Settled from the start on a transport that cannot tell.
   */
  readonly ready: Promise<void>;
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
  dial(address: string, options: DialOptions): Promise<Connection>;
  /** Start answering heartbeats at `address` with this identity (an engine does this before it registers). */
  startHeart(address: string, options: DialOptions): Promise<Heart>;
  /**
   * A fresh CURVE key pair, for a transport that can encrypt its connections ({@link ListenOptions.curve}). Absent on a
   * transport that cannot (the in-process one, whose messages never leave the process).
   */
  newCurveKeyPair?(): CurveKeyPair;
}

/**
 * DI token for a {@link Transport} instance a host application supplies: when registered, `createCluster()` and
 * `Client.connect()` use it (and write its name into connection files) instead of asking the factory.
 */
export const TRANSPORT = token<Transport>('tsparallel.Transport');

/** Makes the transport a connection file names. The composition root registers one that knows the built-ins. */
export interface TransportFactory {
  /**
   * The transport called `name` (`zeromq`, `in-process`).
   * @throws ConfigError naming the known transports when there is none by that name.
   */
  create(name: string): Transport;
}

/** DI token for the {@link TransportFactory}. A {@link Transport} registered under {@link TRANSPORT} takes precedence. */
export const TRANSPORT_FACTORY = token<TransportFactory>('tsparallel.TransportFactory');
