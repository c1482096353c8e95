/**
 * What the two worker-pool peers share: splitting a range into one chunk per worker (as a direct view's map does),
 * and waiting until every worker has answered once (the pools' equivalent of "the client sees all engines ready").
 * @module
 */
import { BenchError } from './checks.js';

/** `[0, length)` split into `parts` contiguous chunks whose sizes differ by at most one. */
export function splitRange(length: number, parts: number): number[][] {
  const chunks: number[][] = [];
  for (let p = 0; p < parts; p++) {
    const start = Math.floor((p * length) / parts);
    const end = Math.floor(((p + 1) * length) / parts);
    chunks.push(Array.from({ length: end - start }, (_, i) => start + i));
  }
  return chunks;
}

/** Rounds of `workers` concurrent probes until `workers` distinct workers have answered. */
export async function waitForWorkers(workers: number, probe: () => Promise<number>, maxRounds = 10_000): Promise<void> {
  const seen = new Set<number>();
  for (let round = 0; round < maxRounds && seen.size < workers; round++) {
    for (const id of await Promise.all(Array.from({ length: workers }, probe))) seen.add(id);
  }
  if (seen.size < workers) {
    throw new BenchError(`only ${seen.size} of ${workers} pool workers answered after ${maxRounds} rounds of probes`);
  }
}
