/**
 * The ZeroMQ transport (zeromq@6): the controller listens on ROUTER sockets, engines and clients dial with DEALER
 * sockets, over tcp (or ipc). The default transport.
 * @module
 */
import debug from 'debug';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { Context, Dealer, Router } from 'zeromq';
import { TransportError } from '../core/errors.js';
import type { Connection, CurveKeyPair, DialOptions, Heart, Listener, ListenOptions, RoutedFrames, Transport } from '../core/transport.js';
import { curveClientOptions, curveServerOptions, HandshakeWatch, newCurveKeyPair } from './curve.js';
import { BatchingSendQueue, unpackBatch } from './batch.js';

const log = debug('tsparallel:transport');

/** Messages whose handler threw, in this process (the message is dropped; the socket keeps receiving). */
export const handlerFailures = { count: 0 };

function handlerFailed(where: string, err: unknown): void {
  handlerFailures.count++;
  log('a message handler on %s threw (message dropped, %d so far): %s', where, handlerFailures.count, (err as Error)?.stack ?? String(err));
}

/**
 * The heart's worker thread: echo every ping the controller sends, whatever the engine's main thread is doing, and
 * write the time of each into shared memory (`workerData.beat`), where the main thread reads it when it has a moment:
 * a message to the main thread would wait for a turn of its event loop, which a queue of synchronous tasks does not
 * give it. Its socket has a context (an I/O thread) of its own, so the engine's big messages cannot delay its pings
 * (see {@link ListenOptions.heartbeatsOnly}). Tells the main thread once when the connection's handshake is done; the
 * socket's events are read for as long as it lives and their observer is never closed on its own (see HandshakeWatch:
 * that stalls every socket of the process; closed just before the socket, it kept the process from exiting). Plain
 * CommonJS source, so the worker needs no TypeScript loader: run from source (tsx) or compiled, it is the same code.
 */
const HEART_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Context, Dealer } = require(workerData.zeromq);
const beat = new BigInt64Array(workerData.beat);
// Its own context: zeromq.js shares one context (one I/O thread) among all threads of a process by default.
const context = new Context({ ioThreads: 1 });
const socket = new Dealer({ context, routingId: workerData.identity, linger: 0, ...workerData.curve });
let closed = false;
parentPort.on('message', (msg) => {
  if (msg === 'close') { closed = true; socket.close(); parentPort.close(); }
});
(async () => {
  try {
    let ready = false;
    for await (const event of socket.events) if (event.type === 'handshake' && !ready) { ready = true; parentPort.postMessage('ready'); }
  } catch (err) { if (!closed) throw err; }
})();
socket.connect(workerData.address);
(async () => {
  try {
    for await (const frames of socket) { Atomics.store(beat, 0, BigInt(Date.now())); await socket.send(frames); }
  } catch (err) { if (!closed) throw err; }
})();
`;

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
      for await (const [identity, ...frames] of this.socket) {
        // A handler's exception must never end the loop: that would deafen the socket for good.
        for (const message of unpackBatch(frames)) {
          try {
            this.#handler({ identity: identity!, frames: message });
          } catch (err) {
            handlerFailed(this.address, err);
          }
        }
      }
    } catch (err) {
      if (!this.#closed) log('receive on %s failed: %s', this.address, (err as Error).message);
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
      for await (const frames of this.socket) {
        for (const message of unpackBatch(frames)) {
          try {
            this.#handler(message);
          } catch (err) {
            handlerFailed('a dialled connection', err);
          }
        }
      }
    } catch (err) {
      if (!this.#closed) log('receive failed: %s', (err as Error).message);
    }
  }

  send(frames: readonly Buffer[]): void {
    if (!this.#closed) this.#queue.push(frames);
  }
  get handshakeError(): string | undefined {
    return this.handshakes?.error;
  }
  setMessageHandler(handler: (frames: Buffer[]) => void): void {
    this.#handler = handler;
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
  constructor(
    private readonly worker: Worker,
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
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    // The heart must not keep the engine alive on its own.
    worker.unref();
  }
  get lastPingAt(): number {
    return Number(Atomics.load(this.#beat, 0));
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Close the socket inside the worker first: terminating a worker with an open zeromq socket aborts the process.
    this.worker.postMessage('close');
    const timer = setTimeout(() => void this.worker.terminate(), 2000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** The context of the endpoints that carry heartbeats only (made on first use; one I/O thread of its own). */
let heartbeatContext: Context | undefined;

/** The ZeroMQ transport. Addresses are ZeroMQ endpoints: `tcp://127.0.0.1:0` binds any free port. */
export class ZeroMqTransport implements Transport {
  readonly name = 'zeromq';

  async listen(address: string, options: ListenOptions = {}): Promise<Listener> {
    const socket = new Router({
      ...(options.heartbeatsOnly && { context: (heartbeatContext ??= new Context({ ioThreads: 1 })) }),
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
    const socket = new Dealer({ routingId: options.identity, linger: 0, sendHighWaterMark: 0, receiveHighWaterMark: 0, ...curve });
    const handshakes = new HandshakeWatch(socket, address, options.curveServerKey !== undefined);
    try {
      socket.connect(address);
    } catch (cause) {
      socket.close();
      throw new TransportError(`cannot connect to ${address}: ${(cause as Error).message}`, { cause });
    }
    log('dialled %s%s', address, options.curveServerKey ? ' (CURVE)' : '');
    return new ZeroMqConnection(socket, handshakes);
  }

  async startHeart(address: string, options: DialOptions): Promise<Heart> {
    const zeromq = createRequire(import.meta.url).resolve('zeromq');
    const curve = curveClientOptions(options.curveServerKey);
    const beat = new SharedArrayBuffer(8);
    const worker = new Worker(HEART_SOURCE, { eval: true, workerData: { address, identity: options.identity, zeromq, curve, beat } });
    return new ZeroMqHeart(worker, beat);
  }

  newCurveKeyPair(): CurveKeyPair {
    return newCurveKeyPair();
  }
}
