/**
 * The ZeroMQ transport (zeromq@6): the controller listens on ROUTER sockets, engines and clients dial with DEALER
 * sockets, over tcp (or ipc). The default transport.
 * @module
 */
import debug from 'debug';
import { Context, Dealer, MAX_SOCKETS, Router } from './zeromq-module.js';
import { TransportError } from '../core/errors.js';
import type { Connection, CurveKeyPair, DialOptions, Heart, Listener, ListenOptions, ProbeOptions, RoutedFrames, Transport } from '../core/transport.js';
import { curveClientOptions, curveServerOptions, HandshakeWatch, newCurveKeyPair } from './curve.js';
import { BatchingSendQueue, unpackBatch } from './batch.js';
import { echoHeart } from './echo-heart.js';

const log = debug('tsparallel:transport');

/** Messages whose handler threw, in this process (the message is dropped; the socket keeps receiving). */
export const handlerFailures = { count: 0 };

function handlerFailed(where: string, err: unknown): void {
  handlerFailures.count++;
  log('a message handler on %s threw (message dropped, %d so far): %s', where, handlerFailures.count, (err as Error)?.stack ?? String(err));
}

/** How many times {@link connectRetrying} tries a connect that a signal interrupted. */
const CONNECT_ATTEMPTS = 100;

/**
 * `socket.connect(address)`, tried again while it fails with EINTR. libzmq's connect first takes the commands its
 * I/O thread left for the socket, and a signal landing in that wait (V8's sampling profiler sends one every 100 us; a
 * child's exit sends SIGCHLD) interrupts it before anything is done, so trying again is safe. zeromq.js retries its
 * bind, send and receive on EINTR, but not connect: under a profiler about 1 connect in 2,000 failed here, and an
 * engine process died of it.
 */
export function connectRetrying(socket: { connect(address: string): void }, address: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      return socket.connect(address);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EINTR' || attempt >= CONNECT_ATTEMPTS) throw err;
    }
  }
}

/*
 * RECEIVE_LOOP: the receive loops hand each message to a function of its own, and never hold it in a variable of the
 * loop. A `for await` loop (or a variable in the loop's body) keeps the last message alive while it waits for the
 * next one, which may be minutes away: after a pull of 100 MB from each of 2 engines, the client kept 200 MB of
 * received frames after the result was dropped (bench/RESULTS.md, "Memory after a pull").
 */

class ZeroMqListener implements Listener {
  readonly #queue: BatchingSendQueue;
  readonly probeTimeoutMs?: number;
  #handler: (m: RoutedFrames) => void = () => {};
  #unroutable: (identity: Buffer) => void = () => {};
  #disconnect: () => void = () => {};
  #closed = false;

  constructor(
    private readonly socket: Router,
    readonly address: string,
    events: HandshakeWatch,
    probeTimeoutMs: number | undefined,
  ) {
    this.probeTimeoutMs = probeTimeoutMs;
    events.setDisconnectHandler(() => {
      if (this.#closed) return;
      try {
        this.#disconnect();
      } catch (err) {
        handlerFailed(address, err);
      }
    });
    this.#queue = new BatchingSendQueue(
      (frames) => this.socket.send(frames),
      (frames, err) => {
        if (this.#closed) return;
        // EAGAIN only on a probing socket (a send timeout of 0): the peer's connection is closing.
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EHOSTUNREACH' || code === 'EAGAIN') this.#unroutable(frames[0]!);
        else log('send on %s failed: %s', address, (err as Error).message);
      },
      true,
    );
    void this.#receive();
  }

  async #receive(): Promise<void> {
    try {
      // Not `for await`: see RECEIVE_LOOP.
      while (!this.socket.closed) this.#deliver(await this.socket.receive());
    } catch (err) {
      if (!this.#closed) log('receive on %s failed: %s', this.address, (err as Error).message);
    }
  }

  #deliver([identity, ...frames]: Buffer[]): void {
    // A handler's exception must never end the loop: that would deafen the socket for good.
    for (const message of unpackBatch(frames)) {
      try {
        this.#handler({ identity: identity!, frames: message });
      } catch (err) {
        handlerFailed(this.address, err);
      }
    }
  }

