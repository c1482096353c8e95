/**
 * Test helper for the PBS, LSF and HTCondor simulators (src/testing/*-sim.ts): a temporary state directory and a
 * bin directory of wrapper scripts named like the real tools (`qsub`, `qstat`, `qdel`; `bsub`, `bjobs`, `bkill`;
 * `condor_submit`, `condor_q`, `condor_history`, `condor_rm`), to put first on PATH.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SimJob } from '../../src/testing/batch-sim-core.js';
import { isAlive, tempDir } from './cluster.js';
import { killAll, survivors } from './hpc-sim.js';

/** The simulated schedulers. */
export type SimKind = 'pbs' | 'lsf' | 'htcondor';

const TOOLS: Record<SimKind, string[]> = {
  pbs: ['qsub', 'qstat', 'qdel'],
  lsf: ['bsub', 'bjobs', 'bkill'],
  htcondor: ['condor_submit', 'condor_q', 'condor_history', 'condor_rm'],
};

/** What a simulator command printed and how it exited. */
export interface SimRun {
  /** The exit code. */
  status: number | null;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** A simulated scheduler for one test: its tools on PATH, its state directory, and cleanup. */
export interface BatchSim {
  /** The directory holding the wrapper scripts. */
  binDir: string;
  /** The simulator's state directory (TSPARALLEL_SIM_DIR). */
  simDir: string;
  /** A scratch directory for scripts and output files. */
  workDir: string;
  /** The environment to run the tools with (PATH starts with `binDir`). */
  env: NodeJS.ProcessEnv;
  /** Run a tool by name with `args` (and `input` on stdin), as a user would from a shell. */
  run(tool: string, args: readonly string[], options?: { input?: string; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<SimRun>;
  /** Every job in the store. */
  jobs(): SimJob[];
  /** Every pid the simulator started (runners and tasks), or only those of the job with id `jobId`. */
  pids(jobId?: number): number[];
  /** Hold queued jobs in the queue (a full cluster) until {@link BatchSim.resume}. */
  pause(): void;
  /** Let queued jobs start. */
  resume(): void;
  /**
   * Wait (up to 5 s) for every process the simulator started to end, kill the ones still running, and remove the
   * directories; resolves the pids that had to be killed (a test asserts it is empty).
   */
  remove(): Promise<number[]>;
}

/** Whether tests run from TypeScript sources (tsx) rather than compiled JavaScript. */
const fromSource = import.meta.url.endsWith('.ts');

/** The argument vector that runs simulator `kind`. */
export function simCommand(kind: SimKind): string[] {
  const script = fileURLToPath(new URL(`../../src/testing/${kind}-sim.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return fromSource ? [process.execPath, '--import', import.meta.resolve('tsx'), script] : [process.execPath, script];
}

function sq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Set up simulator `kind` in a fresh directory; `env` adds settings such as `PBS_SIM_FLAVOR`. */
export async function startBatchSim(kind: SimKind, env: Record<string, string> = {}): Promise<BatchSim> {
  const tmp = await tempDir(`tsparallel-${kind}-sim-`);
  const binDir = path.join(tmp.dir, 'bin');
  const simDir = path.join(tmp.dir, 'state');
  const workDir = path.join(tmp.dir, 'work');
  for (const d of [binDir, simDir, workDir]) mkdirSync(d, { recursive: true });
  const argv = simCommand(kind);
  const settings = { TSPARALLEL_SIM_DIR: simDir, ...env };
  for (const tool of TOOLS[kind]) {
    const file = path.join(binDir, tool);
    const exports = Object.entries(settings).map(([k, v]) => `${k}="\${${k}:-${v.replace(/["\\$`]/g, '\\$&')}}"; export ${k}\n`).join('');
    writeFileSync(file, `#!/bin/sh\n${exports}exec ${argv.map(sq).join(' ')} ${tool} "$@"\n`);
    chmodSync(file, 0o755);
  }
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, ...settings, PATH: `${binDir}:${process.env.PATH ?? ''}` };
  const jobs = (): SimJob[] => {
    const dir = path.join(simDir, 'jobs');
    if (!existsSync(dir)) return [];
    return readdirSync(dir)
      .filter((d) => existsSync(path.join(dir, d, 'state.json')))
      .map((d) => JSON.parse(readFileSync(path.join(dir, d, 'state.json'), 'utf8')) as SimJob)
      .sort((a, b) => a.id - b.id);
  };
  const pids = (jobId?: number) => jobs().filter((j) => jobId === undefined || j.id === jobId).flatMap((j) => [...(j.runnerPid ? [j.runnerPid] : []), ...j.tasks.flatMap((t) => (t.pid ? [t.pid] : []))]);
  return {
    binDir,
    simDir,
    workDir,
    env: fullEnv,
    run: (tool, args, options = {}) =>
      new Promise((resolve, reject) => {
        const child = spawn(tool, args, { env: { ...fullEnv, ...options.env }, cwd: options.cwd ?? workDir, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.once('error', reject);
        child.once('close', (status) => resolve({ status, stdout, stderr }));
        child.stdin.end(options.input ?? '');
      }),
    jobs,
    pids,
    pause: () => writeFileSync(path.join(simDir, 'paused'), ''),
    resume: () => spawnSync('rm', ['-f', path.join(simDir, 'paused')]),
    remove: async () => {
      const started = pids(undefined);
      const left = await survivors(started, 5000);
      killAll(left);
      await survivors(left, 5000);
      await tmp.remove();
      return left;
    },
  };
}

export { isAlive };
