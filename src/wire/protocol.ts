/**
 * The wire protocol: Jupyter-style multipart messages, signed with HMAC-SHA256.
 *
 * A message on the wire is `[DELIMITER, signature, header, parent, metadata, content, ...buffers]` (routing
 * identities, when any, come before the delimiter and are handled by the transport). The signature is the hex
 * HMAC-SHA256 of every frame after it, the four JSON frames and the buffers, preceded by their lengths (so bytes
 * cannot be moved from one frame to the next). Unlike Jupyter, buffers are signed: they carry the arguments and
 * results.
 *
 * Buffers of {@link BULK_MAC_BYTES} or more in all enter the HMAC by a 16-byte Poly1305 tag instead of byte by byte:
 * the tag of ChaCha20-Poly1305 (RFC 8439) with the buffers as its associated data and nothing to encrypt, under a key
 * of this message's own, HMAC-SHA256(cluster key, "tsparallel bulk v1" + header frame), and a zero nonce. The header
 * names a fresh message id, the sender's session and the date, so no two messages share that key, and each
 * Poly1305 one-time key authenticates one message only, as RFC 8439 requires. Forging the buffers means forging
 * Poly1305 under an unknown key; the HMAC binds the tag to the rest of the message. Poly1305 runs at ~10 GB/s on
 * this machine's CPU against ~1.6 GB/s for HMAC-SHA256, which signed and verified at a third of the speed ZeroMQ
 * moves bulk data at (bench/RESULTS.md, "W5").
 *
 * Replay protection, checked after the signature:
 * - **Channel.** The header names the {@link Channels channel} the sender meant the message for, and a receiver
 *   accepts only its own channels: a request sent to an engine's direct endpoint names that engine and cannot be
 *   replayed to the controller, nor a controller's message to an engine replayed back to it. Binding the signature to
 *   its destination needs no state shared between processes on different hosts (a per-cluster history would).
 * - **Time window.** The header's `date` must lie within `replayWindowMs` of the receiver's clock (either way, so
 *   hosts' clocks may differ by up to the window).
 * - **History.** Within the window, every accepted signature is remembered, so a message is accepted once per
 *   receiver. The history is bounded: when it is full, the oldest-dated entries are forgotten (a second's worth at a
 *   time) and every message dated in or before that second is refused, so a replay is never accepted; at worst a
 *   message much older than the traffic around it is refused too.
 *
 * A dropped message is counted by reason ({@link DropCounts}).
 * @module
 */
import { createCipheriv, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/** The frame separating routing identities from the message. */
export const DELIMITER = Buffer.from('<IDS|MSG>');

/**
 * The version of this protocol, written into every header. Roles check it when they meet (an engine's registration,
 * a client's connect): a peer of another version is refused with a message naming both, since it may not know the
 * message types this one sends (1.1 added several tasks per message, `src/wire/task-batch.ts`; 1.2 signs large
 * buffers by their Poly1305 tag, see the module's description; 1.3 moved engines' CPU and memory figures from an
 * `engine_stats` message onto their heartbeat answers, `src/wire/heart-stats.ts`; 1.4 added `result_request`, a
 * client asking the controller again for tasks' replies, `Client.getResult`; 1.5 lets a client send it to an engine's
 * direct endpoint too, after its direct connection dropped and came back; 1.6 added `tasks_returned`, an engine
 * giving back queued calls of a function that turned slow, and `metadata.ranMs` on its replies that travel alone;
 * 1.7 added `maxMessageBytes` to the controller's `registration_reply`, the limit an engine keeps its messages within,
 * and `props` to the error of a reply, the own primitive properties of an error raised by user code: `code`, `errno`…).
 */
export const PROTOCOL_VERSION = '1.7';

/** From this many bytes of buffers in a message, they are signed by their Poly1305 tag (see the module's description). */
export const BULK_MAC_BYTES = 64 * 1024;

/** What the per-message key of the bulk tag is derived with (see the module's description). */
const BULK_KEY_LABEL = Buffer.from('tsparallel bulk v1');
const ZERO_NONCE = Buffer.alloc(12);

/**
 * Why a peer whose header says `version` cannot work with this process, or undefined when it speaks this protocol.
 * `peer` names it (`this engine`, `the controller`, …).
 */
export function versionMismatch(version: unknown, peer: string): string | undefined {
  if (version === PROTOCOL_VERSION) return undefined;
  return `${peer} speaks wire protocol ${typeof version === 'string' ? version : 'of an unknown version'}, this process ${PROTOCOL_VERSION}: ` +
    'run the same tsparallel version for the controller, the engines and the clients';
}

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
  /** The channel the sender meant it for (see {@link Channels}); set by {@link Session.encode}. */
  channel?: string;
}

/**
 * The channels a message may be meant for, named by who signed it and where it goes. The controller forwards
 * requests and replies unchanged, so a client's request keeps its channel on the way to the engine, and an engine's
 * reply on the way to the client.
 */
