/**
 * An engine kept busy by synchronous tasks for longer than the heartbeat timeout is alive, so neither the controller
 * nor the engine itself may take it for dead. Its heart answers on its main thread, so its echoes wait for the
 * tasks; the controller knows it lives because its heart connection stays open (libzmq's I/O thread answers the
 * ZMTP probes of the controller's heartbeat endpoint), and the engine's own watchdog does not count the stall of its
 * event loop as the controller's silence. Found on the rig (issue 10, item 6: node1's engines "declared dead" when
 * node2 came back): the engine's watchdog then counted only the pings its main thread had been told of, and a queue of
 * tasks run one after the other leaves the main thread no turn of the event loop to hear of them; when the last task
 * ended, the watchdog ran first, found seconds of "silence", and stopped the engine.
 *
 * Three shapes: tasks queued on the engine together, tasks sent one at a time (each arrives as the last ends, so the
 * engine's loop turns between them), and one task three times longer than the timeout.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineChange } from '../../src/index.js';
import { isAlive, startTestCluster } from '../support/cluster.js';

const heartbeatTimeoutMs = 1000;

const shapes = [
  { name: 'with 12 queued tasks of 250 ms', hwm: 16, tasks: 12, taskMs: 250 },
  { name: 'with 12 tasks of 250 ms sent one at a time', hwm: 1, tasks: 12, taskMs: 250 },
  { name: 'with one task of 3.2 s', hwm: 16, tasks: 1, taskMs: 3200 },
];

for (const shape of shapes) {
  test(`an engine busy ${shape.name} (over 3 × the heartbeat timeout) stays registered and answers`, { timeout: 60_000 }, async () => {
    const tc = await startTestCluster(1, { controller: { heartbeatMs: 100, heartbeatTimeoutMs, hwm: shape.hwm, hwmMs: 0 } });
    try {
      const { client } = tc;
      const changes: EngineChange[] = [];
      client.onEngineChange((e) => changes.push(e));
      const [engine] = [...client.engines.values()];
      const inputs = Array.from({ length: shape.tasks }, (_, i) => i);
      const started = Date.now();
      // Each task keeps the engine's thread busy for taskMs of wall time, synchronously.
      const spin = ([x, ms]: [number, number]) => {
        const end = Date.now() + ms;
        while (Date.now() < end);
        return x + 1;
      };
      const results = await client.loadBalancedView().map(spin, inputs.map((i): [number, number] => [i, shape.taskMs]));
      assert.ok(Date.now() - started >= 3 * heartbeatTimeoutMs, 'the engine was busy for at least 3 × the heartbeat timeout');
      assert.deepEqual(results, inputs.map((i) => i + 1));
      // Give either side's watchdog time to (wrongly) act once the engine's main thread is free again.
      await new Promise((r) => setTimeout(r, 2 * heartbeatTimeoutMs));
      assert.deepEqual(changes.filter((c) => c.type === 'unregistered'), [], 'no engine was declared dead');
      assert.ok(isAlive(engine!.pid), 'the engine process is alive');
      assert.deepEqual(await client.view().apply(() => 'still here'), ['still here']);
    } finally {
      await tc.stop();
    }
  });
}
