/**
 * `KeptReplies`: the replies an engine sent, kept a while in case they were lost on the way.
 * @module
 */
import type { Message } from '../wire/protocol.js';
import { Fifo } from '../util/fifo.js';

/** The bounds of a {@link KeptReplies}. */
export interface KeptRepliesLimits {
  /** How many replies at the most. */
  replies: number;
  /** How many bytes at the most: of buffers, and characters of captured output. */
  bytes: number;
  /** How long one is kept at the most, in ms (default: no limit). */
  ms?: number;
}

/**
 * Replies by request id, oldest first, within a count, a byte bound (the buffers' bytes and the captured output's
 * characters, what can be large in a reply) and an age: adding one past either bound drops the oldest until both hold
 * again (a reply larger than the byte bound alone is not kept at all), and one older than the age goes by itself.
 * What an engine sent can be lost when its connection drops and comes back (ZeroMQ reconnects by itself and says
 * nothing of what was on the way): the engine sends a kept reply again when asked.
 */
export class KeptReplies<V extends { reply: Message<unknown> }> {
  readonly #byId = new Map<string, { value: V; at: number }>();
  /** The ids, oldest first (a Map looked at from its front after each add walks past its holes: see Fifo). */
  readonly #order = new Fifo<string>((id) => this.#byId.has(id));
  #bytes = 0;
  #expiry?: NodeJS.Timeout;

  constructor(private readonly limits: KeptRepliesLimits) {}

  /** How many replies are kept. */
  get size(): number {
    return this.#byId.size;
  }

  /** Keep `value` under `id` (replacing what was kept under it), then drop the oldest past the bounds. */
  keep(id: string, value: V): void {
    const before = this.#byId.get(id);
    if (before) this.#bytes -= bytesOf(before.value);
    else this.#order.push(id);
    this.#byId.set(id, { value, at: Date.now() });
    this.#bytes += bytesOf(value);
    while (this.#byId.size > this.limits.replies || this.#bytes > this.limits.bytes) this.#dropOldest();
    this.#expireLater();
  }

  /** What is kept under `id`, if anything. */
  get(id: string): V | undefined {
    return this.#byId.get(id)?.value;
  }

  /** The ids kept, oldest first. */
  ids(): string[] {
    return this.#order.values();
  }

  /** What is kept, oldest first. */
  values(): V[] {
    return this.#order.values().map((id) => this.#byId.get(id)!.value);
  }

  /** Forget everything (and stop the expiry timer). */
  clear(): void {
    clearTimeout(this.#expiry);
    this.#expiry = undefined;
    while (this.#byId.size) this.#dropOldest();
  }

  #dropOldest(): void {
    const oldest = this.#order.shift()!;
    this.#bytes -= bytesOf(this.#byId.get(oldest)!.value);
    this.#byId.delete(oldest);
  }

  /** With an age limit: drop what is too old when the oldest expires (one timer at a time, never keeping a process up). */
  #expireLater(): void {
    const { ms } = this.limits;
    if (ms === undefined || this.#expiry) return;
    const oldest = this.#order.oldest();
    if (oldest === undefined) return;
    this.#expiry = setTimeout(() => {
      this.#expiry = undefined;
      const now = Date.now();
      for (let id = this.#order.oldest(); id !== undefined && now - this.#byId.get(id)!.at >= ms; id = this.#order.oldest()) this.#dropOldest();
      this.#expireLater();
    }, Math.max(0, this.#byId.get(oldest)!.at + ms - Date.now()));
    this.#expiry.unref();
  }
}

/** What a kept reply holds that can be large: its buffers, and the output its task printed. */
function bytesOf(value: { reply: Message<unknown> }): number {
  const { stdout, stderr } = (value.reply.content ?? {}) as { stdout?: unknown; stderr?: unknown };
  const output = (typeof stdout === 'string' ? stdout.length : 0) + (typeof stderr === 'string' ? stderr.length : 0);
  return value.reply.buffers.reduce((n, b) => n + b.length, output);
}
