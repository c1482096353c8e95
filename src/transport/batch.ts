/**
 * Batches on the wire: when several messages wait in a socket's send queue for the same peer, they go as one ZeroMQ
 * multipart message, `[BATCH_MARKER, counts, ...frames of message 1, ...frames of message 2, …]`, where `counts` holds
 * each message's frame count (uint32, little-endian). The receiver unpacks it and hands each message to its handler
 * as if it had come alone. Messages are not changed (each keeps its own signature), so this is framing only.
 *
 * When to batch is adaptive: a message pushed on an idle queue goes out at once while traffic is sporadic (e.g.
 * sequential calls: no added latency); once a drain finds several messages waiting (a deep queue, e.g. a load-balanced
 * map of many small tasks), the next drains (until 8 in a row found a single message) wait for the current
 * macrotask's work to end (`setImmediate`), so that the replies to a batch of requests, or the tasks of one
 * scheduling pass, leave together.
 * Measured on W3 (bench/RESULTS.md): about a quarter less CPU per task, most of it in the engines and the controller.
 * @module
 */

/** The first frame of a batch. No message of the protocol starts with it (they start with `<IDS|MSG>`). */
export const BATCH_MARKER = Buffer.from('<TSP|BATCH>');

/** At most this many messages in one batch. */
export const MAX_BATCH_MESSAGES = 256;

/** A batch is closed once it holds this many bytes, so a large message never waits behind many small ones. */
export const MAX_BATCH_BYTES = 1 << 20;

/** After a drain that found several messages, this many drains wait for messages to gather (see the module). */
const DEEP_DRAINS = 8;

/** Pack `messages` (each a list of frames) into one batch. */
export function packBatch(messages: readonly (readonly Buffer[])[]): Buffer[] {
  const counts = Buffer.allocUnsafe(4 * messages.length);
  const frames: Buffer[] = [BATCH_MARKER, counts];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    counts.writeUInt32LE(m.length, 4 * i);
    for (const f of m) frames.push(f);
  }
  return frames;
}

/**
 * The messages in `frames`: the one message itself when it is not a batch, the batch's messages when it is, or none
 * when it is a malformed batch (frame counts that do not add up to the frames there are).
 */
export function unpackBatch(frames: Buffer[]): Buffer[][] {
  const first = frames[0];
  if (first === undefined || first.length !== BATCH_MARKER.length || !first.equals(BATCH_MARKER)) return [frames];
  const counts = frames[1];
  if (!counts || counts.length === 0 || counts.length % 4 !== 0) return [];
  const messages: Buffer[][] = [];
  let at = 2;
  for (let i = 0; i < counts.length; i += 4) {
    const n = counts.readUInt32LE(i);
    if (n === 0 || at + n > frames.length) return [];
    messages.push(frames.slice(at, at + n));
    at += n;
  }
  return at === frames.length ? messages : [];
}

function sizeOf(frames: readonly Buffer[]): number {
  let n = 0;
  for (const f of frames) n += f.length;
  return n;
}

/**
 * A FIFO of outgoing messages drained one send at a time (zeromq.js allows one `send` in flight per socket, and
 * callers must never block), which sends the messages waiting for the same peer together as one batch. Order is kept
 * per peer; messages for different peers have no order between them (as on a ZeroMQ ROUTER socket).
 */
export class BatchingSendQueue {
  #items: Buffer[][] = [];
  #draining = false;
  /**
   * Drains left in which the queue counts as deep (the next drain waits for messages to gather): set when a drain
   * finds several messages, counted down by each drain that finds one, so that a steady flow stays batched.
   */
  #deep = 0;

  /**
   * @param send sends one multipart message; called again only after the previous call settled.
   * @param onError told about a message (for a batch: its first message) whose send failed.
   * @param routed whether the first frame of every item is the peer's routing identity (a ROUTER socket): it is then
   *   kept in front of the batch, and items are grouped by it.
   */
  constructor(
    private readonly send: (frames: Buffer[]) => Promise<void>,
    private readonly onError: (frames: readonly Buffer[], error: unknown) => void,
    private readonly routed: boolean,
  ) {}

  /** How many messages wait to be sent. */
  get length(): number {
    return this.#items.length;
  }

  /** Queue a message; starts draining if idle (at once, or after this macrotask when the queue has been deep). */
  push(frames: readonly Buffer[]): void {
    this.#items.push(frames as Buffer[]);
    if (this.#draining) return;
    this.#draining = true;
    if (this.#deep > 0) setImmediate(() => void this.#drain());
    else void this.#drain();
  }

  /**
   * Hand `frames` and every waiting message to `send` now, in order, without waiting for earlier sends to settle: for
   * a process's 'exit' event, where no promise settles and no `setImmediate` runs any more, so a queued message would
   * never leave. Only for sockets whose sends complete at once (ZeroMQ with no high-water mark); failures go to
   * `onError`.
   */
  sendNow(frames: readonly Buffer[]): void {
    const pending = [...this.#items, frames as Buffer[]];
    this.#items = [];
    for (const group of this.#groups(pending)) {
      try {
        this.send(group.frames).catch((error: unknown) => this.onError(group.first, error));
      } catch (error) {
        this.onError(group.first, error);
      }
    }
  }

  async #drain(): Promise<void> {
    try {
      let sent = 0;
      while (this.#items.length > 0) {
        const pending = this.#items;
        this.#items = [];
        sent += pending.length;
        for (const group of this.#groups(pending)) {
          try {
            await this.send(group.frames);
          } catch (error) {
            this.onError(group.first, error);
          }
        }
      }
      this.#deep = sent > 1 ? DEEP_DRAINS : Math.max(0, this.#deep - 1);
    } finally {
      this.#draining = false;
    }
  }

  /** The waiting messages as sends: alone, or batched with the others for the same peer, within the bounds. */
  *#groups(items: Buffer[][]): Generator<{ frames: Buffer[]; first: Buffer[] }> {
    if (items.length === 1) {
      yield { frames: items[0]!, first: items[0]! };
      return;
    }
    const byPeer = new Map<string, Buffer[][]>();
    for (const item of items) {
      const key = this.routed ? item[0]!.toString('latin1') : '';
      let list = byPeer.get(key);
      if (!list) byPeer.set(key, (list = []));
      list.push(item);
    }
    for (const list of byPeer.values()) {
      let start = 0;
      while (start < list.length) {
        let end = start;
        let bytes = 0;
        while (end < list.length && end - start < MAX_BATCH_MESSAGES && (end === start || bytes < MAX_BATCH_BYTES)) {
          bytes += sizeOf(list[end]!);
          end++;
        }
        const first = list[start]!;
        if (end - start === 1) yield { frames: first, first };
        else {
          const slice = list.slice(start, end);
          const batch = this.routed ? [first[0]!, ...packBatch(slice.map((m) => m.slice(1)))] : packBatch(slice);
          yield { frames: batch, first };
        }
        start = end;
      }
    }
  }
}
