/**
 * Defect 4 of issue 13: asynchronous errors in user code (a throw in a timer, an unhandled rejection) fail the task
 * that is running, or are reported as an engine event after it ended; the engine lives on. A thrown object whose
 * message cannot be turned into a string does not crash the engine either.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RemoteError, type EngineEvent } from '../../src/index.js';
import { isAlive, startTestCluster, waitUntil } from '../support/cluster.js';

test('uncaught exceptions and unhandled rejections fail the running task or become engine events; the engine lives', { timeout: 60_000 }, async () => {
  const tc = await startTestCluster(1);
  try {
    const { client } = tc;
    const e0 = client.view(0);
    const pid = client.engines.get(0)!.pid;

    // A throw inside a timer while the task waits on it.
    await assert.rejects(
      Promise.resolve(e0.apply(() => new Promise((r) => { setTimeout(() => { throw new RangeError('late boom'); }, 10); setTimeout(r, 500); }))),
      (err: Error) => err instanceof RemoteError && err.remoteName === 'RangeError' && /late boom/.test(err.message),
    );
    // An unhandled rejection while the task runs.
    await assert.rejects(
      Promise.resolve(e0.apply(() => { void Promise.reject(new TypeError('nobody listens')); return new Promise((r) => setTimeout(r, 300)); })),
      (err: Error) => err instanceof RemoteError && /nobody listens/.test(err.message),
    );
    // A thrown object whose message has no toString.
    await assert.rejects(
      Promise.resolve(e0.apply(() => { throw { message: Object.create(null) }; })),
      (err: Error) => err instanceof RemoteError,
    );
    // After the task ended: an engine event, not a task failure.
    const events: EngineEvent[] = [];
    client.onEngineEvent((e) => events.push(e));
    assert.equal(await e0.apply(() => { setTimeout(() => { throw new Error('after the end'); }, 50); return 'done'; }), 'done');
    await waitUntil(() => events.length > 0, 10_000, 'an engine event arrives');
    assert.equal(events[0]!.id, 0);
    assert.equal(events[0]!.event, 'uncaught_error');
    assert.match(events[0]!.error!.message, /after the end/);
    // The engine is alive and answers.
    assert.equal(await e0.apply(() => 6 * 7), 42);
    assert.ok(isAlive(pid));
    assert.deepEqual(client.ids, [0]);
  } finally {
    await tc.stop();
  }
});
