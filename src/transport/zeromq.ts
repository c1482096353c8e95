/**
 * The ZeroMQ transport (zeromq@6): the controller listens on ROUTER sockets, engines and clients dial with DEALER
 * sockets, over tcp (or ipc). The default transport.
 * @module
 */
import debug from 'debug';
import { Worker } from 'node:worker_threads';
import { Context, Dealer, Router, ZEROMQ_ENTRY } from './zeromq-module.js';
import { TransportError } from '../core/errors.js';
import type { Connection, CurveKeyPair, DialOptions, Heart, Listener, ListenOptions, RoutedFrames, Transport } from '../core/transport.js';
import { curveClientOptions, curveServerOptions, HandshakeWatch, newCurveKeyPair } from './curve.js';
import { BatchingSendQueue, unpackBatch } from './batch.js';
import { heartStatsFrame } from '../wire/heart-stats.js';

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
 * engine process died of it. The heart worker (HEART_SOURCE) does the same.
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

/** Where a heart worker's socket is (see HEART_SOURCE). */
const HEART_STARTING = 0;
const HEART_OPEN = 1;
const HEART_CLOSED = 2;
const HEART_EXITING = 3;
/** How long an exiting process waits for its heart worker to close its socket. */
const HEART_EXIT_WAIT_MS = 2000;

/**
 * The heart's worker thread: answer every ping the controller sends (its frames, then this process's resource sample:
 * see `src/wire/heart-stats.ts`), whatever the engine's main thread is doing, and write the time of each into shared
 * memory (`workerData.beat`), where the main thread reads it when it has a moment:
 * a message to the main thread would wait for a turn of its event loop, which a queue of synchronous tasks does not
 * give it. Its socket has a context (an I/O thread) of its own, so the engine's big messages cannot delay its pings
 * (see {@link ListenOptions.heartbeatsOnly}). Tells the main thread once when the connection's handshake is done; the
 * socket's events are read for as long as it lives and their observer is never closed on its own (see HandshakeWatch:
 * that stalls every socket of the process; closed just before the socket, it kept the process from exiting). Plain
 * CommonJS source, so the worker needs no TypeScript loader: run from source (tsx) or compiled, it is the same code.
 *
 * `workerData.state` (an Int32Array over shared memory) says where the worker's socket is, so the main thread can
 * have it closed without an event loop: HEART_STARTING until the worker opens it (a main thread that is exiting
 * swaps in HEART_EXITING first, and then the worker never opens it), HEART_OPEN, then HEART_CLOSED once the socket
 * is closed and the receive loop over (zeromq.js's own JavaScript touches the socket until the loop ends).
 */
