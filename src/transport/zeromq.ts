/**
 * The ZeroMQ transport (zeromq@6): the controller listens on ROUTER sockets, engines and clients dial with DEALER
 * sockets, over tcp (or ipc). The default transport.
 * @module
 */
import debug from 'debug';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { Dealer, Router } from 'zeromq';
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
 * tell the main thread a ping arrived. Plain CommonJS source, so the worker needs no TypeScript loader: run from
 * source (tsx) or compiled, it is the same code.
 */
const HEART_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { Dealer } = require(workerData.zeromq);
const socket = new Dealer({ routingId: workerData.identity, linger: 0, ...workerData.curve });
socket.connect(workerData.address);
let closed = false;
parentPort.on('message', (msg) => {
  if (msg === 'close') { closed = true; socket.close(); parentPort.close(); }
});
(async () => {
  try {
    for await (const frames of socket) { await socket.send(frames); parentPort.postMessage('ping'); }
  } catch (err) { if (!closed) throw err; }
})();
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
  #handler: (() => void) | undefined;
  #closed = false;
  readonly #exited: Promise<void>;
  constructor(private readonly worker: Worker) {
    worker.on('message', () => this.#handler?.());
    worker.on('error', (err) => log('heart worker failed: %s', err.message));
    this.#exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    // The heart must not keep the engine alive on its own.
    worker.unref();
  }
  setPingHandler(handler: () => void): void {
    this.#handler = handler;
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

/** The ZeroMQ transport. Addresses are ZeroMQ endpoints: `tcp://127.0.0.1:0` binds any free port. */
export class ZeroMqTransport implements Transport {
  readonly name = 'zeromq';

  async listen(address: string, options: ListenOptions = {}): Promise<Listener> {
    const socket = new Router({
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
    const worker = new Worker(HEART_SOURCE, { eval: true, workerData: { address, identity: options.identity, zeromq, curve } });
    return new ZeroMqHeart(worker);
  }

  newCurveKeyPair(): CurveKeyPair {
    return newCurveKeyPair();
  }
}
