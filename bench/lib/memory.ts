/**
 * Peak resident memory of this process over an interval, read from the kernel rather than sampled: writing `5` to
 * `/proc/self/clear_refs` resets the high-water mark `VmHWM`, which then records the true peak of `VmRSS` until read.
 * The Python peers measure their client the same way, so the ratios compare like with like.
 * @module
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`/proc/self/status has no ${field} line; the memory metric needs Linux`);
  return Number(match[1]);
}

/** V8's full garbage collection, with or without `--expose-gc` on the command line. */
function collectGarbage(): () => void {
  const exposed = (globalThis as { gc?: () => void }).gc;
  if (exposed) return exposed;
  setFlagsFromString('--expose-gc');
  // A fresh context created after the flag is set gets the `gc` global.
  return runInNewContext('gc') as () => void;
}

/**
 * Collect garbage until the resident set stops shrinking: three readings in a row, 100 ms apart, within 1 MiB, at most
 * `timeoutMs`. Large ArrayBuffers are released after the collection that finds them dead, partly on background
 * threads, and buffers received from ZeroMQ through a finalizer after that: on a loaded machine, later than the first
 * quiet 50 ms (a shorter wait reported a dropped 100 MB pull as still resident).
 */
async function settle(timeoutMs = 5_000): Promise<void> {
  const gc = collectGarbage();
  const deadline = Date.now() + timeoutMs;
  let last = statusKiB('VmRSS');
  let quiet = 0;
  while (quiet < 3 && Date.now() < deadline) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
    const now = statusKiB('VmRSS');
    quiet = Math.abs(now - last) < 1024 ? quiet + 1 : 0;
    last = now;
  }
}

/**
 * Collect and release earlier workloads' garbage before a start is timed (W6, W8; W1 runs first). Starting a local engine forks
 * this process, and a fork costs in proportion to the resident set: after W5 the driver still held ~400 MB of dead
 * buffers, and 16 engines took ~300 ms longer to start (1,342 against ~1,000 ms) than from a settled process.
 */
export async function releaseGarbage(): Promise<void> {
  await settle();
}

/** This process's resident set in bytes once garbage is collected and released (see {@link settle}). */
export async function settledRssBytes(): Promise<number> {
  await settle();
  return statusKiB('VmRSS') * 1024;
}

/**
 * Run `body` and return how far the resident set rose above its level at the start, in bytes (peak − start), and that
 * start level.
 * Earlier runs' garbage is collected and released first, so it neither inflates the start level nor, freed during
 * `body`, hides part of the peak.
 */
export async function measurePeakGrowth(body: () => Promise<void>): Promise<{ growth: number; startBytes: number }> {
  await settle();
  writeFileSync('/proc/self/clear_refs', '5');
  // Just after the reset the high-water mark is the current resident set: the start level.
  const startKiB = statusKiB('VmHWM');
  await body();
  return { growth: (statusKiB('VmHWM') - startKiB) * 1024, startBytes: startKiB * 1024 };
}
