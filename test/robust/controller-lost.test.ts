/**
 * Defect 2 of issue 13: when the controller dies, every pending result of every client rejects within a bounded
 * time with a ControllerLostError naming the controller and what was pending, and new requests fail at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ControllerLostError } from '../../src/core/errors.js';
import { isAlive, startTestCluster, waitUntil } from '../support/cluster.js';

test('kill -9 of the controller rejects every pending result of every client with ControllerLostError', { timeout: 90_000 }, async () => {
  const tc = await startTestCluster(2);
  try {
    const { cluster } = tc;
    const a = await cluster.connect({ heartbeatMs: 100, heartbeatTimeoutMs: 1000 });
    const b = await cluster.connect({ heartbeatMs: 100, heartbeatTimeoutMs: 1000, direct: false });
    const slow = () => new Promise((r) => setTimeout(r, 60_000));
    const pending = [
      a.view(0).apply(slow), // straight to the engine
      b.view(1).apply(slow), // through the controller
      a.loadBalancedView().apply(slow),
      b.loadBalancedView().apply(slow),
    ];
    const outcomes = pending.map((p) => Promise.resolve(p).then(() => undefined, (err: unknown) => err));
    const ids = [...a.history, ...b.history];
    await new Promise((r) => setTimeout(r, 300));
    const controllerPid = cluster.pids[0]!;
    process.kill(controllerPid, 'SIGKILL');
    await waitUntil(() => !isAlive(controllerPid), 5000, 'the controller exits');
    const errors = await Promise.all(outcomes);
    for (const err of errors) {
      assert.ok(err instanceof ControllerLostError, `rejected with ControllerLostError, not ${String(err)}`);
      assert.equal(err.address, a.info.address);
      assert.match(err.message, new RegExp(a.info.address.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.ok(err.pending.length >= 1 && err.pending.every((id) => ids.includes(id)), 'it names what was pending');
    }
    assert.ok(a.controllerLost && b.controllerLost);
    // New requests fail at once with the same error.
    assert.throws(() => a.loadBalancedView().apply(() => 1), ControllerLostError);
    await assert.rejects(b.queueStatus(), ControllerLostError);
    await a.close();
    await b.close();
  } finally {
    await tc.stop();
  }
});