export const Channels = {
  /** A client's request to the controller (which may forward it to an engine unchanged). */
  clientToCluster: 'client>cluster',
  /** An engine's message to the controller (which may forward a reply to its client unchanged). */
  engineToCluster: 'engine>cluster',
  /** The controller's own message to an engine. */
  controllerToEngine: 'controller>engine',
  /** The controller's own message to a client. */
  controllerToClient: 'controller>client',
  /** A client's request to engine `id`'s direct endpoint. */
  clientToEngine: (id: number): string => `client>engine#${id}`,
  /** Engine `id`'s reply on its direct endpoint. */
  engineToClient: (id: number): string => `engine#${id}>client`,
} as const;

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
  /** Signature seen before (a replay within the time window). */
  replayed: number;
  /** Dated outside the time window (a late replay, or a clock too far off), or older than the history remembers. */
  expired: number;
  /** Meant for another channel (e.g. a request to an engine's direct endpoint replayed to the controller). */
  misrouted: number;
  /** Frames missing or not JSON. */
  malformed: number;
  /** Validly signed, but a field of the wrong type or shape for its message type (see `src/wire/validate.ts`). */
  invalid: number;
}

/** Options of a {@link Session}. */
export interface SessionOptions {
  /** The session id (default: a fresh UUID). */
  id?: string;
  /**
   * How many accepted signatures to remember at most (default 262144, about 30 MB when full). Entries older than the
   * window are forgotten anyway; the limit matters only above limit / window messages per second (870/s with the
   * defaults), where messages dated before the forgotten ones are refused.
   */
  historyLimit?: number;
  /** How far a message's `date` may be from this clock, in ms (default {@link DEFAULT_REPLAY_WINDOW_MS}). */
  replayWindowMs?: number;
}

/** The default replay window: five minutes, as Kerberos allows for clock skew between hosts. */
export const DEFAULT_REPLAY_WINDOW_MS = 300_000;

/**
 * Signs, verifies and (de)frames messages for one peer. Drops replays by channel, time window and a bounded history
 * of the signatures it has accepted (see the module's description).
 */
export class Session {
  /** This peer's session id, written into the header of every message it makes. */
  readonly id: string;
  /** Messages dropped so far, by reason. */
  readonly dropped: DropCounts = { badSignature: 0, replayed: 0, expired: 0, misrouted: 0, malformed: 0, invalid: 0 };
  /** How far a message's `date` may be from this clock, in ms. */
  readonly replayWindowMs: number;
  readonly #key: Buffer;
  /** Accepted signatures, for lookup. */
  readonly #history = new Set<string>();
  /** The same signatures by the second their message is dated in, so the oldest-dated are forgotten first. */
  readonly #bySecond = new Map<number, string[]>();
  /** The oldest second in {@link #bySecond}. */
  #oldestSecond = Infinity;
  readonly #historyLimit: number;
  /** Messages dated at or before this (ms) are refused: the history no longer covers them. */
  #floorMs = -Infinity;

