/**
 * Several tasks per signed message. When many load-balanced tasks wait at one hop (a client's `map`, a controller's
 * scheduling pass, an engine that finished several), they travel as one message that is signed, verified and parsed
 * once, instead of one message each:
 *
 * - `batch_request` (client → controller, controller → engine) holds task requests. Its content is
 *   `{ contents, metadata, tasks }`: `tasks[i]` is `{ id, type, content, metadata, buffers }`, where `id` and `type`
 *   are the task's own message id and request type, `content` and `metadata` index the tables `contents` and
 *   `metadata` (the tasks of one map share one function and one set of flags, sent once), and `buffers` lists the
 *   byte lengths of the task's buffers.
 * - `batch_reply` (engine → controller, controller → client) holds replies: `{ replies }`, with `replies[i]` =
 *   `{ parent, type, content, metadata, buffers }`: the id of the request it answers, the reply type, its content
 *   and metadata as a single reply has them, and the byte lengths of its buffers. A `batch_reply` with
 *   `status: 'error'` and no replies answers a `batch_request` so malformed that its tasks could not be read.
 *
 * Buffers of fewer than {@link PACKED_BUFFER_BYTES} bytes (the serialized arguments and results of small tasks) are
 * packed into the message's first buffer; larger ones follow as buffers of their own, uncopied. Each task or reply
 * is unpacked into a {@link Message} of its own, so the roles handle it as if it had come alone: task records,
 * retries, time limits, aborts, the journal and the statistics stay per task. The signature, the replay checks and
 * the channel are the batch message's, checked once.
 * @module
 */
import type { Message, MessageHeader } from './protocol.js';
import { OUT_OF_BAND_BYTES } from './serialize.js';

/** The message type of several task requests in one message. */
export const BATCH_REQUEST = 'batch_request';

/** The message type of several replies in one message. */
export const BATCH_REPLY = 'batch_reply';

/** Buffers smaller than this travel packed into a batch's first buffer; larger ones as buffers of their own. */
export const PACKED_BUFFER_BYTES = OUT_OF_BAND_BYTES;

/** At most this many tasks or replies in one batch message. */
export const MAX_BATCH_TASKS = 1024;

/** A batch is closed once its buffers hold this many bytes (a large task then travels alone, or nearly). */
export const MAX_BATCH_BYTES = 1 << 20;

/** One task of a `batch_request`, as on the wire. */
export interface BatchTask {
  /** The task's id (the msg_id it would have as a message of its own). */
  id: string;
  /** Its request type (`apply_request`, `map_request`, …). */
  type: string;
  /** Its content: an index into the batch's `contents`. */
  content: number;
  /** Its metadata (flags): an index into the batch's `metadata`. */
  metadata: number;
  /** The byte lengths of its buffers. */
  buffers: number[];
}

/** The content of a `batch_request`. */
export interface BatchRequestContent {
  /** The distinct contents of the tasks (e.g. `{ fn }`), each sent once. */
  contents: Record<string, unknown>[];
  /** The distinct metadata of the tasks (their flags), each sent once. */
  metadata: Record<string, unknown>[];
  /** The tasks, in order. */
  tasks: BatchTask[];
}

/** One reply of a `batch_reply`, as on the wire. */
export interface BatchReplyEntry {
  /** The id of the request it answers. */
  parent: string;
  /** The reply type (`apply_reply`, …). */
  type: string;
  /** Its content (`status`, `stdout`, `stderr`, `error`). */
  content: Record<string, unknown>;
  /** Its metadata (engine id, timings, retry). */
  metadata: Record<string, unknown>;
  /** The byte lengths of its buffers. */
  buffers: number[];
}

/** The content of a `batch_reply`. */
export interface BatchReplyContent {
  /** The replies. */
  replies: BatchReplyEntry[];
  /**
   * How long the engine ran these tasks, in ms by its own clock (an engine's batches only): the controller's measure
   * of how quick its tasks are (`controller.hwmMs`). An engine's reply that travels alone says the same in its
   * `metadata.ranMs`.
   */
  ranMs?: number;
}

/** Pack lists of buffers: the small ones concatenated into the first buffer, the large ones after it. */
function packBuffers(lists: readonly (readonly Buffer[])[]): { lengths: number[][]; buffers: Buffer[] } {
  const small: Buffer[] = [];
  const buffers: Buffer[] = [Buffer.alloc(0)];
  const lengths = lists.map((list) =>
    list.map((b) => {
      if (b.length < PACKED_BUFFER_BYTES) small.push(b);
      else buffers.push(b);
      return b.length;
    }),
  );
  if (small.length) buffers[0] = small.length === 1 ? small[0]! : Buffer.concat(small);
  return { lengths, buffers };
}

/**
 * The buffers of each entry, cut from a batch's buffers by their lengths (views, not copies), or a sentence saying
 * why they do not add up.
 */