const HEART_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const state = new Int32Array(workerData.state);
if (Atomics.compareExchange(state, 0, ${HEART_STARTING}, ${HEART_OPEN}) === ${HEART_STARTING}) {
  const { Context, Dealer } = require(workerData.zeromq);
  const beat = new BigInt64Array(workerData.beat);
  // Its own context: zeromq.js shares one context (one I/O thread) among all threads of a process by default.
  const context = new Context({ ioThreads: 1 });
  const socket = new Dealer({ context, routingId: workerData.identity, linger: 0, ...workerData.curve });
  let closed = false;
  parentPort.on('message', (msg) => {
    if (msg === 'close' && !closed) { closed = true; socket.close(); }
  });
  const events = (async () => {
    try {
      let ready = false;
      for await (const event of socket.events) if (event.type === 'handshake' && !ready) { ready = true; parentPort.postMessage('ready'); }
    } catch (err) { if (!closed) throw err; }
  })();
  // The answer's last frame: this process's resource sample (src/wire/heart-stats.ts).
  ${heartStatsFrame.toString()}
  // Again while a signal interrupts it, as connectRetrying does.
  for (let attempt = 1; ; attempt++) {
    try { socket.connect(workerData.address); break; } catch (err) { if (err.code !== 'EINTR' || attempt >= ${CONNECT_ATTEMPTS}) throw err; }
  }
  (async () => {
    try {
      for await (const frames of socket) { Atomics.store(beat, 0, BigInt(Date.now())); await socket.send([...frames, heartStatsFrame()]); }
    } catch (err) {
      if (!closed) throw err;
    } finally {
      // Only now does no more JavaScript here touch the socket, so only now may the process stop this thread.
      if (!socket.closed) socket.close();
      await events; // the socket's observer ends with it; one still reading at teardown aborts like the socket
      Atomics.store(state, 0, ${HEART_CLOSED});
      Atomics.notify(state, 0);
      parentPort.close();
    }
  })();
} else parentPort.close();
`;

/*
 * RECEIVE_LOOP: the receive loops hand each message to a function of its own, and never hold it in a variable of the
 * loop. A `for await` loop (or a variable in the loop's body) keeps the last message alive while it waits for the
 * next one, which may be minutes away: after a pull of 100 MB from each of 2 engines, the client kept 200 MB of
 * received frames after the result was dropped (bench/RESULTS.md, "Memory after a pull").
 */

class ZeroMqListener implements Listener {
  readonly #queue: BatchingSendQueue;
  #handler: (m: RoutedFrames) => void = () => {};
  #unroutable: (identity: Buffer) => void = () => {};
  #disconnect: () => void = () => {};
  #closed = false;

  constructor(
    private readonly socket: Router,
    readonly address: string,
    events: HandshakeWatch,
  ) {
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
        if ((err as NodeJS.ErrnoException).code === 'EHOSTUNREACH') this.#unroutable(frames[0]!);
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

class ZeroMqHeart implements Heart {
  readonly ready: Promise<void>;
  #closed = false;
  readonly #beat: BigInt64Array;
  readonly #exited: Promise<void>;
  #workerGone = false;
  readonly #onProcessExit = () => this.#closeBeforeExit();
  constructor(
    private readonly worker: Worker,
    private readonly state: Int32Array,
    beat: SharedArrayBuffer,
  ) {
    this.#beat = new BigInt64Array(beat);
    this.ready = new Promise((resolve, reject) => {
      worker.on('message', (msg) => msg === 'ready' && resolve());
      worker.once('error', (err) => reject(new TransportError(`the heartbeat thread failed: ${err.message}`, { cause: err })));
      worker.once('exit', () => reject(new TransportError('the heartbeat thread ended before it connected')));
    });
    this.ready.catch(() => {}); // told to whoever awaits it; never an unhandled rejection
    worker.on('error', (err) => log('heart worker failed: %s', err.message));
    this.#exited = new Promise((resolve) => worker.once('exit', () => ((this.#workerGone = true), resolve())));
    // The heart must not keep the engine alive on its own.
    worker.unref();
    process.on('exit', this.#onProcessExit);
  }
  get lastPingAt(): number {
    return Number(Atomics.load(this.#beat, 0));
  }

  /**
   * The process is exiting (process.exit() anywhere, a task's included) with this heart open. Node then stops the
   * worker from outside, and zeromq.js closes the sockets still open during the worker's teardown, when it can no
   * longer create JavaScript values: its C++ throws a Napi::Error nothing catches and the whole process aborts
   * (SIGABRT instead of the exit code asked for). So have the worker close its socket now, while it still runs
   * JavaScript, and wait for it: synchronously, since nothing asynchronous runs in an 'exit' listener. The worker's
   * event loop is its own, so it answers while this thread waits; the wait is bounded.
   */
  #closeBeforeExit(): void {
    if (this.#closed || this.#workerGone) return;
    this.#closed = true;
    // A worker that has not opened its socket yet now never will.
    if (Atomics.compareExchange(this.state, 0, HEART_STARTING, HEART_EXITING) === HEART_STARTING) return;
    this.worker.postMessage('close');
    Atomics.wait(this.state, 0, HEART_OPEN, HEART_EXIT_WAIT_MS);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    process.off('exit', this.#onProcessExit);
    // Close the socket inside the worker first: terminating a worker with an open zeromq socket aborts the process.
    this.worker.postMessage('close');
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/**
 * TCP keepalive on every connection that carries messages: the kernel probes a connection after a minute without
 * traffic, so a stateful firewall or NAT between hosts does not silently drop an idle engine's connection (its heart's
 * connection, busy with pings, would survive, and the engine would look alive with no way to reach it), and a peer
 * that vanished is found within about two minutes. Not ZeroMQ's own heartbeats (ZMTP PING): their timeout runs while
 * a big message is on the wire, and one longer than the timeout (300 MB with CURVE on a busy host) had its connection
 * dropped and the message lost. Keepalive probes only an idle connection.
 */
const KEEPALIVE = { tcpKeepalive: 1, tcpKeepaliveIdle: 60, tcpKeepaliveInterval: 10, tcpKeepaliveCount: 6 } as const;

/** The context of the endpoints that carry heartbeats only (made on first use; one I/O thread of its own). */
let heartbeatContext: Context | undefined;

/** The ZeroMQ transport. Addresses are ZeroMQ endpoints: `tcp://127.0.0.1:0` binds any free port. */
export class ZeroMqTransport implements Transport {
  readonly name = 'zeromq';

  async listen(address: string, options: ListenOptions = {}): Promise<Listener> {
    const socket = new Router({
      ...(options.heartbeatsOnly && { context: (heartbeatContext ??= new Context({ ioThreads: 1 })) }),
      // A peer that reconnects (after a network blip, or a disconnect for an oversized message) comes back under its
      // routing id while the old connection may still hold it here: without handover the new one is refused, over
      // and over, and messages to that id go into the dead old connection. An engine's heart (on its own endpoint)
      // then kept the engine looking alive while its tasks were lost (test/transport/zeromq-reconnect).
      handover: true,
      ...KEEPALIVE,
      mandatory: true,
      linger: 0,
      sendHighWaterMark: 0,
      receiveHighWaterMark: options.receiveHighWaterMark ?? 0,
      maxMessageSize: options.maxMessageBytes ?? -1,
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
    return new ZeroMqListener(socket, bound, events);
  }

  async dial(address: string, options: DialOptions): Promise<Connection> {
    const curve = curveClientOptions(options.curveServerKey);
    const socket = new Dealer({ routingId: options.identity, linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...KEEPALIVE, ...curve });
    const handshakes = new HandshakeWatch(socket, address, options.curveServerKey !== undefined);
    try {
      connectRetrying(socket, address);
    } catch (cause) {
      socket.close();
      throw new TransportError(`cannot connect to ${address}: ${(cause as Error).message}`, { cause });
    }
    log('dialled %s%s', address, options.curveServerKey ? ' (CURVE)' : '');
    return new ZeroMqConnection(socket, handshakes);
  }

  async startHeart(address: string, options: DialOptions): Promise<Heart> {
    const curve = curveClientOptions(options.curveServerKey);
    const state = new Int32Array(new SharedArrayBuffer(4));
    const beat = new SharedArrayBuffer(8);
    const worker = new Worker(HEART_SOURCE, { eval: true, workerData: { address, identity: options.identity, zeromq: ZEROMQ_ENTRY, curve, state: state.buffer, beat } });
    return new ZeroMqHeart(worker, state, beat);
  }

  newCurveKeyPair(): CurveKeyPair {
    return newCurveKeyPair();
  }
}
