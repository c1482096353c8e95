/**
 * Defect 7 of issue 13: an engine process that exits is reported when its socket closes (ZeroMQ disconnect, then a
 * check of its pid), not after the heartbeat timeout; its tasks are retried elsewhere. The heartbeat timeout here
 * is long (60 s), so only the fast path can pass this test within its time limit; the measured time goes to the
 * fault report, not to an assertion.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineChange } from '../../src/index.js';
import { isAlive, startTestCluster, waitUntil } from '../support/cluster.js';

test('kill -9 of a local engine is reported as its process exiting, and its tasks are retried', { timeout: 40_000 }, async () => {
  const tc = await startTestCluster(2, { controller: { heartbeatMs: 1000, heartbeatTimeoutMs: 60_000 } });
  try {
    const { client } = tc;
    const changes: EngineChange[] = [];
    client.onEngineChange((e) => changes.push(e));
    const view = client.loadBalancedView(undefined, { retries: 1 });
    const tasks = [0, 1, 2, 3].map((i) => view.apply((x: number) => new Promise((r) => setTimeout(() => r(x), 1500)), i));
    await new Promise((r) => setTimeout(r, 400));
    const victim = client.engines.get(0)!;
    process.kill(victim.pid, 'SIGKILL');
    await waitUntil(() => !isAlive(victim.pid), 5000, 'the engine exits');
    await waitUntil(() => changes.some((c) => c.type === 'unregistered' && c.id === 0), 20_000, 'engine 0 reported gone');
    const gone = changes.find((c) => c.type === 'unregistered' && c.id === 0)!;
    assert.match(gone.reason ?? '', new RegExp(`its process \\(pid ${victim.pid}\\) exited`));
    assert.deepEqual(await Promise.all(tasks.map((t) => Promise.resolve(t))), [0, 1, 2, 3]);
    const records = await client.taskRecords({ state: 'completed' });
    assert.ok(records.some((r) => r.retries >= 1), 'the killed engine\'s tasks ran again');
    assert.ok(records.every((r) => r.engineId === 1), 'every task finished on the surviving engine');
  } finally {
    await tc.stop();
  }
});
