/**
 * Defect 1 of issue 13: validly signed but malformed messages, sent with raw ZeroMQ sockets to every listening
 * endpoint of a real cluster, are dropped and counted (and answered with an error where they have a sender); no
 * socket goes deaf and no process dies.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readConnectionFile } from '../../src/wire/connection.js';
import { ProtocolError } from '../../src/core/errors.js';
import { isAlive, startTestCluster } from '../support/cluster.js';
import { RawPeer } from '../support/raw-peer.js';
import { Channels } from '../../src/wire/protocol.js';

const square = (x: number) => x * x;

test('malformed but signed messages on every endpoint are dropped, counted, answered, and deafen nothing', { timeout: 90_000 }, async () => {
  const tc = await startTestCluster(2);
  // Closed however the test ends: an open raw socket would keep the test's process alive after a failed assertion.
  const peers: RawPeer[] = [];
  const peer = (...args: ConstructorParameters<typeof RawPeer>): RawPeer => {
    const p = new RawPeer(...args);
    peers.push(p);
    return p;
  };
  try {
    const { client, cluster } = tc;
    const engineInfo = await readConnectionFile(cluster.engineConnectionFile);
    const key = client.info.key;
    const fn = { source: '(x) => x' };

    // Controller, client endpoint: the malformed messages of the issue, then the same socket must still work.
    const c = peer(client.info.address, key);
    const asked: string[] = [];
    asked.push(await c.send('apply_request', { fn }, { metadata: null }));
    asked.push(await c.send('abort_request', null));
    asked.push(await c.send('abort_request', { msgIds: 5 }));
    asked.push(await c.send('resubmit_request', { tasks: [null] }));
    asked.push(await c.send('task_records_request', { filter: null }));
    asked.push(await c.send('purge_request', { msgIds: 5 }));
    asked.push(await c.send('result_request', { msgIds: [7] }));
    asked.push(await c.send('apply_request', { fn }, { metadata: { balanced: true, targets: 'ab' } }));
    asked.push(await c.send('apply_request', { fn }, { metadata: { balanced: true, after: 5 } }));
    asked.push(await c.send('apply_request', null, { metadata: { balanced: true } }));
    asked.push(await c.send('map_request', { fn: 7 }, { metadata: { target: 0 } }));

    // Controller, engine endpoint: bad registration, bad task record, tasks given back without ids, replies with null
    // content or parent.
    const e = peer(engineInfo.address, key, Channels.engineToCluster);
    await e.send('registration_request', null);
    await e.send('task_records', null);
    await e.send('task_records', { records: [null] });
    await e.send('tasks_returned', { msgIds: 5 });
    await e.send('apply_reply', null, { parent: { msg_id: 'x' } });
    await e.send('apply_reply', { status: 'ok' }, { parent: null });
    // Controller, heartbeat endpoint: arbitrary frames.
    const h = peer(engineInfo.heartbeatAddress!, key, Channels.engineToCluster);
    await h.socket.send([Buffer.from('garbage'), Buffer.alloc(0)]);

    // An engine's direct endpoint: apply_request with content null, abort_request with content null, result_request
    // with ids that are not strings.
    const directEngine = [...client.engines.values()].find((x) => x.direct);
    const direct = directEngine?.direct;
    assert.ok(direct, 'the engines listen for direct requests');
    const d = peer(direct, key, Channels.clientToEngine(directEngine!.id));
    const directAsked = await d.send('apply_request', null, { metadata: { target: 0 } });
    await d.send('abort_request', null);
    const directResultAsked = await d.send('result_request', { msgIds: [7] });

    // Every request with a sender got an error naming the problem.
    const deadline = Date.now() + 10_000;
    while ((c.received.length < asked.length || d.received.length < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const id of asked) {
      const reply = c.received.find((m) => m.parent.msg_id === id);
      assert.ok(reply, `request ${id} was answered`);
      const content = reply.content as { status: string; error: { name: string; message: string } };
      assert.equal(content.status, 'error');
      assert.equal(content.error.name, 'ProtocolError');
      assert.match(content.error.message, /invalid \w+_request: /);
    }
    const dReply = d.received.find((m) => m.parent.msg_id === directAsked);
    assert.ok(dReply, 'the engine answered the bad direct request');
    assert.equal((dReply.content as { error: { name: string } }).error.name, 'ProtocolError');
    const dResult = d.received.find((m) => m.parent.msg_id === directResultAsked);
    assert.ok(dResult, 'the engine answered the bad result_request');
    assert.match((dResult.content as { error: { message: string } }).error.message, /invalid result_request: content.msgIds/);

    // The public API: a null filter is a clear error, not a timeout, and nothing is deafened afterwards.
    await assert.rejects(client.taskRecords(null as never), (err: Error) => err instanceof ProtocolError && /filter/.test(err.message));
    assert.deepEqual(await client.loadBalancedView().map(square, [1, 2, 3, 4]), [1, 4, 9, 16]);
    assert.deepEqual(await client.view().apply(() => 7), [7, 7]);
    const status = (await client.queueStatus()) as { dropped: { invalid: number } };
    assert.ok(status.dropped.invalid >= asked.length + 5, `controller counted ${status.dropped.invalid} invalid messages`);
    // A second client still connects, and the raw client socket still gets answers.
    const other = await cluster.connect({ timeoutMs: 10_000 });
    assert.deepEqual(await other.view(1).apply(() => 'alive'), 'alive');
    await other.close();
    for (const pid of cluster.pids) assert.ok(isAlive(pid), `process ${pid} is still alive`);
  } finally {
    for (const p of peers) p.close();
    await tc.stop();
  }
});