  send(identity: Buffer, frames: readonly Buffer[]): void {
    if (!this.#closed) this.#queue.push([identity, ...frames]);
  }
  setMessageHandler(handler: (message: RoutedFrames) => void): void {
    this.#handler = handler;
  }
  setUnroutableHandler(handler: (identity: Buffer) => void): void {
    this.#unroutable = handler;
  }
  onDisconnect(handler: () => void): void {
    this.#disconnect = handler;
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close();
  }
}

class ZeroMqConnection implements Connection {
  readonly #queue: BatchingSendQueue;
  #handler: (frames: Buffer[]) => void = () => {};
  #closed = false;

  constructor(
    private readonly socket: Dealer,
    private readonly handshakes?: HandshakeWatch,
  ) {
    this.#queue = new BatchingSendQueue(
      (frames) => this.socket.send(frames),
      (_frames, err) => {
        if (!this.#closed) log('send failed: %s', (err as Error).message);
      },
      false,
    );
    void this.#receive();
  }

  async #receive(): Promise<void> {
    try {
      // Not `for await`: see RECEIVE_LOOP.
      while (!this.socket.closed) this.#deliver(await this.socket.receive());
    } catch (err) {
      if (!this.#closed) log('receive failed: %s', (err as Error).message);
    }
  }

  #deliver(frames: Buffer[]): void {
    for (const message of unpackBatch(frames)) {
      try {
        this.#handler(message);
      } catch (err) {
        handlerFailed('a dialled connection', err);
      }
    }
  }

