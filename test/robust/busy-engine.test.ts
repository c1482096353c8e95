/**
 * An engine kept busy by back-to-back synchronous tasks for longer than the heartbeat timeout is alive: its heart
 * thread answers every ping, so neither the controller nor the engine itself may take it for dead. Found on the rig
 * (issue 10, item 6: node1's engines "declared dead" when node2 came back): the engine's own watchdog counted only the
 * pings its main thread had been told of, and a queue of tasks run one after the other leaves the main thread no turn
 * of the event loop to hear of them; when the last task ended, the watchdog ran first, found seconds of "silence", and
 * stopped the engine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineChange } from '../../src/index.js';
import { isAlive, startTestCluster } from '../support/cluster.js';

test('an engine busy with queued synchronous tasks for 3 × the heartbeat timeout stays registered and answers', { timeout: 60_000 }, async () => {
  const heartbeatTimeoutMs = 1000;
  const tc = await startTestCluster(1, { controller: { heartbeatMs: 100, heartbeatTimeoutMs, hwm: 16 } });
  try {
    const { client } = tc;
    const changes: EngineChange[] = [];
    client.onEngineChange((e) => changes.push(e));
    const [engine] = [...client.engines.values()];
    // 12 tasks of 250 ms reach the engine together (the queue is deeper than one): 3 s with no gap between them.
    const started = Date.now();
    const results = await client.loadBalancedView().map((x: number) => {
      const end = Date.now() + 250;
      while (Date.now() < end);
      return x + 1;
    }, Array.from({ length: 12 }, (_, i) => i));
    assert.ok(Date.now() - started >= 3 * heartbeatTimeoutMs, 'the engine was busy for at least 3 × the heartbeat timeout');
    assert.deepEqual(results, Array.from({ length: 12 }, (_, i) => i + 1));
    // Give either side's watchdog time to (wrongly) act once the engine's main thread is free again.
    await new Promise((r) => setTimeout(r, 2 * heartbeatTimeoutMs));
    assert.deepEqual(changes.filter((c) => c.type === 'unregistered'), [], 'no engine was declared dead');
    assert.ok(isAlive(engine!.pid), 'the engine process is alive');
    assert.deepEqual(await client.view().apply(() => 'still here'), ['still here']);
  } finally {
    await tc.stop();
  }
});
