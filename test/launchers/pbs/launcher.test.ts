/**
 * The `pbs` launcher against the PBS simulator (src/testing/pbs-sim.ts, real processes; PBS cannot run here): a job
 * deleted with `qdel` by someone else, queued or running, array or not, is reported `cancelled` (not `finished`),
 * while a job that ends by itself reads finished or failed, and `stop()` still cancels and reports once.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { ScriptBatchLauncher } from '../../../src/launchers/batch/script-launcher.js';
import { pbsLauncher, pbsLauncherOptions } from '../../../src/launchers/pbs/launcher.js';
import { batchLauncherHarness, readyPids, readyTask, sharedLifecycleTests, useBatchSim } from '../../support/batch-launcher-harness.js';
import { waitUntil } from '../../support/cluster.js';
import { survivors } from '../../support/hpc-sim.js';

for (const flavor of ['pbspro', 'torque'] as const) {
  describe(`pbs launcher through the simulator (${flavor})`, () => {
    const sim = useBatchSim('pbs', { PBS_SIM_FLAVOR: flavor, TSPARALLEL_SIM_GRACE_MS: '2000' });
    // PBS Pro marks a deleted job in its history (substate 91) whatever its exit status, so there the tasks exit 0
    // on SIGTERM (tsengine and tscontroller stop cleanly on it). Torque shows ordinary users no such mark: only an
    // exit status of 256 + SIGTERM says a job was deleted, so there SIGTERM kills the tasks (a Torque job that
    // exits 0 on qdel reads finished).
    const trapTerm = flavor === 'pbspro';
    const task = (dir: string, trap = trapTerm) => readyTask(dir, ['PBS_ARRAY_INDEX', 'PBS_ARRAYID'], trap);
    const harness = batchLauncherHarness(
      sim,
      (context) =>
        pbsLauncher.create(context, pbsLauncherOptions.parse({ flavor, queue: flavor === 'torque' ? 'batch' : 'workq', pollIntervalMs: 100, stopTimeoutMs: 15_000 })) as ScriptBatchLauncher,
    );
    /** The simulator's own state of a job (an array job's id carries `[]`). */
    const simState = (jobId: string) => sim().jobs().find((j) => String(j.id) === jobId || jobId.startsWith(`${j.id}[`))?.state;

    test(`an engine array deleted with qdel while running (its tasks ${trapTerm ? 'exit 0 on' : 'killed by'} SIGTERM) is reported cancelled`, async () => {
      const dir = harness.taskDir();
      const { launcher, exits, changes, jobId } = await harness.launch('engines', 3, task(dir));
      try {
        const pids = await readyPids(dir, [1, 2, 3]);
        const r = await sim().run('qdel', [jobId]);
        assert.equal(r.status, 0, r.stderr);
        await waitUntil(() => exits.length > 0, 20_000, 'the launcher to report the end');
        assert.equal(exits.length, 1);
        assert.equal(exits[0]!.id, jobId);
        assert.equal(launcher.watchedJobs[0]!.state, 'cancelled', `last seen: ${JSON.stringify(launcher.watchedJobs[0])}`);
        assert.ok(!changes.some((c) => c.state === 'finished' || c.state === 'failed'), changes.map((c) => c.state).join(','));
        assert.equal(launcher.state, 'stopped');
        assert.deepEqual(await survivors(pids, 10_000), []);
        const tasks = sim().jobs().find((j) => jobId.startsWith(`${j.id}[`))!.tasks;
        // With the trap the tasks did exit 0: only the scheduler's record says they were deleted.
        assert.ok(tasks.every((t) => (trapTerm ? t.exitCode === 0 : t.signal === 'SIGTERM')), JSON.stringify(tasks.map((t) => [t.exitCode, t.signal])));
      } finally {
        await launcher.stop();
      }
    });

    test('a controller job deleted with qdel while queued is reported cancelled', async () => {
      sim().pause();
      const never = path.join(sim().workDir, 'never');
      const { launcher, exits, jobId } = await harness.launch('controller', 1, task(never, true));
      try {
        await waitUntil(() => launcher.watchedJobs[0]?.rawState === 'Q', 10_000, 'the job to be seen queued');
        const r = await sim().run('qdel', [jobId]);
        assert.equal(r.status, 0, r.stderr);
        await waitUntil(() => exits.length > 0, 20_000, 'the launcher to report the end');
        assert.equal(launcher.watchedJobs[0]!.state, 'cancelled', `last seen: ${JSON.stringify(launcher.watchedJobs[0])}`);
        assert.ok(!existsSync(path.join(never, 'ready-0')), 'the job never ran');
      } finally {
        sim().resume();
        await launcher.stop();
      }
    });

    sharedLifecycleTests(harness, (dir) => task(dir), simState);
  });
}
