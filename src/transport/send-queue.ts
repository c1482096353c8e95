/**
 * A FIFO of outgoing messages drained one send at a time: zeromq.js allows only one `send` in flight per socket,
 * and callers must never block on a send.
 * @module
 */

/** A sender that may reject (busy peer, unroutable identity). */
export type SendFn<T> = (item: T) => Promise<void>;

/** Queue of items handed to `send` strictly in order, one at a time. */
export class SendQueue<T> {
  #items: T[] = [];
  #head = 0;
  #draining = false;

  /**
   * @param send sends one item; called again only after the previous call settled.
   * @param onError told about an item whose send failed; the queue goes on with the next.
   */
  constructor(
    private readonly send: SendFn<T>,
    private readonly onError: (item: T, error: unknown) => void,
  ) {}

  /** How many items wait to be sent. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Queue an item; starts draining if idle. */
  push(item: T): void {
    this.#items.push(item);
    if (!this.#draining) void this.#drain();
  }

  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      while (this.#head < this.#items.length) {
        const item = this.#items[this.#head]!;
        this.#items[this.#head++] = undefined as T;
        if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        try {
          await this.send(item);
        } catch (error) {
          this.onError(item, error);
        }
      }
      this.#items = [];
      this.#head = 0;
    } finally {
      this.#draining = false;
    }
  }
}
