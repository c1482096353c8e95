/**
 * Every error of the core runtime, with real processes over ZeroMQ.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, CompositeError, createCluster, EngineDiedError, fromModule, range, RemoteError, SerializationError } from '../../src/index.js';
import { FAST_HEARTBEAT, isAlive, startTestCluster, tempDir, waitUntil, type TestCluster } from '../support/cluster.js';

describe('errors from a running cluster', () => {
  let t: TestCluster;
  let client: Client;
  before(async () => ({ client } = t = await startTestCluster(2, { controller: { ...FAST_HEARTBEAT } })));
  after(() => t.stop());

  it('rejects with RemoteError carrying engine id, remote name, message and stack', async () => {
    const err = await client.view(1).apply(() => {
      throw new TypeError('bad input');
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.engineId, 1);
    assert.equal(err.remoteName, 'TypeError');
    assert.match(err.message, /\[engine 1\] TypeError: bad input/);
    assert.match(err.remoteStack ?? '', /TypeError: bad input\n\s+at /);
  });

  it('rejects with CompositeError holding each engine’s error when several fail', async () => {
    const err = await client.view().apply(() => {
      throw new Error('everyone fails');
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof CompositeError, String(err));
    assert.equal(err.errors.length, 2);
    assert.deepEqual(err.errors.map((e) => (e as RemoteError).engineId), [0, 1]);
    assert.ok(err.errors.every((e) => e instanceof RemoteError && e.message.includes('everyone fails')));
  });

  it('rejects with a single RemoteError when one engine of several fails', async () => {
    const err = await client.view().map((x: number) => {
      if (x === 3) throw new RangeError('three');
      return x;
    }, [0, 1, 2, 3]).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RemoteError);
    assert.equal(err.engineId, 1);
    assert.equal(err.remoteName, 'RangeError');
  });

  it('explains a closure variable the engine does not have: push it or use a module reference', async () => {
    const secret = 42;
    const err = await client.view(0).apply(() => secret * 2).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RemoteError);
    assert.equal(err.remoteName, 'ReferenceError');
    assert.match(err.message, /secret is not defined/);
    assert.match(err.message, /view\.push\(\{ secret \}\)/);
    assert.match(err.message, /fromModule/);
    // And the fix works:
    await client.view().push({ secret });
    assert.equal(await client.view(0).apply(() => secret * 2), 84);
  });

  it('explains a helper function the engine does not have with advice that works: execute its definition there', async () => {
    function square(x: number) {
      return x * x;
    }
    const err = await client.view().map((x: number) => square(x) + 1, range(4)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof CompositeError, String(err));
    const first = err.errors[0]!;
    assert.ok(first instanceof RemoteError);
    assert.match(first.message, /square is not defined: .*If square is a value, push it first: view\.push\(\{ square \}\)\. If it is a function \(push takes no functions\), define it inside the function you send, define it on the engines first with view\.execute\(`var square = \$\{square\}`\), or send the function by module reference \(fromModule\(/);
    // Push refuses it, saying what to do instead; and what it says works.
    assert.throws(
      () => client.view().push({ square }),
      (e: unknown) => e instanceof SerializationError && /^push takes data, not functions, and square is a function: define it on the engines with view\.execute\(`var square = \$\{square\}`\)/.test(e.message),
    );
    await client.view().execute(`var square = ${square}`);
    assert.deepEqual(await client.view().map((x: number) => square(x) + 1, range(4)), [1, 2, 5, 10]);
  });

  it('describes a thrown value that is not an Error readably, within bounds', async () => {
    const thrown = async (f: () => unknown) => (await client.view(0).apply(f).then(() => undefined, (e: unknown) => e)) as RemoteError;
    const object = await thrown(() => {
      throw { code: 42, nested: { list: [1, 2] } };
    });
    assert.ok(object instanceof RemoteError);
    assert.equal(object.message, '[engine 0] object: { code: 42, nested: { list: [ 1, 2 ] } }');
    assert.equal((await thrown(() => {
      throw 'a string';
    })).message, '[engine 0] string: a string');
    assert.equal((await thrown(() => {
      throw null;
    })).message, '[engine 0] null: null');
    const huge = await thrown(() => {
      throw { text: 'x'.repeat(1_000_000), list: Array.from({ length: 100_000 }, (_, i) => ({ i })) };
    });
    assert.ok(huge.message.length < 3000, `bounded: ${huge.message.length} characters`);
    assert.match(huge.message, /^\[engine 0\] object: \{ text: 'x{200}'\.\.\. 999800 more characters, list: \[ \{ i: 0 \}, \{ i: 1 \}, .*\{ i: 19 \}, \.\.\. 99980 more items \] \}$/);
  });

  it('carries an Error\'s own primitive properties to the RemoteError and its cause, within bounds', async () => {
    const err = await client.loadBalancedView().apply(() => {
      const e = new Error('with code') as Error & Record<string, unknown>;
      Object.assign(e, { code: 'E_X', errno: -2, retryable: false, none: null, details: { a: 1 }, fn: () => 1, inf: Infinity, long: 'y'.repeat(5000) });
      throw e;
    }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RemoteError, String(err));
    assert.deepEqual(err.remoteProps, { code: 'E_X', errno: -2, retryable: false, none: null, long: 'y'.repeat(1000) + '…' });
    assert.equal((err.cause as { code?: string }).code, 'E_X');
    assert.equal((err.cause as Error).message, 'with code');
    // Node's system errors: code, errno, syscall and path.
    const missing = await client.view(1).apply(() => process.getBuiltinModule('node:fs').readFileSync('/nonexistent/tsparallel')).then(() => undefined, (e: unknown) => e);
    assert.ok(missing instanceof RemoteError);
    assert.equal(missing.remoteProps?.code, 'ENOENT');
    assert.equal(missing.remoteProps?.syscall, 'open');
    assert.equal(missing.remoteProps?.path, '/nonexistent/tsparallel');
    assert.equal(typeof missing.remoteProps?.errno, 'number');
    const many = await client.view(0).apply(() => {
      throw Object.assign(new Error('many'), Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`p${i}`, i])));
    }).then(() => undefined, (e: unknown) => e);
    assert.equal(Object.keys((many as RemoteError).remoteProps ?? {}).length, 20);
    // An error without such properties has none.
    const plain = await client.view(0).apply(() => {
      throw new TypeError('plain');
    }).then(() => undefined, (e: unknown) => e);
    assert.equal((plain as RemoteError).remoteProps, undefined);
  });

  it('fails before sending when an argument cannot be serialized, naming the argument', () => {
    assert.throws(
      () => client.view().apply((a: number, f: () => number) => a + f(), 1, () => 2),
      (err: unknown) =>
        err instanceof SerializationError && /argument 2 \(the function/.test(err.message) && /could not be cloned\. Send data/.test(err.message) && /define helpers on the engines with view\.execute/.test(err.message),
    );
    assert.throws(
      () => client.view().push({ data: { f: () => 1 } }),
      (err: unknown) => err instanceof SerializationError && /could not be cloned$/.test(err.message),
    );
  });

  it('reports a result that cannot be sent back', async () => {
    const err = await client.view(0).apply(() => () => 1).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RemoteError);
    assert.equal(err.remoteName, 'SerializationError');
    assert.match(err.message, /result could not be sent back/);
  });

  it('reports a module reference whose export is not a function', async () => {
    const err = await client.view(0).apply(fromModule('../fixtures/tasks.js', 'notAFunction', import.meta.url)).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RemoteError);
    assert.match(err.message, /no exported function 'notAFunction' \(its exports: .*saltedHash/);
  });

  it('refuses views of targets that are not engine ids, naming what came instead', () => {
    const bad: unknown[] = [{ targets: [0] }, ['0'], [0.5], -1, 'all', null];
    for (const targets of bad) {
      assert.throws(() => client.view(targets as number[]), /view\(targets\): targets must be an engine id or an array of them \(whole numbers >= 0, as client\.ids lists them\), got /);
      assert.throws(() => client.loadBalancedView(targets as number[]), /loadBalancedView\(targets\): targets must be an array of engine ids/);
    }
    assert.throws(() => client.view({ targets: [0] } as unknown as number[]), /got an Object$/);
    assert.deepEqual(client.view([1]).targets, [1]);
    assert.deepEqual(client.view(0).targets, [0]);
  });

  it('refuses native functions that have no source text', () => {
    assert.throws(() => client.view().apply(Math.sqrt, 4), /native or bound/);
  });

  it('keeps serving after errors', async () => {
    assert.deepEqual(await client.view().apply(() => 'still fine'), ['still fine', 'still fine']);
  });
});

describe('connection failures', () => {
  it('fails at once, saying how to start one, when the profile has no running cluster', async () => {
    const tmp = await tempDir();
    const started = Date.now();
    await assert.rejects(Client.connect({ profileDir: tmp.dir }), (err: Error) => {
      assert.equal(err.name, 'ConfigError');
      assert.match(err.message, /no running cluster in profile/);
      // Named by its directory: 'default', its name, would be another profile.
      assert.ok(err.message.includes(`tscluster start --profile-dir ${tmp.dir}`), err.message);
      assert.ok(err.message.includes(`createCluster({ profileDir: '${tmp.dir}' })`), err.message);
      assert.match(err.message, /createCluster/);
      return true;
    });
    assert.ok(Date.now() - started < 2000, 'no waiting for a timeout');
    await tmp.remove();
  });

  it('gets nothing through with the wrong key: connect fails within its timeout with a clear error', async () => {
    const tmp = await tempDir();
    await using cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
    const info = JSON.parse(await readFile(cluster.clientConnectionFile, 'utf8'));
    const forged = path.join(tmp.dir, 'forged-client.json');
    await writeFile(forged, JSON.stringify({ ...info, key: 'f'.repeat(64) }));
    await assert.rejects(Client.connect({ connectionFile: forged, timeoutMs: 800 }), (err: Error) => {
      assert.equal(err.name, 'TimeoutError');
      assert.match(err.message, /did not answer within 800 ms/);
      assert.match(err.message, /key in the connection file does not match/);
      return true;
    });
    // The real key still works.
    await using client = await cluster.connect();
    assert.deepEqual(client.ids, [0]);
    await tmp.remove();
  });

  it('reports a stale connection file of a dead controller at once', async () => {
    const tmp = await tempDir();
    const cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
    const file = cluster.clientConnectionFile;
    const saved = await readFile(file, 'utf8');
    await cluster.stop();
    const info = JSON.parse(saved);
    await writeFile(file, JSON.stringify({ ...info, controller: { ...info.controller, pid: 999_999_9 } }));
    await assert.rejects(Client.connect({ profileDir: tmp.dir, clusterId: '' }), { name: 'ConfigError', message: /is not running .* stale/ });
    await tmp.remove();
  });
});

describe('engine and controller death', () => {
  it('declares a killed engine dead, fails its task with EngineDiedError, and keeps serving the rest', async () => {
    await using t = await startTestCluster(2, { controller: { ...FAST_HEARTBEAT } });
    const client = t.client;
    const [pid0] = await client.view([0]).apply(() => process.pid);
    const task = client.view(0).apply(() => new Promise((r) => setTimeout(r, 60_000)));
    const outcome = task.then(() => 'resolved', (e: unknown) => e);
    process.kill(pid0!, 'SIGKILL');
    const err = await outcome;
    assert.ok(err instanceof EngineDiedError, String(err));
    assert.equal(err.engineId, 0);
    await waitUntil(() => !client.ids.includes(0), 5000, 'engine 0 leaves client.ids');
    assert.deepEqual(client.ids, [1]);
    assert.deepEqual(await client.view().apply(() => 'alive'), ['alive']);
    // A request to the dead engine fails at once.
    await assert.rejects(client.view(0).apply(() => 1), (e: unknown) => e instanceof EngineDiedError);
  });

  it('does not take an engine busy with a long synchronous task for a dead one', async () => {
    await using t = await startTestCluster(1, { controller: { heartbeatMs: 100, heartbeatTimeoutMs: 600 } });
    const client = t.client;
    const spin = await client.view(0).apply(() => {
      const end = Date.now() + 2000;
      let n = 0;
      while (Date.now() < end) n++;
      return n > 0;
    });
    assert.equal(spin, true);
    assert.deepEqual(client.ids, [0]);
  });

  it('engines exit by themselves when their controller is gone', async () => {
    const tmp = await tempDir();
    const cluster = await createCluster({ n: 2, profileDir: tmp.dir, projectDir: null, controller: { ...FAST_HEARTBEAT } });
    const [controllerPid, ...enginePids] = cluster.pids;
    process.kill(controllerPid!, 'SIGKILL');
    await waitUntil(() => enginePids.every((p) => !isAlive(p)), 10_000, 'engines exit after their controller died');
    // Each says why in its log (its stderr), not only in a debug line.
    const logs = (await readdir(path.join(tmp.dir, 'log'))).filter((f) => f.startsWith('engine'));
    assert.equal(logs.length, 2, `engine logs: ${logs.join(', ')}`);
    for (const file of logs) {
      const text = await readFile(path.join(tmp.dir, 'log', file), 'utf8');
      assert.match(text, /tsengine: engine \d+ stopped: no ping from the controller at tcp:\/\/\S+ for \d+ ms \(controller\.heartbeatTimeoutMs 1500 ms\): it is gone/, file);
    }
    await cluster.stop();
    await tmp.remove();
  });
});
