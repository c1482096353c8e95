/**
 * The core runtime end to end: real controller and engine processes over real ZeroMQ sockets.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client, Cluster, ConfigError, createCluster, fromModule, LauncherError, range } from '../../src/index.js';
import { distEntry, isAlive, startTestCluster, tempDir, waitUntil, type TestCluster } from '../support/cluster.js';

const run = promisify(execFile);
const SEED = [0, 1, 1024, 59049, 1048576, 9765625, 60466176, 282475249, 1073741824, 3486784401, 10000000000, 25937424601, 61917364224, 137858491849, 289254654976];

describe('a local cluster of 4 engines over ZeroMQ', () => {
  let t: TestCluster;
  let cluster: Cluster;
  let client: Client;
  before(async () => ({ cluster, client } = t = await startTestCluster(4)));
  after(() => t.stop());

  it('knows its engine ids and started 5 processes (controller + 4 engines)', () => {
    assert.deepEqual(client.ids, [0, 1, 2, 3]);
    assert.equal(cluster.pids.length, 5);
    for (const pid of cluster.pids) assert.ok(isAlive(pid));
  });

  it("maps the seed's function over range(15), in order", async () => {
    assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), SEED);
  });

  it('spreads a map across every engine', async () => {
    const pids = await client.view().map(() => process.pid, range(8));
    assert.equal(new Set(pids).size, 4);
  });

  it('applies a function on every engine, on chosen engines, and on one', async () => {
    assert.deepEqual(await client.view().apply((a: number, b: number) => a + b, 1, 2), [3, 3, 3, 3]);
    const ar = client.view([0, 2]).apply(() => 7);
    assert.deepEqual(await ar, [7, 7]);
    assert.deepEqual(ar.metadata.map((m) => m.engineId), [0, 2]);
    assert.equal(await client.view(1).apply((s: string) => s.toUpperCase(), 'one'), 'ONE');
  });

  it('pushes names into each namespace, pulls them back, and executes code that uses them', async () => {
    const a = new Float64Array(1e6).map((_, i) => i);
    await client.view().push({ a, label: 'data' });
    const pulled = (await client.view().pull('a')) as Float64Array[];
    assert.equal(pulled.length, 4);
    for (const p of pulled) {
      assert.ok(p instanceof Float64Array);
      assert.equal(p.length, 1e6);
      assert.equal(p[999_999], 999_999);
    }
    await client.view().execute('globalThis.b = a.length * 2');
    assert.deepEqual(await client.view().pull('b'), [2e6, 2e6, 2e6, 2e6]);
    assert.deepEqual(await client.view(3).pull(['label', 'b']), ['data', 2e6]);
    // Functions see pushed names as globals.
    assert.deepEqual(await client.view().apply(() => (globalThis as any).label + (globalThis as any).b), Array(4).fill('data2000000'));
  });

  it('keeps names declared with const/let by execute, and returns the completion value', async () => {
    const values = await client.view([0]).execute('const persisted = 41; persisted + 1');
    assert.deepEqual(values, [42]);
    assert.equal(await client.view(0).pull('persisted'), 41);
    assert.deepEqual(await client.view([0]).execute('await Promise.resolve(5)'), [5]);
  });

  it('scatters a sequence across engines and gathers it back in order', async () => {
    const items = range(10);
    await client.view().scatter('part', items);
    assert.deepEqual(await client.view().pull('part'), [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]);
    assert.deepEqual(await client.view().gather('part'), items);
    const big = new Float64Array(1_000_003).map((_, i) => i);
    await client.view().scatter('fpart', big);
    const back = (await client.view().gather('fpart')) as Float64Array;
    assert.ok(back instanceof Float64Array);
    assert.deepEqual(back, big);
  });

  it("gives functions Node's globals: process, Buffer, timers, getBuiltinModule and dynamic import", async () => {
    const out = await client.view(0).apply(async () => {
      const os = process.getBuiltinModule('node:os');
      const { sep } = await import('node:path');
      await new Promise((r) => setTimeout(r, 1));
      return [typeof process.pid, Buffer.from('x').toString('hex'), typeof os.cpus, sep];
    });
    assert.deepEqual(out, ['number', '78', 'function', '/']);
  });

  it('runs functions compiled by esbuild with keepNames, as under tsx (they call its __name helper)', async () => {
    const { transform } = await import('esbuild');
    const source = 'export const fn = (x: number) => { const sq = (y: number) => y * y; class P {} function g() {} return [sq(x) + 1, sq.name, P.name, g.name]; };';
    const { code } = await transform(source, { loader: 'ts', format: 'esm', keepNames: true });
    const { fn } = (await import(`data:text/javascript,${encodeURIComponent(code)}`)) as { fn: (x: number) => unknown[] };
    assert.match(fn.toString(), /__name\(/);
    assert.deepEqual(await client.view().map(fn, range(4)), range(4).map((x) => [x * x + 1, 'sq', 'P', 'g']));
  });

  it('runs functions by module reference, which may use imports and module scope', async () => {
    const hashes = await client.view().map(fromModule('../fixtures/tasks.js', 'saltedHash', import.meta.url), ['a', 'b']);
    const { createHash } = await import('node:crypto');
    assert.deepEqual(hashes, ['a', 'b'].map((t) => createHash('sha256').update('tsparallel' + t).digest('hex')));
    assert.deepEqual(await client.view([1]).apply(fromModule('../fixtures/tasks.js', 'default', import.meta.url), 9), [81]);
  });

  it("captures each engine's stdout and stderr with the result", async () => {
    const ar = client.view([0, 1]).apply(() => {
      console.log('hello from', (globalThis as any).engineName ?? 'an engine');
      console.error('a warning');
      return 1;
    });
    await ar;
    assert.deepEqual(ar.stdout, ['hello from an engine\n', 'hello from an engine\n']);
    assert.deepEqual(ar.stderr, ['a warning\n', 'a warning\n']);
  });

  it('reports readiness, waits with a limit, times get() out, and streams map results', async () => {
    const slow = client.view(0).apply(() => new Promise((r) => setTimeout(() => r('done'), 400)));
    assert.equal(slow.ready(), false);
    assert.equal(await slow.wait(20), false);
    await assert.rejects(slow.get({ timeoutMs: 20 }), { name: 'TimeoutError' });
    assert.equal(await slow.get({ timeoutMs: 10_000 }), 'done');
    assert.equal(slow.ready(), true);
    assert.ok(slow.elapsedMs >= 300, `elapsedMs ${slow.elapsedMs}`);
    const m = slow.metadata[0]!;
    assert.equal(m.engineId, 0);
    assert.equal(m.status, 'ok');
    assert.ok(m.submitted <= m.started! && m.started! <= m.completed! && m.completed! <= m.received!);

    const ar = client.view().map((x: number) => x * 2, range(10));
    const seen: unknown[] = [];
    const progress: number[] = [];
    ar.onProgress((p) => progress.push(p.done));
    for await (const y of ar) seen.push(y);
    assert.deepEqual(seen, range(10).map((x) => x * 2));
    assert.deepEqual(progress.sort(), [1, 2, 3, 4]);
  });

  it('lets a second process connect to the running cluster by profile directory', async () => {
    const script = `
      import { Client } from ${JSON.stringify(distEntry())};
      const client = await Client.connect({ profileDir: ${JSON.stringify(t.dir)} });
      const r = await client.view().map((x) => x + 1, [1, 2, 3]);
      console.log(JSON.stringify({ ids: client.ids, r }));
      await client.close();`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout), { ids: [0, 1, 2, 3], r: [2, 3, 4] });
  });

  it('sends direct requests straight to engines on this host, and the controller still records them', async () => {
    assert.ok(client.engines.get(0)?.direct?.startsWith('tcp://127.0.0.1:'), 'engine 0 advertises a loopback endpoint');
    const ar = client.view(0).apply(() => 'direct');
    assert.equal(await ar, 'direct');
    let records: Awaited<ReturnType<Client['taskRecords']>> = [];
    await waitUntil(async () => (records = await client.taskRecords({ msgIds: ar.msgIds })).length === 1, 5000, 'the engine reports the direct request');
    assert.equal(records[0]!.state, 'completed');
    assert.equal(records[0]!.engineId, 0);
    assert.equal(records[0]!.balanced, false);
  });

  it('goes through the controller when asked to (direct: false), with the same results', async () => {
    const viaController = await cluster.connect({ direct: false });
    const ar = viaController.view().map((x: number) => x + 1, range(8));
    assert.deepEqual(await ar, range(8).map((x) => x + 1));
    const records = await viaController.taskRecords({ msgIds: ar.msgIds });
    assert.deepEqual(records.map((r) => r.state), ['completed', 'completed', 'completed', 'completed']);
    await viaController.close();
  });

  it('an engine drops direct requests signed with the wrong key', async () => {
    const { ZeroMqTransport } = await import('../../src/launchers/index.js');
    const { Channels, Session } = await import('../../src/wire/protocol.js');
    const { serialize } = await import('../../src/wire/serialize.js');
    const rogue = await new ZeroMqTransport().dial(client.engines.get(2)!.direct!, { identity: 'rogue' });
    const session = new Session('0'.repeat(64));
    rogue.send(session.encode(session.message('execute_request', { code: 'globalThis.forged = true' }, { buffers: serialize(null) }), Channels.clientToEngine(2)));
    await new Promise((r) => setTimeout(r, 100));
    await rogue.close();
    await assert.rejects(client.view(2).pull('forged'), /forged is not defined/);
  });

  it('answers queue status per engine', async () => {
    const status = (await client.queueStatus()) as { engines: Record<string, { pending: number }> };
    assert.deepEqual(Object.keys(status.engines), ['0', '1', '2', '3']);
  });
});

describe('createCluster and profiles', () => {
  it('finds the cluster of a named profile under TSPARALLEL_DIR from Client.connect({ profile })', async () => {
    const tmp = await tempDir();
    const saved = process.env.TSPARALLEL_DIR;
    process.env.TSPARALLEL_DIR = tmp.dir;
    try {
      await using cluster = await createCluster({ n: 1, profile: 'mycluster', projectDir: null });
      await using client = await Client.connect({ profile: 'mycluster' });
      assert.deepEqual(client.ids, [0]);
      assert.ok(cluster.clientConnectionFile.startsWith(tmp.dir));
    } finally {
      if (saved === undefined) delete process.env.TSPARALLEL_DIR;
      else process.env.TSPARALLEL_DIR = saved;
      await tmp.remove();
    }
  });

  it('writes connection files with mode 0600 and removes them on stop', async () => {
    const tmp = await tempDir();
    const { stat } = await import('node:fs/promises');
    const cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
    for (const f of [cluster.clientConnectionFile, cluster.engineConnectionFile]) {
      assert.equal((await stat(f)).mode & 0o777, 0o600, f);
    }
    await cluster.stop();
    await cluster.stop(); // twice is harmless
    for (const f of [cluster.clientConnectionFile, cluster.engineConnectionFile, cluster.clusterFile]) {
      await assert.rejects(stat(f), { code: 'ENOENT' });
    }
    await tmp.remove();
  });

  it('starts a second cluster in the same profile under a fresh id when the default one is running', async () => {
    const tmp = await tempDir();
    await using first = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
    await using second = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
    assert.equal(first.clusterId, '');
    assert.notEqual(second.clusterId, '');
    await assert.rejects(createCluster({ n: 1, profileDir: tmp.dir, projectDir: null, clusterId: '' }), { name: 'ConfigError', message: /already running/ });
    await tmp.remove();
  });

  it('Cluster.fromFile finds a running cluster, from its file or its profile, to connect to it and stop it', async () => {
    const tmp = await tempDir();
    const cluster = await createCluster({ n: 2, profileDir: tmp.dir, projectDir: null });
    const pids = cluster.pids;
    const found = await Cluster.fromFile(cluster.clusterFile);
    assert.equal(found.isRunning, true);
    assert.deepEqual(found.pids, pids);
    // Another process finds it by profile directory, maps over it and stops it.
    const script = `
      import { Cluster } from ${JSON.stringify(distEntry())};
      const running = await Cluster.fromFile({ profileDir: ${JSON.stringify(tmp.dir)} });
      const client = await running.connect();
      const r = await client.view().map((x) => x * 3, [1, 2, 3]);
      await client.close();
      const steps = [];
      await running.stop({ onStep: (s) => steps.push(s.message) });
      console.log(JSON.stringify({ ids: client.ids, r, steps }));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000 });
    const out = JSON.parse(stdout) as { r: number[]; steps: string[] };
    assert.deepEqual(out.r, [3, 6, 9]);
    assert.match(out.steps.join('\n'), /started by a program .* asking its controller to shut down/);
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} survived the stop from another process`);
    await cluster.stop();
    await assert.rejects(Cluster.fromFile({ profileDir: tmp.dir }), /no running cluster|not running/i);
    await tmp.remove();
  });

  it('adds engines to a running cluster', async () => {
    const tmp = await tempDir();
    await using cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
    const client = await cluster.connect();
    await cluster.addEngines(2);
    await client.waitForEngines(3, { timeoutMs: 10_000 });
    assert.deepEqual(client.ids, [0, 1, 2]);
    assert.equal(cluster.pids.length, 4);
    // A count that is not a positive whole number, and a cluster already stopped, are refused before anything starts.
    for (const n of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(cluster.addEngines(n), (err: unknown) => err instanceof ConfigError && /addEngines\(n\): n must be a positive whole number/.test((err as Error).message));
    }
    await cluster.stop();
    const before = cluster.pids.length;
    await assert.rejects(cluster.addEngines(1), (err: unknown) => err instanceof LauncherError && /this cluster was stopped/.test((err as Error).message));
    assert.equal(cluster.pids.length, before, 'addEngines() after stop() started a process');
    await tmp.remove();
  });
});
