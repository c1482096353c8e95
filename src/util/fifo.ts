/**
 * `Fifo`: items oldest first, taken from the front, that may also leave out of order.
 * @module
 */

/**
 * Items in the order they came, looked at and taken from the oldest, where an item may also leave from anywhere (its
 * owner says so, and `isIn` then answers false for it): its slot is passed over when it reaches the front, or goes
 * at a compaction. Every operation is O(1), amortised.
 *
 * Why not a `Set` (insertion-ordered too): V8 leaves a hole for each entry deleted, until the table is rebuilt, and
 * an iterator started at the front walks past every hole. A Set used as a queue (add at the back, delete at the
 * front, look at the front after each add) then costs O(holes) per look: in the controller's task book, 26 µs per
 * task at 100,000 tasks, where it had cost 5.
 */
export class Fifo<T> {
  #items: T[] = [];
  #head = 0;
  #size = 0;

  /** @param isIn whether an item pushed is still in (false once its owner has taken it out). */
  constructor(private readonly isIn: (item: T) => boolean) {}

  /** How many items are in. */
  get size(): number {
    return this.#size;
  }

  /** The slots held, those of items gone included (what compaction bounds). @internal */
  get slots(): number {
    return this.#items.length - this.#head;
  }

  /** Add an item at the back. */
  push(item: T): void {
    this.#items.push(item);
    this.#size++;
  }

  /** The oldest item still in, or `undefined`. */
  oldest(): T | undefined {
    const items = this.#items;
    while (this.#head < items.length) {
      const item = items[this.#head]!;
      if (this.isIn(item)) return item;
      // Already counted out by left().
      items[this.#head++] = undefined as T;
    }
    return undefined;
  }

  /** Take the oldest item out and return it; its owner must make `isIn` false for it. */
  shift(): T | undefined {
    const item = this.oldest();
    if (item === undefined) return undefined;
    this.#items[this.#head++] = undefined as T;
    this.#size--;
    this.#compactIfSparse();
    return item;
  }

  /** An item left from wherever it was (`isIn` is false for it now). */
  left(): void {
    this.#size--;
    this.#compactIfSparse();
  }

  /** The items still in, oldest first (a copy: the caller may take them out meanwhile). */
  values(): T[] {
    return this.#items.slice(this.#head).filter((item) => this.isIn(item));
  }

  /** Drop the slots of items gone once they are most of the array. */
  #compactIfSparse(): void {
    const used = this.#items.length - this.#head;
    if (used < 1024 || used < 2 * this.#size) return;
    this.#items = this.values();
    this.#head = 0;
  }
}
