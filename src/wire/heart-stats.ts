/**
 * The resource sample an engine's heart puts after each heartbeat it answers: the CPU time its process has used, its
 * resident memory, and a monotonic clock, three float64s (little-endian) in one 24-byte frame. The controller turns
 * consecutive samples into the dashboard's CPU percentage and memory (see ControllerStats.onHeartbeat).
 *
 * Why on the heartbeat: engines used to send a signed `engine_stats` message every second besides answering the
 * controller's ping. At 1,000 engines that was 1,000 messages a second to verify and decode: 92 ms of the
 * controller's CPU per second and 262 ms of the engines' (ten `tsengine --count 100` processes, idle, on the 2-core
 * bench machine). The answer to the ping is sent anyway; one more frame costs a `process.cpuUsage()` and a read of
 * the resident size. The heart answers on the engine's main thread, so while a long synchronous task runs no sample
 * comes; the first one after it holds the task's CPU time (the figure is cumulative). Heartbeat frames are not signed (the ping is a bare frame): the
 * sample only feeds the dashboard, and CURVE protects it where the network is not trusted.
 *
 * test/transport/heart-stats reads what each kind of heart sends.
 * @module
 */

/** Bytes of a heart's resource sample frame. */
export const HEART_STATS_BYTES = 24;

/** One resource sample of an engine's process, as its heart took it. */
export interface HeartStats {
  /** CPU time the process has used since it started (user + system, all threads), in µs. */
  cpuMicros: number;
  /** Its resident memory, in bytes. */
  rssBytes: number;
  /** When the sample was taken, on the engine host's monotonic clock, in µs. */
  atMicros: number;
}

/** See {@link shareHeartSamples}. */
let shared: { ms: number; frame?: Buffer; at: number } | undefined;

/**
 * Let the hearts of this process answer with one sample for `ms` after it was taken (0: each answer takes its own).
 * For a process of many engines (`tsengine --count K`): the controller pings them all at once, so their K answers
 * would read the same figures K times (a `process.cpuUsage()` and a read of the resident size each).
 */
export function shareHeartSamples(ms: number): void {
  shared = ms > 0 ? { ms, at: -Infinity } : undefined;
}

/** This process's resource sample, as a frame to send after a heartbeat answer (see {@link shareHeartSamples}). */
export function heartStatsFrame(): Buffer {
  if (shared) {
    const now = performance.now();
    if (shared.frame && now - shared.at < shared.ms) return shared.frame;
    shared.at = now;
    return (shared.frame = takeSample());
  }
  return takeSample();
}

function takeSample(): Buffer {
  const frame = Buffer.allocUnsafe(HEART_STATS_BYTES);
  const cpu = process.cpuUsage();
  frame.writeDoubleLE(cpu.user + cpu.system, 0);
  frame.writeDoubleLE(process.memoryUsage.rss(), 8);
  frame.writeDoubleLE(Number(process.hrtime.bigint() / 1000n), 16);
  return frame;
}

/**
 * A sample read back from a heartbeat answer's last frame, or undefined when that frame is not one (a heart of a
 * transport that only echoes) or holds values no process has.
 */
export function readHeartStats(frame: Buffer | undefined): HeartStats | undefined {
  if (frame?.length !== HEART_STATS_BYTES) return undefined;
  const sample = { cpuMicros: frame.readDoubleLE(0), rssBytes: frame.readDoubleLE(8), atMicros: frame.readDoubleLE(16) };
  return Object.values(sample).every((v) => Number.isFinite(v) && v >= 0) ? sample : undefined;
}

/**
 * CPU use between two samples of one process, in percent of one core; undefined when they are not in order (a
 * clock that did not advance).
 */
export function cpuPercentBetween(earlier: HeartStats, later: HeartStats): number | undefined {
  const wall = later.atMicros - earlier.atMicros;
  if (wall <= 0) return undefined;
  return (100 * Math.max(0, later.cpuMicros - earlier.cpuMicros)) / wall;
}
