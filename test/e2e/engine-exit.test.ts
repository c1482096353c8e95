/**
 * A task that calls `process.exit(code)` on a live local engine: the engine exits with that code (it used to abort
 * in zeromq.js's native code, SIGABRT "Napi::Error", once its heart's worker thread was up: see
 * test/transport/heart-exit.test.ts), the task fails with an `EngineDiedError` whose `exitCode` is the code (the
 * engine tells the controller as it exits), through the direct route and the load balancer alike, the launcher's
 * exit info has the code, and the other engines go on. The same for ssh and mpi engines is in their suites.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineDiedError, type EngineChange } from '../../src/index.js';
import type { ExitInfo } from '../../src/core/launcher.js';
import { isAlive, startTestCluster, waitUntil } from '../support/cluster.js';

test('process.exit(code) in a task: the engine exits with that code, the task fails with EngineDiedError carrying it', { timeout: 90_000 }, async (t) => {
  const tc = await startTestCluster(3, { controller: { heartbeatMs: 100, heartbeatTimeoutMs: 20_000 } });
  const pids = [...tc.cluster.pids];
  t.after(async () => {
    await tc.stop().catch(() => {});
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  });
  const { client, cluster } = tc;
  const exits: ExitInfo[] = [];
  cluster.onEngineExit((e) => exits.push(e));
  const changes: EngineChange[] = [];
  client.onEngineChange((c) => changes.push(c));
  const byId = new Map([...client.engines.values()].map((e) => [e.id, e.pid]));
  pids.push(...byId.values());
  // The abort (of the worker heart) happened only once the heart had opened its socket: let every heart answer.
  assert.deepEqual(await client.view().apply(() => 1), [1, 1, 1]);
  await new Promise((r) => setTimeout(r, 1500));

  const direct = await client.view(0).apply(() => process.exit(3)).then(
    () => assert.fail('a task that exits its engine cannot succeed'),
    (err: unknown) => err,
  );
  assert.ok(direct instanceof EngineDiedError, String(direct));
  assert.equal(direct.engineId, 0);
  assert.equal(direct.exitCode, 3, direct.message);
  assert.match(direct.message, /exited with code 3/);

  const balanced = await client.loadBalancedView([1]).apply(() => process.exit(5)).then(
    () => assert.fail('a task that exits its engine cannot succeed'),
    (err: unknown) => err,
  );
  assert.ok(balanced instanceof EngineDiedError, String(balanced));
  assert.equal(balanced.exitCode, 5, balanced.message);

  await waitUntil(() => exits.length >= 2, 20_000, 'the local launcher reports both engines');
  const report = (pid: number) => exits.find((e) => e.id === String(pid));
  for (const [id, code] of [[0, 3], [1, 5]] as const) {
    const info = report(byId.get(id)!);
    assert.ok(info, `engine ${id} (pid ${byId.get(id)}) reported: ${JSON.stringify(exits)}`);
    assert.deepEqual({ code: info.code, signal: info.signal }, { code, signal: null }, info.stderrTail);
    assert.doesNotMatch(info.stderrTail ?? '', /Napi::Error|terminate called/);
  }
  const gone = changes.find((c) => c.type === 'unregistered' && c.id === 0);
  assert.match(gone?.reason ?? '', /its process exited with code 3/, 'clients are told why');
  assert.deepEqual(client.ids, [2]);
  assert.equal(await client.view(2).apply(() => 6 * 7), 42, 'the other engine goes on');
});
