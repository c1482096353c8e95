/**
 * Order statistics for benchmark samples: median and percentiles by the nearest-rank method on a sorted copy.
 * @module
 */

/** The summary of one metric over the runs: what the table and the JSON lines print. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/**
 * The `p`-th percentile (0 < p ≤ 100) of `values` by nearest rank: the smallest value with at least p % of the
 * values at or below it. For the median of an even count this takes the mean of the two middle values instead.
 * @throws RangeError when `values` is empty or p is outside (0, 100].
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of no values: measure at least one run');
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is outside (0, 100]`);
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[rank - 1]!;
}

/** The median of `values` (mean of the two middle values when the count is even). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values: measure at least one run');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median, min, max and count of `values`. */
export function summarize(values: readonly number[]): Summary {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length };
}
