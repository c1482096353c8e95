/**
 * The `lsf` launcher against the LSF simulator (src/testing/lsf-sim.ts, real processes; LSF cannot run here): a job
 * killed with `bkill` by someone else (its owner from a shell, or an administrator), whose processes catch the signal
 * and exit 0, is reported `cancelled` (not `failed`), while a job that ends by itself reads finished or failed, and
 * `stop()` still cancels and reports once.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { container } from 'tsyringe';
import type { ExitInfo, LauncherContext, WatchedJob } from '../../../src/core/launcher.js';
import type { ScriptBatchLauncher } from '../../../src/launchers/batch/script-launcher.js';
import { lsfLauncher, lsfLauncherOptions } from '../../../src/launchers/lsf/launcher.js';
import { startBatchSim, type BatchSim } from '../../support/batch-sims.js';
import { waitUntil } from '../../support/cluster.js';
import { survivors } from '../../support/hpc-sim.js';

/**
 * A task that runs until killed and writes its pid to `<dir>/ready-<index>` once its SIGTERM handler is in place. It
 * behaves as a role that stops cleanly on a cancel: it catches SIGTERM and exits 0, so that its exit alone would not
 * say it was killed.
 */
function task(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const code = `process.on('SIGTERM', () => process.exit(0)); const fs = require('fs'), f = require('path').join(${JSON.stringify(dir)}, 'ready-' + process.env.LSB_JOBINDEX); fs.writeFileSync(f + '.tmp', String(process.pid)); fs.renameSync(f + '.tmp', f); setInterval(() => {}, 1000);`;
  return [process.execPath, '-e', code];
}

/** A task that exits by itself at once with `code`. */
function exiting(code: number): string[] {
  return [process.execPath, '-e', `process.exit(${code})`];
}

describe('lsf launcher through the simulator', () => {
  let sim: BatchSim;
  const savedPath = process.env.PATH;
  let count = 0;
  before(async () => {
    sim = await startBatchSim('lsf', { TSPARALLEL_SIM_GRACE_MS: '2000' });
    // The launcher runs bsub, bjobs and bkill by name, as on a login node.
    process.env.PATH = sim.env.PATH;
  });
  after(async () => {
    process.env.PATH = savedPath;
    assert.deepEqual(await sim.remove(), [], 'the simulator left processes behind');
  });

  /** A started launcher for `role` (n processes), with what it reported. */
  async function launch(role: 'controller' | 'engines', n: number, program: string[]) {
    const dir = path.join(sim.workDir, `run-${++count}`);
    const context: LauncherContext = { role, n, clusterId: `c${count}`, profileDir: dir, program, args: [], env: {}, container: container.createChildContainer() };
    const options = lsfLauncherOptions.parse({ queue: 'normal', pollIntervalMs: 100, stopTimeoutMs: 15_000 });
    const launcher = lsfLauncher.create(context, options) as ScriptBatchLauncher;
    const exits: ExitInfo[] = [];
    const changes: WatchedJob[] = [];
    launcher.onExit((info) => exits.push(info));
    launcher.onJobChange((job) => changes.push(job));
    await launcher.start();
    return { launcher, exits, changes, jobId: launcher.jobIds[0]! };
  }

  /** Wait until every element of a job wrote its ready file (its SIGTERM handler is in place); their pids. */
  async function ready(dir: string, indices: number[]): Promise<number[]> {
    const files = indices.map((i) => path.join(dir, `ready-${i}`));
    await waitUntil(() => files.every((f) => existsSync(f)), 20_000, 'every task to start');
    return files.map((f) => Number(readFileSync(f, 'utf8')));
  }

  for (const [who, env] of [
    ['its owner', {}],
    ['an administrator', { LSF_SIM_USER: 'lsfadmin' }],
  ] as const) {
    test(`an engine array killed with bkill by ${who} (its tasks exit 0 on SIGTERM) is reported cancelled`, async () => {
      const dir = path.join(sim.workDir, `tasks-${count + 1}`);
      const { launcher, exits, changes, jobId } = await launch('engines', 3, task(dir));
      try {
        const pids = await ready(dir, [1, 2, 3]);
        const r = await sim.run('bkill', [jobId], { env });
        assert.equal(r.status, 0, r.stderr);
        await waitUntil(() => exits.length > 0, 20_000, 'the launcher to report the end');
        assert.equal(exits.length, 1);
        assert.equal(exits[0]!.id, jobId);
        assert.equal(launcher.watchedJobs[0]!.state, 'cancelled', `last seen: ${JSON.stringify(launcher.watchedJobs[0])}`);
        assert.equal(launcher.watchedJobs[0]!.rawState, 'EXIT');
        assert.ok(!changes.some((c) => c.state === 'finished' || c.state === 'failed'), changes.map((c) => c.state).join(','));
        assert.equal(launcher.state, 'stopped');
        assert.deepEqual(await survivors(pids, 10_000), []);
        // The tasks did exit 0: only LSF's record of the kill says they were cancelled.
        const tasks = sim.jobs().find((j) => String(j.id) === jobId)!.tasks;
        assert.ok(tasks.every((t) => t.exitCode === 0), JSON.stringify(tasks.map((t) => [t.exitCode, t.signal])));
      } finally {
        await launcher.stop();
      }
    });
  }

  test('a job that ends by itself reads finished with exit 0 and failed with another code', async () => {
    for (const [code, state] of [[0, 'finished'], [4, 'failed']] as const) {
      const { launcher, exits } = await launch('controller', 1, exiting(code));
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
    const dir = path.join(sim.workDir, `tasks-${count + 1}`);
    const { launcher, exits, jobId } = await launch('engines', 2, task(dir));
    const pids = await ready(dir, [1, 2]);
    await launcher.stop();
    assert.equal(launcher.state, 'stopped');
    assert.equal(exits.length, 1);
    assert.equal(exits[0]!.id, jobId);
    assert.equal(exits[0]!.code, null);
    assert.equal(launcher.watchedJobs[0]!.state, 'cancelled');
    assert.equal(sim.jobs().find((j) => String(j.id) === jobId)!.state, 'cancelled');
    assert.deepEqual(await survivors(pids, 10_000), []);
    await launcher.stop(); // twice is harmless
    assert.equal(exits.length, 1);
  });
});
