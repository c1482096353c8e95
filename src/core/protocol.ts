/**
 * The wire protocol: Jupyter-style multipart messages, signed with HMAC-SHA256.
 *
 * A message on the wire is `[DELIMITER, signature, header, parent, metadata, content, ...buffers]` (routing
 * identities, when any, come before the delimiter and are handled by the transport). The signature is the hex
 * HMAC-SHA256 of the four JSON frames; buffers carry binary payloads and are not signed (as in Jupyter), so large
 * arrays cost no hashing. A message with a bad or replayed signature, or malformed frames, is dropped and counted.
 * @module
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/** The frame separating routing identities from the message. */
export const DELIMITER = Buffer.from('<IDS|MSG>');

/** The version of this protocol, written into every header. */
export const PROTOCOL_VERSION = '1.0';

/** A message header. Field names follow the Jupyter messaging spec. */
export interface MessageHeader {
  /** A unique id for this message. */
  msg_id: string;
  /** What the message is (`apply_request`, `connect_reply`, …). */
  msg_type: string;
  /** The sender's session id. */
  session: string;
  /** When it was made (ISO 8601). */
  date: string;
  /** The protocol version. */
  version: string;
}

/** A decoded message. */
export interface Message<Content = Record<string, unknown>> {
  /** The header. */
  header: MessageHeader;
  /** The header of the message this one answers, or `{}`. */
  parent: Partial<MessageHeader>;
  /** Routing and bookkeeping data (targets, engine id, timings). */
  metadata: Record<string, unknown>;
  /** The message's content. */
  content: Content;
  /** Binary payloads (serialized arguments and results). */
  buffers: Buffer[];
}

/** Counts of dropped messages, per reason. */
export interface DropCounts {
  /** Signature did not match the key. */
  badSignature: number;
  /** Signature seen before (a replay). */
  replayed: number;
  /** Frames missing or not JSON. */
  malformed: number;
  /** Validly signed, but a field of the wrong type or shape for its message type (see `src/wire/validate.ts`). */
  invalid: number;
}

/**
 * Signs, verifies and (de)frames messages for one peer. Keeps a bounded history of signatures it has accepted, to
 * drop replays.
 */
export class Session {
  /** This peer's session id, written into the header of every message it makes. */
  readonly id: string;
  /** Messages dropped so far, by reason. */
  readonly dropped: DropCounts = { badSignature: 0, replayed: 0, malformed: 0, invalid: 0 };
  readonly #key: Buffer;
  readonly #history = new Set<string>();
  readonly #historyLimit: number;

  /** @param key The shared HMAC key (the connection file's `key`). */
  constructor(key: string, options: { id?: string; historyLimit?: number } = {}) {
    this.#key = Buffer.from(key, 'utf8');
    this.id = options.id ?? randomUUID();
    this.#historyLimit = options.historyLimit ?? 1 << 16;
  }

  /** Make a message of type `msgType`. */
  message<C>(
    msgType: string,
    content: C,
    options: { parent?: Partial<MessageHeader>; metadata?: Record<string, unknown>; buffers?: Buffer[] } = {},
  ): Message<C> {
    return {
      header: { msg_id: randomUUID(), msg_type: msgType, session: this.id, date: new Date().toISOString(), version: PROTOCOL_VERSION },
      parent: options.parent ?? {},
      metadata: options.metadata ?? {},
      content,
      buffers: options.buffers ?? [],
    };
  }

  /** Frame and sign a message: `[DELIMITER, signature, header, parent, metadata, content, ...buffers]`. */
  encode(msg: Message<unknown>): Buffer[] {
    const parts = [
      Buffer.from(JSON.stringify(msg.header)),
      Buffer.from(JSON.stringify(msg.parent)),
      Buffer.from(JSON.stringify(msg.metadata)),
      Buffer.from(JSON.stringify(msg.content)),
    ];
    return [DELIMITER, Buffer.from(this.#sign(parts)), ...parts, ...msg.buffers];
  }

  /**
   * Verify and decode frames (starting at the delimiter). Returns `undefined`, and counts why, for a message with a
   * bad or replayed signature or malformed frames; never throws.
   */
  decode(frames: readonly Buffer[]): Message | undefined {
    const at = frames.findIndex((f) => f.length === DELIMITER.length && f.equals(DELIMITER));
    if (at < 0 || frames.length < at + 6) {
      this.dropped.malformed++;
      return undefined;
    }
    const signature = frames[at + 1]!;
    const parts = frames.slice(at + 2, at + 6);
    const expected = Buffer.from(this.#sign(parts));
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      this.dropped.badSignature++;
      return undefined;
    }
    const digest = signature.toString('latin1');
    if (this.#history.has(digest)) {
      this.dropped.replayed++;
      return undefined;
    }
    this.#remember(digest);
    try {
      const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString('utf8')));
      if (typeof header?.msg_type !== 'string' || typeof header?.msg_id !== 'string') throw new Error('no msg_type');
      return { header, parent, metadata, content, buffers: frames.slice(at + 6) as Buffer[] };
    } catch {
      this.dropped.malformed++;
      return undefined;
    }
  }

  /** Read just the header of a framed message without verifying it (for routing decisions after `decode`). */
  static peekHeader(frames: readonly Buffer[]): MessageHeader | undefined {
    const at = frames.findIndex((f) => f.length === DELIMITER.length && f.equals(DELIMITER));
    try {
      return JSON.parse(frames[at + 2]!.toString('utf8'));
    } catch {
      return undefined;
    }
  }

  #sign(parts: readonly Buffer[]): string {
    const hmac = createHmac('sha256', this.#key);
    for (const p of parts) hmac.update(p);
    return hmac.digest('hex');
  }

  #remember(digest: string): void {
    this.#history.add(digest);
    if (this.#history.size > this.#historyLimit) {
      // Drop the oldest tenth: Set iterates in insertion order.
      let drop = this.#historyLimit / 10;
      for (const old of this.#history) {
        this.#history.delete(old);
        if (--drop <= 0) break;
      }
    }
  }
}
