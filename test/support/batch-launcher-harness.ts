/**
 * What the launcher tests of the batch schedulers simulated here (PBS, LSF) share: tasks that report when they run,
 * a started launcher with what it reported, and the two lifecycle tests every such launcher must pass (a job that
 * ends by itself; `stop()` of a running one). Each test file adds its scheduler's own ways a job is cancelled.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { container } from 'tsyringe';
import type { ExitInfo, LauncherContext, WatchedJob } from '../../src/core/launcher.js';
import type { ScriptBatchLauncher } from '../../src/launchers/batch/script-launcher.js';
import { startBatchSim, type BatchSim, type SimKind } from './batch-sims.js';
import { waitUntil } from './cluster.js';
import { survivors } from './hpc-sim.js';

/**
 * A task that runs until cancelled and writes its pid to `<dir>/ready-<index>` once started, the index read from
 * the first of `indexVariables` that is set (else 0). With `trapTerm` it behaves as a role that stops cleanly on a
 * cancel: it catches SIGTERM and exits 0, so that its exit alone would not say it was cancelled; without, SIGTERM
 * kills it.
 */
export function readyTask(dir: string, indexVariables: readonly string[], trapTerm: boolean): string[] {
  mkdirSync(dir, { recursive: true });
  const trap = trapTerm ? `process.on('SIGTERM', () => process.exit(0)); ` : '';
  const index = indexVariables.map((v) => `process.env.${v}`).join(' || ');
  const code = `${trap}const fs = require('fs'), f = require('path').join(${JSON.stringify(dir)}, 'ready-' + (${index} || '0')); fs.writeFileSync(f + '.tmp', String(process.pid)); fs.renameSync(f + '.tmp', f); setInterval(() => {}, 1000);`;
  return [process.execPath, '-e', code];
}

/** A task that exits by itself at once with `code`. */
export function exitingTask(code: number): string[] {
  return [process.execPath, '-e', `process.exit(${code})`];
}

/** Wait until every element of a job wrote its ready file (see {@link readyTask}); their pids. */
export async function readyPids(dir: string, indices: number[]): Promise<number[]> {
  const files = indices.map((i) => path.join(dir, `ready-${i}`));
  await waitUntil(() => files.every((f) => existsSync(f)), 20_000, 'every task to start');
  return files.map((f) => Number(readFileSync(f, 'utf8')));
}

/**
 * A simulator of `kind` for the tests of the enclosing `describe`: started before them with its tools first on PATH
 * (launchers run them by name, as on a login node), removed after them (and checked to leave no process). Returns
 * a getter, valid once the tests run.
 */
export function useBatchSim(kind: SimKind, env: Record<string, string>): () => BatchSim {
  let sim: BatchSim | undefined;
  const savedPath = process.env.PATH;
  before(async () => {
    sim = await startBatchSim(kind, env);
    process.env.PATH = sim.env.PATH;
  });
  after(async () => {
    process.env.PATH = savedPath;
    assert.deepEqual(await sim!.remove(), [], 'the simulator left processes behind');
  });
  return () => sim!;
}

/** A started launcher, with what it reported. */
export interface LaunchedJob {
  launcher: ScriptBatchLauncher;
  exits: ExitInfo[];
  changes: WatchedJob[];
  jobId: string;
}

/**
 * A way to start launchers of one scheduler against `sim()`: `launch(role, n, program)` makes one with `create`
 * (its plugin and options), records its exits and job changes, and starts it.
 */
export function batchLauncherHarness(sim: () => BatchSim, create: (context: LauncherContext) => ScriptBatchLauncher) {
  let count = 0;
  return {
    /** A fresh directory under the simulator's work directory, for a job's ready files. */
    taskDir: () => path.join(sim().workDir, `tasks-${++count}`),
    async launch(role: 'controller' | 'engines', n: number, program: string[]): Promise<LaunchedJob> {
      const dir = path.join(sim().workDir, `run-${++count}`);
      const context: LauncherContext = { role, n, clusterId: `c${count}`, profileDir: dir, program, args: [], env: {}, container: container.createChildContainer() };
      const launcher = create(context);
      const exits: ExitInfo[] = [];
      const changes: WatchedJob[] = [];
      launcher.onExit((info) => exits.push(info));
      launcher.onJobChange((job) => changes.push(job));
      await launcher.start();
      return { launcher, exits, changes, jobId: launcher.jobIds[0]! };
    },
  };
}

/**
 * The two tests every simulated batch launcher shares: a job that ends by itself reads finished (exit 0) or failed
 * (another code); `stop()` cancels a running engine job (tasks from `task(dir)`, elements 1 and 2), waits for its
 * end, reports it once with no exit code, leaves no process, and is harmless twice. `simState(jobId)`: the
 * simulator's own state of the job.
 */
export function sharedLifecycleTests(
  harness: ReturnType<typeof batchLauncherHarness>,
  task: (dir: string) => string[],
  simState: (jobId: string) => string | undefined,
): void {
  test('a job that ends by itself reads finished with exit 0 and failed with another code', async () => {
    for (const [code, state] of [[0, 'finished'], [4, 'failed']] as const) {
      const { launcher, exits } = await harness.launch('controller', 1, exitingTask(code));
      try {
        await waitUntil(() => exits.length > 0, 20_000, 'the launcher to report the end');
        assert.equal(launcher.watchedJobs[0]!.state, state);
        assert.equal(exits[0]!.code, code);
      } finally {
        await launcher.stop();
      }
    }
  });

  test('stop() cancels a running job, waits for its end and reports it once', async () => {
    const dir = harness.taskDir();
    const { launcher, exits, jobId } = await harness.launch('engines', 2, task(dir));
    const pids = await readyPids(dir, [1, 2]);
    await launcher.stop();
    assert.equal(launcher.state, 'stopped');
    assert.equal(exits.length, 1);
    assert.equal(exits[0]!.id, jobId);
    assert.equal(exits[0]!.code, null);
    assert.equal(launcher.watchedJobs[0]!.state, 'cancelled');
    assert.equal(simState(jobId), 'cancelled');
    assert.deepEqual(await survivors(pids, 10_000), []);
    await launcher.stop(); // twice is harmless
    assert.equal(exits.length, 1);
  });
}
