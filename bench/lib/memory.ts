/**
 * Peak resident memory of this process over an interval, read from the kernel rather than sampled: writing `5` to
 * `/proc/self/clear_refs` resets the high-water mark `VmHWM`, which then records the true peak of `VmRSS` until read.
 * The Python peers measure their client the same way, so the ratios compare like with like.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';

function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`/proc/self/status has no ${field} line; the memory metric needs Linux`);
  return Number(match[1]);
}

/**
 * Run `body` and return how far the resident set rose above its level at the start, in bytes (peak − start).
 * Collects garbage first when node runs with `--expose-gc`, so earlier runs' garbage does not hide in the start level.
 */
export async function measurePeakGrowth(body: () => Promise<void>): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const startKiB = statusKiB('VmRSS');
  writeFileSync('/proc/self/clear_refs', '5');
  await body();
  return (statusKiB('VmHWM') - startKiB) * 1024;
}