function unpackBuffers(lengths: readonly (readonly number[])[], buffers: readonly Buffer[]): Buffer[][] | string {
  const pack = buffers[0];
  if (!pack) return 'a batch has no packed buffer';
  let offset = 0;
  let next = 1;
  const out: Buffer[][] = [];
  for (const list of lengths) {
    const own: Buffer[] = [];
    for (const n of list) {
      if (n < PACKED_BUFFER_BYTES) {
        if (offset + n > pack.length) return `the buffer lengths add up to more than the ${pack.length} packed bytes`;
        own.push(pack.subarray(offset, offset + n));
        offset += n;
      } else {
        const b = buffers[next++];
        if (!b || b.length !== n) return `buffer ${next - 1} is missing or not ${n} bytes long`;
        own.push(b);
      }
    }
    out.push(own);
  }
  if (offset !== pack.length || next !== buffers.length) return 'the batch holds more buffer bytes than its entries list';
  return out;
}

/** Index objects by identity, so the tasks of one map share one table entry. */
function tableOf(): { table: Record<string, unknown>[]; indexOf(o: Record<string, unknown>): number } {
  const table: Record<string, unknown>[] = [];
  const index = new Map<object, number>();
  return {
    table,
    indexOf(o) {
      let i = index.get(o);
      if (i === undefined) {
        i = table.push(o) - 1;
        index.set(o, i);
      }
      return i;
    },
  };
}

/** The content and buffers of a `batch_request` holding `tasks` (messages as they would travel alone). */
export function packRequests(tasks: readonly Pick<Message, 'header' | 'metadata' | 'content' | 'buffers'>[]): { content: BatchRequestContent; buffers: Buffer[] } {
  const contents = tableOf();
  const metadata = tableOf();
  const { lengths, buffers } = packBuffers(tasks.map((t) => t.buffers));
  const entries: BatchTask[] = tasks.map((t, i) => ({
    id: t.header.msg_id,
    type: t.header.msg_type,
    content: contents.indexOf(t.content),
    metadata: metadata.indexOf(t.metadata),
    buffers: lengths[i]!,
  }));
  return { content: { contents: contents.table, metadata: metadata.table, tasks: entries }, buffers };
}

/**
 * The tasks of a `batch_request` already checked by `checkBatchRequest` (`src/wire/validate.ts`), each as a message
 * of its own: its header is the batch's with the task's id and type, so its date and channel are the batch's.
 * Tasks of one map share their content and metadata objects.
 */
export function unpackRequests(batch: Message): Message[] {
  const c = batch.content as unknown as BatchRequestContent;
  const buffers = unpackBuffers(c.tasks.map((t) => t.buffers), batch.buffers) as Buffer[][];
  return c.tasks.map((t, i) => ({
    header: { ...batch.header, msg_id: t.id, msg_type: t.type },
    parent: {},
    metadata: c.metadata[t.metadata]!,
    content: c.contents[t.content]!,
    buffers: buffers[i]!,
  }));
}

/**
 * The content and buffers of a `batch_reply` holding `replies` (messages as they would travel alone); `ranMs`, from an
 * engine, is how long it ran their tasks ({@link BatchReplyContent.ranMs}).
 */
export function packReplies(replies: readonly Pick<Message<unknown>, 'header' | 'parent' | 'metadata' | 'content' | 'buffers'>[], ranMs?: number): { content: BatchReplyContent; buffers: Buffer[] } {
  const { lengths, buffers } = packBuffers(replies.map((r) => r.buffers));
  const content: BatchReplyContent = {
    replies: replies.map((r, i) => ({
      parent: r.parent.msg_id as string,
      type: r.header.msg_type,
      content: r.content as Record<string, unknown>,
      metadata: r.metadata,
      buffers: lengths[i]!,
    })),
  };
  if (ranMs !== undefined) content.ranMs = ranMs;
  return { content, buffers };
}

/**
 * The replies of a `batch_reply` already checked (`checkBatchReply` in `src/wire/validate.ts`), each as a message
 * of its own: the batch's header with the reply's type, and a parent header holding the id of the request it answers.
 */
export function unpackReplies(batch: Message): Message[] {
  const c = batch.content as unknown as BatchReplyContent;
  const buffers = unpackBuffers(c.replies.map((r) => r.buffers), batch.buffers) as Buffer[][];
  return c.replies.map((r, i) => ({
    header: { ...batch.header, msg_type: r.type },
    parent: { msg_id: r.parent },
    metadata: r.metadata,
    content: r.content,
    buffers: buffers[i]!,
  }));
}

/**
 * Whether the entries' buffer lengths match a batch's buffers: undefined when they do, else why not. For the
 * checks of `src/wire/validate.ts`, which have made sure every `buffers` is an array of byte counts.
 */
export function checkBatchBuffers(lengths: readonly (readonly number[])[], buffers: readonly Buffer[]): string | undefined {
  const out = unpackBuffers(lengths, buffers);
  return typeof out === 'string' ? out : undefined;
}

/**
 * The ids and types of the tasks of a `batch_request` that failed its checks, as far as they can be read: so that
 * each can still be answered with an error rather than wait for ever.
 */
export function readableTasks(batch: Message): Pick<MessageHeader, 'msg_id' | 'msg_type'>[] {
  const tasks = (batch.content as { tasks?: unknown } | null)?.tasks;
  if (!Array.isArray(tasks)) return [];
  const out: Pick<MessageHeader, 'msg_id' | 'msg_type'>[] = [];
  for (const t of tasks) {
    const { id, type } = (t ?? {}) as { id?: unknown; type?: unknown };
    if (typeof id === 'string' && typeof type === 'string' && type.endsWith('_request') && type !== BATCH_REQUEST) out.push({ msg_id: id, msg_type: type });
  }
  return out;
}
