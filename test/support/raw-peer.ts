/**
 * A raw ZeroMQ peer holding a cluster's key: it sends validly signed messages with any content (malformed ones
 * included), for robustness tests and the fuzzer.
 */
import { randomUUID } from 'node:crypto';
import { Dealer } from 'zeromq';
import { unpackBatch } from '../../src/transport/batch.js';
import { Channels, Session, type Message } from '../../src/wire/protocol.js';

/** What a peer may be sent: the controller's own messages, and engines' replies (forwarded or direct). */
const ALL_REPLY_CHANNELS = [Channels.controllerToClient, Channels.controllerToEngine, Channels.engineToCluster, ...Array.from({ length: 64 }, (_, i) => Channels.engineToClient(i))];

/** A raw peer: sends signed messages with any content, and collects what comes back. */
export class RawPeer {
  readonly socket: Dealer;
  readonly session: Session;
  readonly received: Message[] = [];
  /**
   * `channel` is the one the endpoint accepts ({@link Channels}): a client's peer sends `clientToCluster` (the
   * default), an engine's `engineToCluster`, a direct client `clientToEngine(id)`.
   */
  constructor(address: string, key: string, readonly channel: string = Channels.clientToCluster, identity = `raw-${randomUUID()}`) {
    this.session = new Session(key);
    this.socket = new Dealer({ routingId: identity, linger: 0 });
    this.socket.connect(address);
    void this.#listen();
  }
  async #listen(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        // Several messages may come as one multipart batch of the transport (src/transport/batch.ts).
        for (const one of unpackBatch(frames)) {
          const m = this.session.decode(one, ALL_REPLY_CHANNELS);
          if (m) this.received.push(m);
        }
      }
    } catch {
      /* closed */
    }
  }
  /**
   * Send a message whose parts are given raw (any JSON value, even null); `version` overrides the header's protocol
   * version, `msgId` its id (a request sent again under the same id).
   */
  async send(type: string, content: unknown, extra: { metadata?: unknown; parent?: unknown; buffers?: Buffer[]; version?: string; msgId?: string } = {}): Promise<string> {
    const msg = this.session.message(type, content) as unknown as Message;
    if (extra.version !== undefined) msg.header.version = extra.version;
    if (extra.msgId !== undefined) msg.header.msg_id = extra.msgId;
    (msg as { metadata: unknown }).metadata = 'metadata' in extra ? extra.metadata : {};
    (msg as { parent: unknown }).parent = 'parent' in extra ? extra.parent : {};
    msg.buffers = extra.buffers ?? [];
    await this.socket.send(this.session.encode(msg, this.channel));
    return msg.header.msg_id;
  }
  close(): void {
    this.socket.close();
  }
}

