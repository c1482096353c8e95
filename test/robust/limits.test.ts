/**
 * Issue 13, limits on input: the controller accepts no message above `controller.maxMessageBytes` (ZeroMQ drops
 * the peer that sends one), and a client refuses to send one, with a clear error, before it leaves. An engine keeps
 * its own messages within the limit the controller told it: a result too large fails its task with a clear error
 * (not retried) and the engine goes on; output too large is cut; replies too large together go in parts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError, range } from '../../src/index.js';
import { isAlive, startTestCluster } from '../support/cluster.js';
import { RawPeer } from '../support/raw-peer.js';

test('messages above maxMessageBytes are refused by the client with a clear error and dropped by the controller', { timeout: 60_000 }, async () => {
  const tc = await startTestCluster(1, { controller: { maxMessageBytes: 100_000 } });
  try {
    const { client, cluster } = tc;
    const big = new Float64Array(20_000); // 160 KB
    assert.throws(
      () => client.loadBalancedView().apply((a: Float64Array) => a.length, big),
      (err: Error) => err instanceof ProtocolError && /more than the controller's limit of 100000 bytes/.test(err.message),
    );
    // A raw peer ignoring the limit: its message never reaches the controller, which stays up and answers others.
    const raw = new RawPeer(client.info.address, client.info.key);
    const id = await raw.send('apply_request', { fn: { source: '(a) => a.length' } }, { metadata: { balanced: true }, buffers: [Buffer.alloc(200_000)] });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(raw.received.find((m) => m.parent.msg_id === id), undefined);
    assert.equal(await client.loadBalancedView().apply((a: Float64Array) => a.length, new Float64Array(1000)), 1000);
    const records = await client.taskRecords();
    assert.ok(!records.some((r) => r.msgId === id), 'the oversized task never reached the controller');
    for (const pid of cluster.pids) assert.ok(isAlive(pid));
    raw.close();
  } finally {
    await tc.stop();
  }
});

test('a load-balanced result above maxMessageBytes fails its task with a clear error, not retried; the engine goes on', { timeout: 60_000 }, async () => {
  await using tc = await startTestCluster(2, { controller: { maxMessageBytes: 1024 * 1024 } });
  const { client, cluster } = tc;
  await client.waitForEngines(2);
  const lb = client.loadBalancedView();
  const big = lb.apply(() => new Float64Array(262_144)); // 2 MiB
  await assert.rejects(big.get({ timeoutMs: 20_000 }), (err: Error) => {
    assert.ok(err instanceof ProtocolError, `a ProtocolError, not ${String(err)}`);
    const said = /the result of task \S+ on engine \d is (\d+) bytes, more than the controller accepts \(controller\.maxMessageBytes = 1048576\): return less .*direct view.*or raise controller\.maxMessageBytes/.exec(err.message);
    assert.ok(said && Number(said[1]) >= 2 * 1024 * 1024, err.message);
    return true;
  });
  // The same engine answers the next task.
  const engineId = big.metadata[0]!.engineId;
  const { pid } = client.engines.get(engineId)!;
  assert.equal(await client.loadBalancedView([engineId]).apply(() => process.pid).get({ timeoutMs: 10_000 }), pid);
  // Retries do not help: it is the result, not the engine. It fails once, and no engine is lost.
  const retried = lb.with({ retries: 3 }).apply(() => new Float64Array(262_144));
  await assert.rejects(retried.get({ timeoutMs: 20_000 }), (err: Error) => err instanceof ProtocolError && /more than the controller accepts/.test(err.message));
  const [record] = await client.taskRecords({ msgIds: retried.msgIds });
  assert.equal(record!.retries, 0, 'not run again');
  // A direct view's reply skips the controller, as the message says.
  assert.equal((await client.view(engineId).apply(() => new Float64Array(262_144))).length, 262_144);
  assert.deepEqual([...client.ids].sort(), [0, 1]);
  for (const p of cluster.pids) assert.ok(isAlive(p));
});

test('output above maxMessageBytes is cut in its middle, with a note', { timeout: 60_000 }, async () => {
  await using tc = await startTestCluster(1, { controller: { maxMessageBytes: 1024 * 1024 } });
  const { client, cluster } = tc;
  await client.waitForEngines(1);
  const lb = client.loadBalancedView();
  const chatty = lb.apply(() => {
    process.stdout.write('a'.repeat(800_000) + 'z'.repeat(800_000));
    return 7;
  });
  assert.equal(await chatty.get({ timeoutMs: 20_000 }), 7);
  const [out] = chatty.stdout;
  assert.ok(out!.length < 1024 * 1024, `cut to fit: ${out!.length} characters`);
  assert.match(out!, /^a+\n\[tsparallel: \d+ of 1600000 characters of output cut here: a reply through the controller is at most controller\.maxMessageBytes = 1048576 bytes\]\nz+$/);
  for (const p of cluster.pids) assert.ok(isAlive(p));
});

test('replies too large together go in parts', { timeout: 60_000 }, async () => {
  await using tc = await startTestCluster(1, { controller: { maxMessageBytes: 512 * 1024 } });
  const { client, cluster } = tc;
  await client.waitForEngines(1);
  const lb = client.loadBalancedView();
  // Quick tasks of 60 KB results each (packed together into one frame of a batch, being under 64 KiB): the engine
  // holds their replies to send them together, up to 1 MiB of them, more than the limit.
  const parts = await lb.map((i: number) => new Uint8Array(60_000).fill(i), range(64)).get({ timeoutMs: 30_000 });
  assert.deepEqual(parts.map((a) => [a.length, a[0], a[59_999]]), range(64).map((i) => [60_000, i, i]));
  // Replies of chatty tasks: their output travels in the batch's content frame.
  const chatty = lb.map((i: number) => console.log(String(i).repeat(100_000)), range(16));
  await chatty.get({ timeoutMs: 30_000 });
  assert.deepEqual(chatty.stdout.map((out) => out.length), range(16).map((i) => String(i).length * 100_000 + 1));
  for (const p of cluster.pids) assert.ok(isAlive(p));
  assert.deepEqual([...client.ids], [0]);
});
