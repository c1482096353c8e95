/**
 * `range()`, as in Python: the numbers a parallel map is most often run over.
 * @module
 */
import { TsParallelError } from '../core/errors.js';

/**
 * The integers from `start` (inclusive) to `stop` (exclusive) by `step`; `range(n)` is `0 … n-1`.
 * @example `range(15)` → `[0, 1, …, 14]`; `range(2, 10, 3)` → `[2, 5, 8]`
 */
export function range(startOrStop: number, stop?: number, step = 1): number[] {
  const [start, end] = stop === undefined ? [0, startOrStop] : [startOrStop, stop];
  if (!Number.isFinite(start) || !Number.isFinite(end) || !Number.isFinite(step) || step === 0) {
    throw new TsParallelError(`range(${startOrStop}, ${stop}, ${step}): bounds must be finite numbers and step non-zero`);
  }
  const out: number[] = [];
  for (let i = start; step > 0 ? i < end : i > end; i += step) out.push(i);
  return out;
}
