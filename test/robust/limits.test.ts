/**
 * Issue 13, limits on input: the controller accepts no message above `controller.maxMessageBytes` (ZeroMQ drops
 * the peer that sends one), and a client refuses to send one, with a clear error, before it leaves.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProtocolError } from '../../src/index.js';
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
