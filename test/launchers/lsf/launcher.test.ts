/**
 * The `lsf` launcher against the LSF simulator (src/testing/lsf-sim.ts, real processes; LSF cannot run here): a job
 * killed with `bkill` by someone else (its owner from a shell, or an administrator), whose processes catch the signal
 * and exit 0, is reported `cancelled` (not `failed`), while a job that ends by itself reads finished or failed, and
 * `stop()` still cancels and reports once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lsfLauncher, lsfLauncherOptions } from '../../../src/launchers/lsf/launcher.js';
import type { ScriptBatchLauncher } from '../../../src/launchers/batch/script-launcher.js';
import { batchLauncherHarness, readyPids, readyTask, sharedLifecycleTests, useBatchSim } from '../../support/batch-launcher-harness.js';
import { waitUntil } from '../../support/cluster.js';
import { survivors } from '../../support/hpc-sim.js';

/** A task that catches SIGTERM and exits 0 (as a role stopping cleanly), so that its exit alone would not say it was killed. */
const task = (dir: string) => readyTask(dir, ['LSB_JOBINDEX'], true);

describe('lsf launcher through the simulator', () => {
  const sim = useBatchSim('lsf', { TSPARALLEL_SIM_GRACE_MS: '2000' });
  const harness = batchLauncherHarness(
    sim,
    (context) => lsfLauncher.create(context, lsfLauncherOptions.parse({ queue: 'normal', pollIntervalMs: 100, stopTimeoutMs: 15_000 })) as ScriptBatchLauncher,
  );

  for (const [who, env] of [
    ['its owner', {}],
    ['an administrator', { LSF_SIM_USER: 'lsfadmin' }],
  ] as const) {
    test(`an engine array killed with bkill by ${who} (its tasks exit 0 on SIGTERM) is reported cancelled`, async () => {
      const dir = harness.taskDir();
      const { launcher, exits, changes, jobId } = await harness.launch('engines', 3, task(dir));
      try {
        const pids = await readyPids(dir, [1, 2, 3]);
        const r = await sim().run('bkill', [jobId], { env });
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
        const tasks = sim().jobs().find((j) => String(j.id) === jobId)!.tasks;
        assert.ok(tasks.every((t) => t.exitCode === 0), JSON.stringify(tasks.map((t) => [t.exitCode, t.signal])));
      } finally {
        await launcher.stop();
      }
    });
  }

  sharedLifecycleTests(harness, task, (jobId) => sim().jobs().find((j) => String(j.id) === jobId)?.state);
});
