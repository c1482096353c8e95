/**
 * Defects 5, 6 and 10 of issue 13 through the public API: load-balanced tasks that can never run fail at once with
 * a clear error; a peer with a bad direct address crashes no client; bad arguments give clear errors; long time
 * limits are kept.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConnectionFile } from '../../src/wire/connection.js';
import { thisHost } from '../../src/wire/connection.js';
import { DependencyError, TsParallelError } from '../../src/index.js';
import { isAlive, startTestCluster, waitUntil, FAST_HEARTBEAT } from '../support/cluster.js';
import { RawPeer } from '../support/raw-peer.js';
import { Channels } from '../../src/wire/protocol.js';

test('load-balanced tasks that can never run fail at once with a clear error', { timeout: 60_000 }, async () => {
  const tc = await startTestCluster(2, { controller: FAST_HEARTBEAT });
  try {
    const { client } = tc;
    // A missing engine.
    await assert.rejects(
      Promise.resolve(client.loadBalancedView([7]).apply(() => 1)),
      (err: Error) => err instanceof DependencyError && /none of its target engines \(7\) is registered/.test(err.message),
    );
    // Targets of the wrong type: refused at once, before anything is sent.
    assert.throws(() => client.loadBalancedView('ab' as never), (err: Error) => err instanceof TsParallelError && /engine ids/.test(err.message));
    // The only targeted engine dies: its running task fails (no retries) and every queued one too.
    const only = client.loadBalancedView([1]);
    const pid = client.engines.get(1)!.pid;
    const tasks = Array.from({ length: 40 }, (_, i) => Promise.resolve(only.apply((x: number) => new Promise((r) => setTimeout(() => r(x), 200)), i)).then(() => 'ok', (e: Error) => e));
    await new Promise((r) => setTimeout(r, 300));
    process.kill(pid, 'SIGKILL');
    const outcomes = await Promise.all(tasks);
    const failed = outcomes.filter((o) => o !== 'ok') as Error[];
    assert.ok(failed.length > 0, 'the tasks left failed');
    for (const e of failed) assert.ok(/engine 1|target engines \(1\)/.test(e.message), e.message);
    // Engine 0 still works.
    assert.equal(await client.loadBalancedView([0]).apply(() => 'fine'), 'fine');
  } finally {
    await tc.stop();
  }
});

test('bad arguments give clear errors, and a time limit of 2^31 ms or more is refused instead of firing at once', { timeout: 60_000 }, async () => {
  const tc = await startTestCluster(2);
  try {
    const { client } = tc;
    assert.throws(() => client.view().map((x: number) => x, 5 as never), (err: Error) => err instanceof TsParallelError && /iterable, got number 5/.test(err.message));
    assert.throws(() => client.loadBalancedView().map((x: number) => x, 5 as never), (err: Error) => err instanceof TsParallelError && /iterable/.test(err.message));
    assert.throws(() => client.view().scatter('a', null as never), (err: Error) => err instanceof TsParallelError && /got null/.test(err.message));
    for (const bad of [5, { a: 1 }, new Set([1, 2])]) {
      assert.throws(() => client.view().scatter('a', bad as never), (err: Error) => err instanceof TsParallelError && /array or typed array/.test(err.message));
    }
    assert.throws(() => client.loadBalancedView(undefined, { timeoutMs: 2 ** 31 }).apply(() => 1), (err: Error) => err instanceof TsParallelError && /at most 2147483647/.test(err.message));
    // A wait of more than 2^31 ms does not end after 1 ms.
    const slow = client.view(0).apply(() => new Promise((r) => setTimeout(() => r('late'), 300)));
    assert.equal(await slow.get({ timeoutMs: 2 ** 31 + 5 }), 'late');
  } finally {
    await tc.stop();
  }
});

test('a peer announcing a bad direct address crashes no client', { timeout: 60_000 }, async () => {
  const tc = await startTestCluster(1);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  let peer: RawPeer | undefined;
  try {
    const { client, cluster } = tc;
    const info = await readConnectionFile(cluster.engineConnectionFile);
    peer = new RawPeer(info.address, info.key, Channels.engineToCluster);
    await peer.send('registration_request', { pid: 999_999_999, hostname: thisHost(), direct: 'nonsense://\u0000' });
    await waitUntil(() => client.engines.size === 2, 10_000, 'the bogus engine is announced');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(unhandled, []);
    assert.equal(await client.view(0).apply(() => 'still here'), 'still here');
    for (const pid of cluster.pids) assert.ok(isAlive(pid));
  } finally {
    process.off('unhandledRejection', onUnhandled);
    // Closed whatever happened: its open socket would keep this file's process alive after a failure.
    peer?.close();
    // The bogus engine never answers the shutdown request; the stop does not wait for it.
    const started = Date.now();
    await tc.stop();
    assert.ok(Date.now() - started < 30_000, `stop() took ${Date.now() - started} ms with an engine that never answers`);
  }
});
