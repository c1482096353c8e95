/**
 * Result checks: every workload verifies what came back (outside the timed region), so a fast wrong answer is a
 * failure, not a record. The smoke test also feeds these wrong results to prove they can fail.
 * @module
 */
import { TsParallelError } from '../../src/core/errors.js';

/** A workload returned a wrong result (or a system misbehaved in a way the bench detected). */
export class BenchError extends TsParallelError {}

/** W2/W3: every result of a no-op must be `null` or `undefined`, and there must be `count` of them. */
export function checkNoops(results: readonly unknown[], count: number, what: string): void {
  if (results.length !== count) {
    throw new BenchError(`${what}: expected ${count} results, got ${results.length}; the system lost or added tasks`);
  }
  const bad = results.findIndex((r) => r !== null && r !== undefined);
  if (bad >= 0) throw new BenchError(`${what}: result ${bad} of a no-op is ${String(results[bad])}, expected null`);
}

/** W4: `results[i]` must equal `i ** 10` for every i < length (exactly: both sides are the same float64 operation). */
export function checkPow10(results: ArrayLike<number>, length: number): void {
  if (results.length !== length) {
    throw new BenchError(`W4: map over range(${length}) returned ${results.length} results; expected ${length}`);
  }
  for (let i = 0; i < length; i++) {
    if (results[i] !== i ** 10) {
      throw new BenchError(`W4: result ${i} is ${results[i]}, expected ${i ** 10} (${i} ** 10); wrong order or value`);
    }
  }
}

/** A deterministic payload: `data[i] = i * 0.5 + seed`, so any misplaced or lost element is detectable. */
export function makePayload(length: number, seed = 0): Float64Array {
  const data = new Float64Array(length);
  for (let i = 0; i < length; i++) data[i] = i * 0.5 + seed;
  return data;
}

/** W5: `actual` must hold exactly the elements of `expected`, in order. */
export function checkSameArray(actual: ArrayLike<number>, expected: Float64Array, what: string): void {
  if (actual.length !== expected.length) {
    throw new BenchError(`${what}: got ${actual.length} elements, expected ${expected.length}`);
  }
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      throw new BenchError(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}
