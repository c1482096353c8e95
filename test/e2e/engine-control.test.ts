/**
 * Per-engine control on the `local` launcher (stop, signal, restart one engine by id, with exits reported), and an
 * engine asking for an id: a free one is granted, a taken one is refused with a clear error.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { createCluster, type Cluster } from '../../src/index.js';
import { ConfigError, LauncherError } from '../../src/core/errors.js';
import type { ExitInfo } from '../../src/core/launcher.js';
import { Engine } from '../../src/engine/engine.js';
import { IsolatedNamespace } from '../../src/engine/namespace.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import type { ConnectionInfo } from '../../src/wire/connection.js';
import { FAST_HEARTBEAT, isAlive, tempDir, waitUntil } from '../support/cluster.js';

describe('per-engine control (local launcher) and requested engine ids', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let cluster: Cluster;
  const exits: (ExitInfo & { launcher: string })[] = [];
  const seen = new Set<number>();

  before(async () => {
    tmp = await tempDir();
    cluster = await createCluster({ profileDir: tmp.dir, projectDir: null, n: 3, controller: { ...FAST_HEARTBEAT } });
    cluster.onEngineExit((e) => exits.push(e));
    cluster.pids.forEach((p) => seen.add(p));
  });
  after(async () => {
    await cluster?.stop();
    for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await tmp.remove();
  });

  it('stops one engine, restarts it under its id, and signals another', async () => {
    const client = await cluster.connect();
    const one = client.engines.get(1)!;
    await cluster.stopEngine(1);
    assert.equal(isAlive(one.pid), false);
    assert.ok(exits.some((e) => e.id === String(one.pid) && e.code === 0 && e.launcher === 'local'), JSON.stringify(exits));
    await waitUntil(() => !client.engines.has(1), 10_000, 'the client hears engine 1 is gone');
    await cluster.restartEngine(1);
    await waitUntil(() => client.engines.has(1), 10_000, 'the client hears engine 1 is back');
    const fresh = client.engines.get(1)!;
    seen.add(fresh.pid);
    assert.notEqual(fresh.pid, one.pid);
    assert.deepEqual(await client.view().apply(() => 1), [1, 1, 1]);
    const two = client.engines.get(2)!;
    await cluster.signalEngine(2, 'SIGKILL');
    await waitUntil(() => exits.some((e) => e.id === String(two.pid)), 10_000, 'the killed engine is reported');
    assert.equal(exits.find((e) => e.id === String(two.pid))!.signal, 'SIGKILL');
  });

  it('refuses a requested id that is taken, and grants a free one', async () => {
    const info = JSON.parse(await readFile(cluster.engineConnectionFile, 'utf8')) as ConnectionInfo;
    const taken = new Engine({ transport: new ZeroMqTransport(), info, namespace: new IsolatedNamespace(), requestedId: 0, registrationTimeoutMs: 10_000 });
    await assert.rejects(taken.start(), (err: unknown) => err instanceof ConfigError && /engine id 0 is taken by the engine with pid \d+/.test(err.message));
    const free = new Engine({ transport: new ZeroMqTransport(), info, namespace: new IsolatedNamespace(), requestedId: 7, registrationTimeoutMs: 10_000 });
    await free.start();
    try {
      assert.equal(free.id, 7);
    } finally {
      await free.stop();
    }
  });

  it('a launcher that cannot address one engine (a job holds them all) makes it a clear LauncherError', async () => {
    const other = await tempDir();
    const jobs = await createCluster({ profileDir: other.dir, projectDir: null, n: 1, controller: { launcher: 'in-process' }, engines: { launcher: 'in-process' } });
    try {
      await assert.rejects(jobs.stopEngine(0), (err: unknown) => err instanceof LauncherError && /launcher 'in-process' cannot address one engine of its set/.test(err.message));
      await assert.rejects(jobs.restartEngine(0), LauncherError);
    } finally {
      await jobs.stop();
      await other.remove();
    }
  });
});
