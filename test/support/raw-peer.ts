/**
 * A raw ZeroMQ peer holding a cluster's key: it sends validly signed messages with any content (malformed ones
 * included), for robustness tests and the fuzzer.
 */
import { randomUUID } from 'node:crypto';
import { Dealer } from 'zeromq';
import { Session, type Message } from '../../src/core/protocol.js';

/** A raw peer: sends signed messages with any content, and collects what comes back. */
export class RawPeer {
  readonly socket: Dealer;
  readonly session: Session;
  readonly received: Message[] = [];
  constructor(address: string, key: string, identity = `raw-${randomUUID()}`) {
    this.session = new Session(key);
    this.socket = new Dealer({ routingId: identity, linger: 0 });
    this.socket.connect(address);
    void this.#listen();
  }
  async #listen(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const m = this.session.decode(frames);
        if (m) this.received.push(m);
      }
    } catch {
      /* closed */
    }
  }
  /** Send a message whose parts are given raw (any JSON value, even null). */
  async send(type: string, content: unknown, extra: { metadata?: unknown; parent?: unknown; buffers?: Buffer[] } = {}): Promise<string> {
    const msg = this.session.message(type, content) as unknown as Message;
    (msg as { metadata: unknown }).metadata = 'metadata' in extra ? extra.metadata : {};
    (msg as { parent: unknown }).parent = 'parent' in extra ? extra.parent : {};
    msg.buffers = extra.buffers ?? [];
    await this.socket.send(this.session.encode(msg));
    return msg.header.msg_id;
  }
  close(): void {
    this.socket.close();
  }
}

