/**
 * Defect 10 of issue 13: an engine stopped with SIGSTOP is declared dead and its task run again elsewhere; when it
 * is woken, it is told to shut down and whatever it still does is reported (engine events `revenant`, and
 * `late_reply` if it finishes the task), never silently.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent } from '../../src/index.js';
import { FAST_HEARTBEAT, isAlive, startTestCluster, waitUntil } from '../support/cluster.js';

test('a SIGSTOPped engine, woken after its task was retried, is stopped and reported', { timeout: 60_000 }, async () => {
  const tc = await startTestCluster(2, { controller: FAST_HEARTBEAT });
  let stopped: number | undefined;
  try {
    const { client } = tc;
    const events: EngineEvent[] = [];
    client.onEngineEvent((e) => events.push(e));
    const gone: number[] = [];
    client.onEngineChange((e) => e.type === 'unregistered' && gone.push(e.id));
    const view = client.loadBalancedView([0, 1], { retries: 1 });
    const task = view.apply(() => new Promise((r) => setTimeout(() => r('done'), 800)));
    await waitUntil(async () => (await client.taskRecords({ state: 'running' })).length === 1, 5000, 'the task runs');
    const engineId = (await client.taskRecords({ state: 'running' }))[0]!.engineId!;
    stopped = client.engines.get(engineId)!.pid;
    process.kill(stopped, 'SIGSTOP');
    await waitUntil(() => gone.includes(engineId), 15_000, 'the stopped engine is declared dead');
    assert.equal(await task, 'done'); // run again on the other engine
    process.kill(stopped, 'SIGCONT');
    await waitUntil(() => events.some((e) => e.id === engineId), 15_000, 'the woken engine is reported');
    assert.ok(events.every((e) => e.id === engineId && ['revenant', 'late_reply'].includes(e.event)), JSON.stringify(events));
    await waitUntil(() => !isAlive(stopped!), 15_000, 'the woken engine shuts down');
    const records = await client.taskRecords();
    assert.equal(records.filter((r) => r.state === 'completed').length, 1);
  } finally {
    if (stopped !== undefined && isAlive(stopped)) process.kill(stopped, 'SIGCONT');
    await tc.stop();
  }
});
