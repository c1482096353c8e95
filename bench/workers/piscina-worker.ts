/**
 * The tasks a piscina worker thread runs for the bench: a no-op, an identity probe (to see every worker answer), and
 * the seed's `x => x ** 10` over a chunk.
 * @module
 */
import { threadId } from 'node:worker_threads';

/** W2/W3: does nothing and returns null, like the no-op run on every other system. */
export function noop(): null {
  return null;
}

/** W1/W6 readiness: which worker answered. */
export function whoami(): number {
  return threadId;
}

/** W4: the seed's map over one chunk. */
export function pow10(xs: readonly number[]): number[] {
  return xs.map((x) => x ** 10);
}
