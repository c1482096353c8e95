/**
 * Splitting sequences across engines and joining the pieces back, for `map`, `scatter` and `gather`.
 * @module
 */

/** An array or typed array: what `scatter` and `map` split. */
export type Sequence<T = unknown> = readonly T[] | ArrayLike<T>;

/** Split `seq` into `k` contiguous pieces whose lengths differ by at most one (the first pieces get the extra). */
export function partition<T>(seq: Sequence<T>, k: number): Sequence<T>[] {
  const n = seq.length;
  const out: Sequence<T>[] = [];
  let start = 0;
  for (let i = 0; i < k; i++) {
    const size = Math.floor(n / k) + (i < n % k ? 1 : 0);
    out.push(slice(seq, start, start + size));
    start += size;
  }
  return out;
}

function slice<T>(seq: Sequence<T>, start: number, end: number): Sequence<T> {
  // subarray shares memory: the piece is serialized straight from the caller's typed array.
  if (ArrayBuffer.isView(seq)) return (seq as unknown as Uint8Array).subarray(start, end) as unknown as Sequence<T>;
  if (Array.isArray(seq)) return seq.slice(start, end);
  return Array.prototype.slice.call(seq, start, end) as T[];
}

/** Join pieces back: typed arrays of one type into one typed array, anything else into one array. */
export function concatenate(pieces: readonly unknown[]): unknown {
  const first = pieces[0];
  if (ArrayBuffer.isView(first) && !(first instanceof DataView) && pieces.every((p) => p?.constructor === first.constructor)) {
    const views = pieces as Uint8Array[];
    const total = views.reduce((s, v) => s + v.length, 0);
    const out = new (first.constructor as Uint8ArrayConstructor)(total);
    let at = 0;
    for (const v of views) {
      out.set(v, at);
      at += v.length;
    }
    return out;
  }
  return pieces.flatMap((p) => (Array.isArray(p) ? p : ArrayBuffer.isView(p) ? Array.from(p as unknown as ArrayLike<unknown>) : [p]));
}
