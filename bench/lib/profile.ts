/**
 * `npm run bench -- --profile [W3]`: run one workload on tsparallel only, with V8 CPU profiles of every process
 * involved: the client (this process, through the inspector), the controller and the engines (through
 * `NODE_OPTIONS=--import=profile-preload.js`, which the cluster's processes inherit). The profiles are written into a
 * fresh directory, named by role (`client.cpuprofile`, `controller-<pid>.cpuprofile`, `engine-<pid>.cpuprofile`), and the
 * top functions by self time of each are printed. Open them in Chrome DevTools (Performance › Load profile) or
 * speedscope.
 * @module
 */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { siblingModule } from './paths.js';

/** One node of a `.cpuprofile` (V8's format). */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** A `.cpuprofile` file's content, as much of it as is read here. */
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
}

/** A profiling run in progress: the directory, and how to finish it. */
export interface ProfileRun {
  /** Where the profiles go. */
  readonly dir: string;
  /** Stop the client's profiler, name every profile by role, and return a summary (lines to print). */
  finish(): Promise<string[]>;
}

/**
 * The sampling interval for profiling `workload`, in µs. Each profiled process has a sampler thread that wakes once
 * per interval, and they all share the machine's cores: 100 µs is fine enough for per-task costs of tens of
 * microseconds with the few processes of most workloads, but W8's twelve processes at that rate kept two cores busy
 * waking samplers, and its engines missed their 30 s registration limit.
 */
export function profileIntervalUs(workload: string): number {
  return workload === 'W8' ? 2000 : 100;
}

/**
 * Start profiling: a fresh directory, `NODE_OPTIONS` set so every Node process started from now on writes a CPU
 * profile there when it exits (sampled every `intervalUs`, see {@link profileIntervalUs}), and the inspector's
 * profiler on this process.
 */
export async function startProfiling(intervalUs = 100): Promise<ProfileRun> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tsparallel-profile-'));
  const previous = process.env.NODE_OPTIONS;
  const preload = pathToFileURL(siblingModule(import.meta.url, './profile-preload')).href;
  process.env.NODE_OPTIONS = [previous, `--import=${preload}`].filter(Boolean).join(' ');
  process.env.TSPARALLEL_PROFILE_DIR = dir;
  process.env.TSPARALLEL_PROFILE_INTERVAL_US = String(intervalUs);
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return {
    dir,
    async finish() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      if (previous === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = previous;
      delete process.env.TSPARALLEL_PROFILE_DIR;
      delete process.env.TSPARALLEL_PROFILE_INTERVAL_US;
      await writeFile(path.join(dir, 'client.cpuprofile'), JSON.stringify(profile));
      return summarizeProfiles(dir);
    },
  };
}

/** The `top` functions of `profile` by self time, as `  12.3 %  name (file:line)` lines. */
export function topSelfTime(profile: CpuProfile, top = 12): string[] {
  const total = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  if (total === 0) return ['  (no samples)'];
  const byFunction = new Map<string, number>();
  for (const node of profile.nodes) {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url ? ` (${url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1})` : '';
    const key = `${functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + (node.hitCount ?? 0));
  }
  return [...byFunction.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, hits]) => `  ${((100 * hits) / total).toFixed(1).padStart(5)} %  ${name}`);
}

/** Summarize each profile in `dir` (duration, top self time). */
async function summarizeProfiles(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const file of (await readdir(dir)).sort()) {
    if (!file.endsWith('.cpuprofile')) continue;
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
    const seconds = (profile.endTime - profile.startTime) / 1e6;
    lines.push(`${file} (${seconds.toFixed(1)} s profiled), top self time:`, ...topSelfTime(profile));
  }
  return lines;
}
