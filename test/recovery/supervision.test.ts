/**
 * Engine supervision and running-time timeouts that bite, over real controller and engine processes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineDiedError, TimeoutError, type EngineChange, type SupervisionEvent } from '../../src/index.js';
import { isAlive, startTestCluster, waitUntil } from '../support/cluster.js';

/** Deaths are found by the pid check at once; a long heartbeat timeout keeps a loaded machine from declaring more. */
const FAST_HEARTBEAT = { heartbeatMs: 200, heartbeatTimeoutMs: 5000 } as const;

describe('engine supervision (engines.restart)', () => {
  it('replaces an engine killed with SIGKILL, with a new id and clients told, until max; then it stays down with an event', async () => {
    await using t = await startTestCluster(2, { controller: FAST_HEARTBEAT, engines: { restart: { max: 2, windowMs: 60_000 } } });
    const { cluster, client } = t;
    const changes: EngineChange[] = [];
    const events: SupervisionEvent[] = [];
    client.onEngineChange((c) => changes.push(c));
    cluster.onSupervision((e) => events.push(e));
    let victim = 1;
    for (let round = 1; round <= 3; round++) {
      const pid = client.engines.get(victim)!.pid;
      process.kill(pid, 'SIGKILL');
      await waitUntil(() => events.length === round, 30_000, `a supervision event for kill ${round}`);
      const event = events[round - 1]!;
      assert.equal(event.id, victim);
      assert.match(event.reason, /exited|heartbeat/);
      if (round < 3) {
        assert.equal(event.type, 'replaced', JSON.stringify(event));
        const replacement = event.replacement!;
        assert.ok(replacement > victim, `a new id (${replacement}) after ${victim}`);
        await waitUntil(() => changes.some((c) => c.type === 'registered' && c.id === replacement), 10_000, 'the client told of the replacement');
        assert.equal(changes.find((c) => c.type === 'registered' && c.id === replacement)!.replaces, victim);
        assert.ok(client.engines.has(replacement) && !client.engines.has(victim));
        assert.notEqual(client.engines.get(replacement)!.pid, pid);
        assert.equal(client.engines.size, 2);
        // The replacement works.
        assert.equal(await client.view(replacement).apply(() => 6 * 7), 42);
        victim = replacement;
      } else {
        assert.equal(event.type, 'gave_up', JSON.stringify(event));
        assert.match(event.message!, /stays down: 2 engine\(s\) were already replaced within the last 60000 ms/);
      }
      await waitUntil(() => !isAlive(pid), 5000, `engine pid ${pid} gone`);
    }
    // It stays down: one engine left, and no replacement comes.
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(client.ids, [0]);
    assert.equal(events.length, 3);
    assert.equal(await client.loadBalancedView().apply(() => 'still works'), 'still works');
  });

  it('is off by default: a killed engine is not replaced', async () => {
    await using t = await startTestCluster(2, { controller: FAST_HEARTBEAT });
    const { cluster, client } = t;
    const events: SupervisionEvent[] = [];
    cluster.onSupervision((e) => events.push(e));
    process.kill(client.engines.get(0)!.pid, 'SIGKILL');
    await waitUntil(() => client.ids.length === 1, 10_000, 'the engine declared dead');
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual(client.ids, [1]);
    assert.equal(events.length, 0);
  });
});

describe('running-time timeouts that bite (graceMs)', () => {
  it('kills the engine of a task that loops past timeoutMs + graceMs, replaces it, and the next 40 tasks complete', async () => {
    await using t = await startTestCluster(2, { controller: FAST_HEARTBEAT, engines: { restart: { max: 3, windowMs: 60_000 }, graceMs: 500 } });
    const { cluster, client } = t;
    const events: SupervisionEvent[] = [];
    cluster.onSupervision((e) => events.push(e));
    const lview = client.loadBalancedView([0]);
    const stuck = lview.with({ timeoutMs: 300 }).apply(() => {
      for (;;) {
        // Ignores taskSignal and never yields.
      }
    });
    const pid0 = client.engines.get(0)!.pid;
    const started = Date.now();
    const err = await stuck.catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.match((err as Error).message, /did not finish within 300 ms on engine 0/);
    await waitUntil(() => !isAlive(pid0), 10_000, 'the stuck engine killed');
    assert.ok(Date.now() - started >= 800 - 50, 'killed only after timeoutMs + graceMs');
    await waitUntil(() => events.length === 1, 30_000, 'the stuck engine replaced');
    assert.equal(events[0]!.type, 'replaced', JSON.stringify(events[0]));
    const replacement = events[0]!.replacement!;
    assert.deepEqual(client.ids, [1, replacement]);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => client.loadBalancedView().with({ timeoutMs: 10_000 }).apply((x: number) => x * 2, i)));
    assert.deepEqual(results, Array.from({ length: 40 }, (_, i) => i * 2));
  });

  it('runs a timed-out task again when it has retries, and fails it with TimeoutError once they are spent', async () => {
    await using t = await startTestCluster(2, { controller: FAST_HEARTBEAT, engines: { graceMs: 300 } });
    const { client } = t;
    const r = client.loadBalancedView().with({ timeoutMs: 200, retries: 1 }).apply(() => {
      for (;;) {
        // Never ends.
      }
    });
    const err = await r.catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError, String(err));
    const [record] = await client.taskRecords({ msgIds: r.msgIds });
    assert.equal(record!.retries, 1);
    // Both engines ran it, and both were killed (no supervision here).
    await waitUntil(() => client.ids.length === 0, 10_000, 'both stuck engines killed');
  });

  it('does not kill an engine whose task stops when its signal fires', async () => {
    await using t = await startTestCluster(1, { controller: FAST_HEARTBEAT, engines: { graceMs: 200 } });
    const { client } = t;
    const pid = client.engines.get(0)!.pid;
    const err = await client.loadBalancedView().with({ timeoutMs: 100 }).apply(async () => {
      const signal = (globalThis as any).taskSignal as AbortSignal;
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
    }).catch((e: unknown) => e);
    assert.ok(err instanceof TimeoutError && !(err instanceof EngineDiedError));
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(isAlive(pid));
    assert.equal(await client.loadBalancedView().apply(() => 'alive'), 'alive');
  });
});