  /** @param key The shared HMAC key (the connection file's `key`). */
  constructor(key: string, options: SessionOptions = {}) {
    this.#key = Buffer.from(key, 'utf8');
    this.id = options.id ?? randomUUID();
    this.#historyLimit = options.historyLimit ?? 1 << 18;
    this.replayWindowMs = options.replayWindowMs ?? DEFAULT_REPLAY_WINDOW_MS;
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

  /**
   * Frame and sign a message for `channel` (one of {@link Channels}):
   * `[DELIMITER, signature, header, parent, metadata, content, ...buffers]`.
   */
  encode(msg: Message<unknown>, channel: string): Buffer[] {
    const parts = [
      Buffer.from(JSON.stringify({ ...msg.header, channel })),
      Buffer.from(JSON.stringify(msg.parent)),
      Buffer.from(JSON.stringify(msg.metadata)),
      Buffer.from(JSON.stringify(msg.content)),
    ];
    return [DELIMITER, Buffer.from(this.#sign(parts, msg.buffers)), ...parts, ...msg.buffers];
  }

  /**
   * The signature of hand-made frames (`parts` = header, parent, metadata, content): for tools that frame messages
   * themselves, such as the test suite's fuzzer. The header must name its channel for a receiver to accept it.
   * @internal
   */
  signature(parts: readonly Buffer[], buffers: readonly Buffer[] = []): Buffer {
    return Buffer.from(this.#sign(parts, buffers));
  }

  /** Whether a message dated `date` (its header's ISO 8601 `date`) is inside the replay window now. */
  isFresh(date: string | undefined, marginMs = 0): boolean {
    const ms = Date.parse(date ?? '');
    return Number.isFinite(ms) && Math.abs(Date.now() - ms) <= this.replayWindowMs - marginMs;
  }

  /**
   * Verify and decode frames (starting at the delimiter), accepting only messages meant for one of `channels`.
   * Returns `undefined`, and counts why, for a message with a bad signature, a replay, one meant for another channel
   * or malformed frames; never throws.
   */
  decode(frames: readonly Buffer[], channels: readonly string[]): Message | undefined {
    const at = delimiterAt(frames);
    if (at < 0 || frames.length < at + 6) {
      this.dropped.malformed++;
      return undefined;
    }
    const signature = frames[at + 1]!;
    const parts = frames.slice(at + 2, at + 6);
    const buffers = frames.slice(at + 6) as Buffer[];
    const expected = Buffer.from(this.#sign(parts, buffers));
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
      this.dropped.badSignature++;
      return undefined;
    }
    const decoded = parseParts(parts, buffers);
    if (!decoded) {
      this.dropped.malformed++;
      return undefined;
    }
    if (!channels.includes(decoded.header.channel as string)) {
      this.dropped.misrouted++;
      return undefined;
    }
    const dateMs = Date.parse(decoded.header.date);
    if (!Number.isFinite(dateMs) || Math.abs(Date.now() - dateMs) > this.replayWindowMs || dateMs <= this.#floorMs) {
      this.dropped.expired++;
      return undefined;
    }
    const digest = signature.toString('latin1');
    if (this.#history.has(digest)) {
      this.dropped.replayed++;
      return undefined;
    }
    this.#remember(digest, dateMs);
    return decoded;
  }

  /**
   * Decode frames without verifying them: for frames a receiver kept after {@link decode} accepted them (the
   * controller's kept replies), read again later. `undefined` for malformed frames.
   */
  static parse(frames: readonly Buffer[]): Message | undefined {
    const at = delimiterAt(frames);
    if (at < 0 || frames.length < at + 6) return undefined;
    return parseParts(frames.slice(at + 2, at + 6), frames.slice(at + 6) as Buffer[]);
  }

  /** Read just the header of a framed message without verifying it (for routing decisions after `decode`). */
  static peekHeader(frames: readonly Buffer[]): MessageHeader | undefined {
    const at = delimiterAt(frames);
    try {
      return JSON.parse(frames[at + 2]!.toString('utf8'));
    } catch {
      return undefined;
    }
  }

  #sign(parts: readonly Buffer[], buffers: readonly Buffer[]): string {
    const hmac = createHmac('sha256', this.#key);
    // Every frame's length first, then the frames: bytes cannot move from one frame to the next, nor frames be added.
    const lengths = Buffer.allocUnsafe(4 * (parts.length + buffers.length));
    let at = 0;
    for (const p of parts) at = lengths.writeUInt32BE(p.length, at);
    for (const b of buffers) at = lengths.writeUInt32BE(b.length, at);
    hmac.update(lengths);
    for (const p of parts) hmac.update(p);
    let bulk = 0;
    for (const b of buffers) bulk += b.length;
    if (bulk < BULK_MAC_BYTES) for (const b of buffers) hmac.update(b);
    else hmac.update(this.#bulkTag(parts[0]!, buffers));
    return hmac.digest('hex');
  }

  /** The Poly1305 tag of `buffers`, under a key of this message's own, derived from its header frame. */
  #bulkTag(header: Buffer, buffers: readonly Buffer[]): Buffer {
    const key = createHmac('sha256', this.#key).update(BULK_KEY_LABEL).update(header).digest();
    const mac = createCipheriv('chacha20-poly1305', key, ZERO_NONCE, { authTagLength: 16 });
    for (const b of buffers) mac.setAAD(b, { plaintextLength: 0 });
    mac.final();
    return mac.getAuthTag();
  }

  #remember(digest: string, dateMs: number): void {
    const second = Math.floor(dateMs / 1000);
    this.#history.add(digest);
    const list = this.#bySecond.get(second);
    if (list) list.push(digest);
    else this.#bySecond.set(second, [digest]);
    if (second < this.#oldestSecond) this.#oldestSecond = second;
    // Forget whole seconds, oldest-dated first: those the window refuses anyway and, when the history is full, the
    // oldest ones, refusing from then on anything dated in or before them. Forgetting by date rather than by arrival
    // means that a message refused for the history's sake is older than nearly everything it still remembers.
    const expired = Math.floor((Date.now() - this.replayWindowMs) / 1000) - 1;
    while (this.#oldestSecond <= expired || this.#history.size > this.#historyLimit) {
      const oldest = this.#oldestSecond;
      if (oldest > expired) this.#floorMs = Math.max(this.#floorMs, (oldest + 1) * 1000 - 1);
      for (const old of this.#bySecond.get(oldest) ?? []) this.#history.delete(old);
      this.#bySecond.delete(oldest);
      this.#oldestSecond = Infinity;
      for (const s of this.#bySecond.keys()) if (s < this.#oldestSecond) this.#oldestSecond = s;
      if (this.#bySecond.size === 0) break;
    }
  }
}

/** A message from its four JSON parts and its buffers, or `undefined` when they are not a message. */
function parseParts(parts: readonly Buffer[], buffers: Buffer[]): Message | undefined {
  try {
    const [header, parent, metadata, content] = parts.map((p) => JSON.parse(p.toString('utf8')));
    if (typeof header?.msg_type !== 'string' || typeof header?.msg_id !== 'string') return undefined;
    return { header, parent, metadata, content, buffers };
  } catch {
    return undefined;
  }
}

/** Where the delimiter frame is among `frames` (routing identities come before it), or -1. */
function delimiterAt(frames: readonly Buffer[]): number {
  return frames.findIndex((f) => f.length === DELIMITER.length && f.equals(DELIMITER));
}
