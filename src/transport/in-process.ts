/**
 * The in-process transport: every role in one Node.js process, with the same message semantics as ZeroMQ (whole
 * messages, in order per connection, frames copied, delivery on a later turn of the event loop, unknown peers
 * reported as unroutable). For tests and for embedding a cluster in one program.
 * @module
 */
import debug from 'debug';
import { randomUUID } from 'node:crypto';
import { TransportError } from '../core/errors.js';
import type { Connection, Heart, Listener, RoutedFrames, Transport } from '../core/transport.js';
import { echoHeart } from './echo-heart.js';

const log = debug('tsparallel:transport');

// One registry per process: listeners by address, and dialers waiting for a listener that is not there yet.
const listeners = new Map<string, InProcessListener>();
const waiting = new Map<string, ((l: InProcessListener) => void)[]>();

const copy = (frames: readonly Buffer[]): Buffer[] => frames.map((f) => Buffer.from(f));

class InProcessListener implements Listener {
  readonly peers = new Map<string, InProcessConnection>();
  #handler: (m: RoutedFrames) => void = () => {};
  #unroutable: (identity: Buffer) => void = () => {};
  #closed = false;
  constructor(readonly address: string) {}

  deliver(identity: string, frames: Buffer[]): void {
    if (this.#closed) return;
    try {
      this.#handler({ identity: Buffer.from(identity), frames });
    } catch (err) {
      log('a message handler on %s threw (message dropped): %s', this.address, (err as Error)?.stack ?? String(err));
    }
  }
  send(identity: Buffer, frames: readonly Buffer[]): void {
    if (this.#closed) return;
    const peer = this.peers.get(identity.toString());
    if (!peer) {
      setImmediate(() => this.#unroutable(identity));
      return;
    }
    const msg = copy(frames);
    setImmediate(() => peer.deliver(msg));
  }
  setMessageHandler(handler: (message: RoutedFrames) => void): void {
    this.#handler = handler;
  }
  setUnroutableHandler(handler: (identity: Buffer) => void): void {
    this.#unroutable = handler;
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    listeners.delete(this.address);
    for (const peer of this.peers.values()) peer.detach();
    this.peers.clear();
  }
}

class InProcessConnection implements Connection {
  #handler: (frames: Buffer[]) => void = () => {};
  #listener: InProcessListener | undefined;
  #pending: Buffer[][] = [];
  #closed = false;
  constructor(
    readonly address: string,
    readonly identity: string,
  ) {}

  attach(listener: InProcessListener): void {
    if (this.#closed) return;
    this.#listener = listener;
    listener.peers.set(this.identity, this);
    for (const msg of this.#pending.splice(0)) setImmediate(() => listener.deliver(this.identity, msg));
  }
  /** The listener closed: like ZeroMQ, keep queueing until another listener binds the address. */
  detach(): void {
    this.#listener = undefined;
    if (!this.#closed) waitFor(this.address, (l) => this.attach(l));
  }
  deliver(frames: Buffer[]): void {
    if (this.#closed) return;
    try {
      this.#handler(frames);
    } catch (err) {
      log('a message handler on a connection to %s threw (message dropped): %s', this.address, (err as Error)?.stack ?? String(err));
    }
  }
  send(frames: readonly Buffer[]): void {
    if (this.#closed) return;
    const msg = copy(frames);
    const listener = this.#listener;
    if (listener) setImmediate(() => listener.deliver(this.identity, msg));
    else this.#pending.push(msg);
  }
  setMessageHandler(handler: (frames: Buffer[]) => void): void {
    this.#handler = handler;
  }
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#listener?.peers.get(this.identity) === this) this.#listener.peers.delete(this.identity);
    this.#pending = [];
  }
}

function waitFor(address: string, attach: (l: InProcessListener) => void): void {
  const existing = listeners.get(address);
  if (existing) return attach(existing);
  const list = waiting.get(address) ?? [];
  list.push(attach);
  waiting.set(address, list);
}

/**
 * The in-process transport. `listen('inproc://name')` binds that name; any other address (such as the
 * controller's default `tcp://127.0.0.1:0`) gets a fresh unique `inproc://` name.
 */
export class InProcessTransport implements Transport {
  readonly name = 'in-process';

  async listen(address: string): Promise<Listener> {
    const name = address.startsWith('inproc://') && !address.includes('*') ? address : `inproc://${randomUUID()}`;
    if (listeners.has(name)) throw new TransportError(`cannot listen at ${name}: another listener in this process has it`);
    const listener = new InProcessListener(name);
    listeners.set(name, listener);
    for (const attach of waiting.get(name)?.splice(0) ?? []) attach(listener);
    waiting.delete(name);
    log('listening at %s', name);
    return listener;
  }

  async dial(address: string, options: { identity: string }): Promise<Connection> {
    const conn = new InProcessConnection(address, options.identity);
    waitFor(address, (l) => conn.attach(l));
    return conn;
  }

  async startHeart(address: string, options: { identity: string }): Promise<Heart> {
    return echoHeart(await this.dial(address, options));
  }
}
