/**
 * CPU time spent by a system during a timed region: this process (every thread: the client, and a thread pool's
 * workers) plus every process below it (controller, engines, pool or echo processes), from `/proc`. Divided by the
 * tasks, it is the cost of one task in CPU time, which other work on the machine does not change the way it changes
 * wall-clock throughput: on a shared 2-core machine, compare systems by `cpu_us_per_task` as well as by `tasks_per_s`.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { descendantsOf } from './procs.js';

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(out.stdout?.trim());
    ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
  }
  return ticksPerSecond;
}

/** User + system CPU of one process (all its threads), in microseconds, or undefined once it is gone. */
function processCpuMicros(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1e6) / clockTicks();
  } catch {
    return undefined;
  }
}

/** CPU times at one moment: this process, and each process below it (by pid and start time). */
export interface CpuSnapshot {
  self: number;
  children: Map<string, number>;
}

/** Take a snapshot of the CPU used so far by this process and the processes below it. */
export function cpuSnapshot(): CpuSnapshot {
  const children = new Map<string, number>();
  for (const p of descendantsOf(process.pid)) {
    const micros = processCpuMicros(p.pid);
    if (micros !== undefined) children.set(`${p.pid}:${p.startTime}`, micros);
  }
  // Read last: the walk over /proc above (every process of the machine) costs this process CPU that belongs to no
  // system; read first, the walk of the snapshot taken before a timed region would count in it.
  const usage = process.cpuUsage();
  return { self: usage.user + usage.system, children };
}

/** Microseconds of CPU used between `before` and `after` (a process started in between counts in full). */
export function cpuMicrosBetween(before: CpuSnapshot, after: CpuSnapshot): number {
  let total = after.self - before.self;
  for (const [key, micros] of after.children) total += micros - (before.children.get(key) ?? 0);
  return total;
}