  send(frames: readonly Buffer[]): void {
    if (!this.#closed) this.#queue.push(frames);
  }
  sendNow(frames: readonly Buffer[]): void {
    if (!this.#closed) this.#queue.sendNow(frames);
  }
  get handshakeError(): string | undefined {
    return this.handshakes?.error;
  }
  setMessageHandler(handler: (frames: Buffer[]) => void): void {
    this.#handler = handler;
  }
  onReconnect(handler: () => void): void {
    this.handshakes?.setReconnectHandler(() => {
      if (this.#closed) return;
      try {
        handler();
      } catch (err) {
        handlerFailed('a dialled connection (reconnect)', err);
      }
    });
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.socket.close();
  }
}

/**
 * TCP keepalive on every connection that carries messages: the kernel probes a connection after a minute without
 * traffic, so a stateful firewall or NAT between hosts does not silently drop an idle engine's connection (its heart's
 * connection, busy with pings, would survive, and the engine would look alive with no way to reach it), and a peer
 * that vanished is found within about two minutes. Not ZeroMQ's own heartbeats (ZMTP PING): their timeout runs while
 * a big message is on the wire, and one longer than the timeout (300 MB with CURVE on a busy host) had its connection
 * dropped and the message lost. Keepalive probes only an idle connection. (The heartbeat endpoint, which carries
 * small messages only, does use ZMTP heartbeats: {@link ListenOptions.probe}.)
 */
const KEEPALIVE = { tcpKeepalive: 1, tcpKeepaliveIdle: 60, tcpKeepaliveInterval: 10, tcpKeepaliveCount: 6 } as const;

/** The context of the endpoints that carry heartbeats only (made on first use; one I/O thread of its own). */
let heartbeatContext: Context | undefined;
const heartbeats = () => (heartbeatContext ??= new Context({ ioThreads: 1, maxSockets: MAX_SOCKETS }));

/**
 * The socket options of a listener that probes its connections: libzmq sends a ZMTP PING every `everyMs` and closes a
 * connection that has carried nothing back for `timeoutMs`. A send with no route then fails at once (a send timeout
 * of 0): a connection being closed otherwise held a ping, and every send after it on the socket, until the peer came
 * back (seen with a peer stopped by SIGSTOP).
 */
function probeOptions(probe: ProbeOptions | undefined) {
  return probe ? { heartbeatInterval: probe.everyMs, heartbeatTimeout: probe.timeoutMs, sendTimeout: 0 } : {};
}

/** How many connections a listener lets wait to be accepted (ZMQ_BACKLOG; see {@link ZeroMqTransport.listen}). */
const LISTEN_BACKLOG = 4096;

/** The ZeroMQ transport. Addresses are ZeroMQ endpoints: `tcp://127.0.0.1:0` binds any free port. */
export class ZeroMqTransport implements Transport {
  readonly name = 'zeromq';

  async listen(address: string, options: ListenOptions = {}): Promise<Listener> {
    const socket = new Router({
      ...(options.heartbeatsOnly && { context: heartbeats() }),
      // A peer that reconnects (after a network blip, or a disconnect for an oversized message) comes back under its
      // routing id while the old connection may still hold it here: without handover the new one is refused, over
      // and over, and messages to that id go into the dead old connection. An engine's heart (on its own endpoint)
      // then kept the engine looking alive while its tasks were lost (test/transport/zeromq-reconnect).
      handover: true,
      ...KEEPALIVE,
      // Connections still waiting to be accepted: libzmq's default of 100 overflowed when hundreds of engines (or their
      // hearts) connected at once, and the kernel dropped the rest, whose retries came 1, 3, 7… s later (W8: ~180 of
      // Linux's ListenOverflows per 1,000-engine start; under load engines gave up registering after 30 s). The
      // kernel caps it at net.core.somaxconn.
      backlog: LISTEN_BACKLOG,
      mandatory: true,
      linger: 0,
      sendHighWaterMark: 0,
      receiveHighWaterMark: options.receiveHighWaterMark ?? 0,
      maxMessageSize: options.maxMessageBytes ?? -1,
      ...probeOptions(options.probe),
      ...curveServerOptions(options.curve),
    });
    // The socket's one event reader: logs refused handshakes (a peer without the key, or without CURVE) and tells the
    // listener of disconnections; ends when the socket closes.
    const events = new HandshakeWatch(socket, address, options.curve !== undefined);
    try {
      await socket.bind(address);
    } catch (cause) {
      socket.close();
      throw new TransportError(
        `cannot listen at ${address}: ${(cause as Error).message} (is the address in use, or not an address of this host?)`,
        { cause },
      );
    }
    const bound = socket.lastEndpoint ?? address;
    log('listening at %s', bound);
    // A routed message proves an answer to a probe within the timeout, give or take one probe interval.
    return new ZeroMqListener(socket, bound, events, options.probe && options.probe.timeoutMs + options.probe.everyMs);
  }

  async dial(address: string, options: DialOptions): Promise<Connection> {
    const { socket, handshakes } = this.#connect(address, options);
    return new ZeroMqConnection(socket, handshakes);
  }

  /**
   * A heart on this thread, over a connection of its own in the heartbeat context (so the engine's big messages on
   * the default context's I/O thread cannot hold back its answers to the listener's probes). While a task keeps this
   * thread busy, libzmq's I/O thread still answers the probes, the pings wait unread (no high-water mark: thousands
   * of 4-byte pings for a task of an hour), and they are echoed when the task ends. Ready at its first handshake.
   * No worker thread: one cost 40-55 ms of CPU to start, about a quarter of an engine's start (bench/RESULTS.md).
   */
  async startHeart(address: string, options: DialOptions): Promise<Heart> {
    const { socket, handshakes } = this.#connect(address, options, heartbeats());
    return echoHeart(new ZeroMqConnection(socket, handshakes), handshakes.firstHandshake);
  }

  #connect(address: string, options: DialOptions, context?: Context): { socket: Dealer; handshakes: HandshakeWatch } {
    const curve = curveClientOptions(options.curveServerKey);
    const socket = new Dealer({ ...(context && { context }), routingId: options.identity, linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...KEEPALIVE, ...curve });
    const handshakes = new HandshakeWatch(socket, address, options.curveServerKey !== undefined);
    try {
      connectRetrying(socket, address);
    } catch (cause) {
      socket.close();
      throw new TransportError(`cannot connect to ${address}: ${(cause as Error).message}`, { cause });
    }
    log('dialled %s%s', address, options.curveServerKey ? ' (CURVE)' : '');
    return { socket, handshakes };
  }

  newCurveKeyPair(): CurveKeyPair {
    return newCurveKeyPair();
  }
}
