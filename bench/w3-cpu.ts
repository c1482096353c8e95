/**
 * W3's CPU per task, by role: a cluster of 2 local engines, then `--maps` load-balanced maps of `--tasks` no-op tasks
 * (chunksize 1, as W3), each measured from `/proc` for the client (this process), the controller and each engine.
 * Prints one JSON object: the median per role over the maps, in microseconds of CPU per task, the part of the total
 * spent in the kernel (`system_us`: system calls, wake-ups), and the tasks/s.
 * CPU per task hardly moves when other work shares the machine, so it is the figure to compare two builds by
 * (e.g. `farm-bench --vs` on two worktrees, or this run on each in turn).
 *
 * ```sh
 * npm run -s build && node dist/bench/w3-cpu.js --maps 8 --tasks 10000
 * node dist/bench/w3-cpu.js --profile /tmp/w3-profiles   # CPU profiles of the maps only (controller, engines, client)
 * node dist/bench/w3-cpu.js --hwm 64                       # controller.hwm (default 16): how many tasks an engine holds
 * node dist/bench/w3-cpu.js --hwm-ms 0                     # controller.hwmMs (default 2): ms of quick tasks beyond it
 * node dist/bench/w3-cpu.js --engines 16 --warmup 20 --each # W6's shape: a fresh cluster, each map's figures printed
 * node dist/bench/w3-cpu.js --fn-bytes 1000                # the no-op's source padded to ~1,000 characters (a comment),
 *                                                          # as real task functions are: what each task's request carries
 * ```
 * @module
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { pathToFileURL } from 'node:url';
import { siblingModule } from './lib/paths.js';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createCluster, range } from '../src/index.js';
import { descendantsOf } from './lib/procs.js';
import { readFileSync } from 'node:fs';
import { median } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    maps: { type: 'string', default: '6' },
    tasks: { type: 'string', default: '10000' },
    engines: { type: 'string', default: '2' },
    profile: { type: 'string' },
    hwm: { type: 'string' },
    'hwm-ms': { type: 'string' },
    warmup: { type: 'string', default: '200' },
    each: { type: 'boolean', default: false },
    'fn-bytes': { type: 'string', default: '0' },
  },
});
const maps = Number(values.maps);
const tasks = Number(values.tasks);
const engines = Number(values.engines);
const fnBytes = Number(values['fn-bytes']);
/** The task: a no-op, its source padded with a comment of `--fn-bytes` characters. */
const noop = (fnBytes > 0 ? (0, eval)(`(_x) => { /* ${'x'.repeat(fnBytes)} */ return null; }`) : (_x: number) => null) as (x: number) => null;

/** User and system CPU of a process, in microseconds (clock ticks of 10 ms: use maps of several thousand tasks). */
function cpuMicros(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) * 1e4, system: Number(rest[12]) * 1e4 };
}

if (values.profile) {
  // The cluster's processes load the bench's profile preload, which profiles between two SIGUSR2 (the maps only).
  await mkdir(values.profile, { recursive: true });
  const preload = pathToFileURL(siblingModule(import.meta.url, './lib/profile-preload')).href;
  process.env.NODE_OPTIONS = [process.env.NODE_OPTIONS, `--import=${preload}`].filter(Boolean).join(' ');
  process.env.TSPARALLEL_PROFILE_DIR = values.profile;
  process.env.TSPARALLEL_PROFILE_WINDOW = '1';
}
const profileDir = await mkdtemp(path.join(tmpdir(), 'tsp-w3cpu-'));
const controller = {
  ...(values.hwm !== undefined && { hwm: Number(values.hwm) }),
  ...(values['hwm-ms'] !== undefined && { hwmMs: Number(values['hwm-ms']) }),
};
const cluster = await createCluster({ n: engines, profileDir, projectDir: null, controller });
try {
  const client = await cluster.connect();
  await client.waitForEngines(engines);
  const lview = client.loadBalancedView();
  await lview.map(noop, range(Number(values.warmup)), { chunksize: 1 });
  const procs = descendantsOf(process.pid).filter((p) => /tscontroller|tsengine|controller\/main|engine\/main/.test(p.command));
  const roles = procs.map((p) => ({ pid: p.pid, role: /controller/.test(p.command) ? 'controller' : 'engine' }));
  const inspector = values.profile ? new Session() : undefined;
  if (inspector) {
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 100 });
    await inspector.post('Profiler.start');
    for (const r of roles) process.kill(r.pid, 'SIGUSR2');
  }
  const samples: Record<string, number[]> = { client_us: [], controller_us: [], engines_us: [], total_us: [], system_us: [], tasks_per_s: [] };
  for (let m = 0; m < maps; m++) {
    const before = roles.map((r) => cpuMicros(r.pid));
    const self = process.cpuUsage();
    const t0 = performance.now();
    await lview.map(noop, range(tasks), { chunksize: 1 });
    const seconds = (performance.now() - t0) / 1000;
    const selfUsed = process.cpuUsage(self);
    const after = roles.map((r) => cpuMicros(r.pid));
    const clientUs = (selfUsed.user + selfUsed.system) / tasks;
    let controllerUs = 0;
    let engineUs = 0;
    let systemUs = (selfUsed.system) / tasks;
    roles.forEach((r, i) => {
      const used = (after[i]!.user + after[i]!.system - before[i]!.user - before[i]!.system) / tasks;
      systemUs += (after[i]!.system - before[i]!.system) / tasks;
      if (r.role === 'controller') controllerUs += used;
      else engineUs += used;
    });
    samples.system_us!.push(systemUs);
    samples.client_us!.push(clientUs);
    samples.controller_us!.push(controllerUs);
    samples.engines_us!.push(engineUs);
    samples.total_us!.push(clientUs + controllerUs + engineUs);
    samples.tasks_per_s!.push(tasks / seconds);
    if (values.each) console.log(JSON.stringify(Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(v.at(-1)! * 10) / 10]))));
  }
  if (inspector) {
    for (const r of roles) process.kill(r.pid, 'SIGUSR2');
    const { profile } = await inspector.post('Profiler.stop');
    await writeFile(path.join(values.profile!, `client-${process.pid}.cpuprofile`), JSON.stringify(profile));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const out: Record<string, unknown> = { maps, tasks, engines, load: Number(load), processes: roles.length + 1 };
  for (const [k, v] of Object.entries(samples)) out[k] = Math.round(median(v) * 10) / 10;
  console.log(JSON.stringify(out));
} finally {
  await cluster.stop();
  await rm(profileDir, { recursive: true, force: true });
}
