/**
 * The `pbs` launcher against the PBS simulator (src/testing/pbs-sim.ts, real processes; PBS cannot run here): a job
 * deleted with `qdel` by someone else, queued or running, array or not, is reported `cancelled` (not `finished`),
 * while a job that ends by itself reads finished or failed, and `stop()` still cancels and reports once.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { container } from 'tsyringe';
import type { ExitInfo, LauncherContext, WatchedJob } from '../../../src/core/launcher.js';
import type { ScriptBatchLauncher } from '../../../src/launchers/batch/script-launcher.js';
import { pbsLauncher, pbsLauncherOptions } from '../../../src/launchers/pbs/launcher.js';
import { startBatchSim, type BatchSim } from '../../support/batch-sims.js';
import { waitUntil } from '../../support/cluster.js';
import { survivors } from '../../support/hpc-sim.js';

/**
 * A task that runs until cancelled and writes its pid to `<dir>/ready-<index>` once started. With `trapTerm` it
 * behaves as a role that stops cleanly on a cancel: it catches SIGTERM and exits 0, so that the exit status alone would say
 * "finished"; without, SIGTERM kills it.
 */
function task(dir: string, trapTerm: boolean): string[] {
  mkdirSync(dir, { recursive: true });
  const trap = trapTerm ? `process.on('SIGTERM', () => process.exit(0)); ` : '';
  const code = `${trap}const fs = require('fs'), f = require('path').join(${JSON.stringify(dir)}, 'ready-' + (process.env.PBS_ARRAY_INDEX || process.env.PBS_ARRAYID || '0')); fs.writeFileSync(f + '.tmp', String(process.pid)); fs.renameSync(f + '.tmp', f); setInterval(() => {}, 1000);`;
  return [process.execPath, '-e', code];
}

/** A task that exits by itself at once with `code`. */
function exiting(code: number): string[] {
  return [process.execPath, '-e', `process.exit(${code})`];
}

for (const flavor of ['pbspro', 'torque'] as const) {
  describe(`pbs launcher through the simulator (${flavor})`, () => {
    let sim: BatchSim;
    const savedPath = process.env.PATH;
    let count = 0;
    // PBS Pro marks a deleted job in its history (substate 91) whatever its exit status, so there the tasks exit 0
    // on SIGTERM (tsengine and tscontroller stop cleanly on it). Torque shows ordinary users no such mark: only an
    // exit status of 256 + SIGTERM says a job was deleted, so there SIGTERM kills the tasks (a Torque job that
    // exits 0 on qdel reads finished).
    const trapTerm = flavor === 'pbspro';
    before(async () => {
      sim = await startBatchSim('pbs', { PBS_SIM_FLAVOR: flavor, TSPARALLEL_SIM_GRACE_MS: '2000' });
      // The launcher runs qsub, qstat and qdel by name, as on a login node.
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
      const options = pbsLauncherOptions.parse({ flavor, queue: flavor === 'torque' ? 'batch' : 'workq', pollIntervalMs: 100, stopTimeoutMs: 15_000 });
      const launcher = pbsLauncher.create(context, options) as ScriptBatchLauncher;
      const exits: ExitInfo[] = [];
      const changes: WatchedJob[] = [];
      launcher.onExit((info) => exits.push(info));
      launcher.onJobChange((job) => changes.push(job));
      await launcher.start();
      return { launcher, exits, changes, dir, jobId: launcher.jobIds[0]! };
    }

    /** Wait until every element of a job wrote its ready file (its SIGTERM handler is in place); their pids. */
    async function ready(dir: string, indices: number[]): Promise<number[]> {
      const files = indices.map((i) => path.join(dir, `ready-${i}`));
      await waitUntil(() => files.every((f) => existsSync(f)), 20_000, 'every task to start');
      return files.map((f) => Number(readFileSync(f, 'utf8')));
    }

    test(`an engine array deleted with qdel while running (its tasks ${trapTerm ? 'exit 0 on' : 'killed by'} SIGTERM) is reported cancelled`, async () => {
      const dir = path.join(sim.workDir, `tasks-${count + 1}`);
      const { launcher, exits, changes, jobId } = await launch('engines', 3, task(dir, trapTerm));
      try {
        const pids = await ready(dir, [1, 2, 3]);
        const r = await sim.run('qdel', [jobId]);
        assert.equal(r.status, 0, r.stderr);
        await waitUntil(() => exits.length > 0, 20_000, 'the launcher to report the end');
        assert.equal(exits.length, 1);
        assert.equal(exits[0]!.id, jobId);
        assert.equal(launcher.watchedJobs[0]!.state, 'cancelled', `last seen: ${JSON.stringify(launcher.watchedJobs[0])}`);
        assert.ok(!changes.some((c) => c.state === 'finished' || c.state === 'failed'), changes.map((c) => c.state).join(','));
        assert.equal(launcher.state, 'stopped');
        assert.deepEqual(await survivors(pids, 10_000), []);
        const tasks = sim.jobs().find((j) => jobId.startsWith(`${j.id}[`))!.tasks;
        // With the trap the tasks did exit 0: only the scheduler's record says they were deleted.
        assert.ok(tasks.every((t) => (trapTerm ? t.exitCode === 0 : t.signal === 'SIGTERM')), JSON.stringify(tasks.map((t) => [t.exitCode, t.signal])));
      } finally {
        await launcher.stop();
      }
    });

    test('a controller job deleted with qdel while queued is reported cancelled', async () => {
      sim.pause();
      const never = path.join(sim.workDir, 'never');
      const { launcher, exits, jobId } = await launch('controller', 1, task(never, true));
      try {
        await waitUntil(() => launcher.watchedJobs[0]?.rawState === 'Q', 10_000, 'the job to be seen queued');
        const r = await sim.run('qdel', [jobId]);
        assert.equal(r.status, 0, r.stderr);
        await waitUntil(() => exits.length > 0, 20_000, 'the launcher to report the end');
        assert.equal(launcher.watchedJobs[0]!.state, 'cancelled', `last seen: ${JSON.stringify(launcher.watchedJobs[0])}`);
        assert.ok(!existsSync(path.join(never, 'ready-0')), 'the job never ran');
      } finally {
        sim.resume();
        await launcher.stop();
      }
    });

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
      const { launcher, exits, jobId } = await launch('engines', 2, task(dir, trapTerm));
      const pids = await ready(dir, [1, 2]);
      await launcher.stop();
      assert.equal(launcher.state, 'stopped');
      assert.equal(exits.length, 1);
      assert.equal(exits[0]!.id, jobId);
      assert.equal(launcher.watchedJobs[0]!.state, 'cancelled');
      assert.equal(sim.jobs().find((j) => jobId.startsWith(`${j.id}[`))!.state, 'cancelled');
      assert.deepEqual(await survivors(pids, 10_000), []);
      await launcher.stop(); // twice is harmless
      assert.equal(exits.length, 1);
    });
  });
}
