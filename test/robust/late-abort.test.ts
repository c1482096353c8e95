/**
 * An abort that reaches an engine after the task it names has ended (a time limit that fired as the task finished)
 * must not linger there: the same task sent to that engine again (a retry on the only engine it may run on) runs,
 * rather than being dropped as aborted before it started. Driven over a real engine's direct endpoint with a raw
 * peer, which can send a request again under its id as the controller does for a retry.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Channels, type Message } from '../../src/wire/protocol.js';
import { startTestCluster, waitUntil } from '../support/cluster.js';
import { RawPeer } from '../support/raw-peer.js';
import { deserialize, serialize } from '../../src/wire/serialize.js';

test('an abort that comes after its task ended is not kept, so the task sent again runs', { timeout: 60_000 }, async () => {
  await using tc = await startTestCluster(1);
  const { client } = tc;
  await client.waitForEngines(1);
  const engine = [...client.engines.values()][0]!;
  assert.ok(engine.direct, 'the engine listens for direct requests');
  const peer = new RawPeer(engine.direct, client.info.key, Channels.clientToEngine(engine.id));
  try {
    const fn = { source: '() => 7' };
    const replies = (id: string): Message[] => peer.received.filter((m) => m.parent.msg_id === id);
    const id = await peer.send('apply_request', { fn }, { metadata: { target: engine.id }, buffers: serialize([]) });
    await waitUntil(() => replies(id).length === 1, 20_000, 'the first run is answered');
    assert.equal(replies(id)[0]!.content.status, 'ok', JSON.stringify(replies(id)[0]!.content));

    // The abort comes after the reply: nothing of that id is queued any more.
    await peer.send('abort_request', { msgIds: [id] });
    // The same request again, under its id (a fresh date and signature, as a retry has).
    await peer.send('apply_request', { fn }, { metadata: { target: engine.id }, buffers: serialize([]), msgId: id });
    await waitUntil(() => replies(id).length === 2, 20_000, 'the second run is answered');
    const again = replies(id)[1]!;
    assert.equal(again.content.status, 'ok', `the task ran again, not ${JSON.stringify(again.content)}`);
    assert.deepEqual(deserialize(again.buffers), 7);

    // An abort that does come in time still drops a queued request: one behind a task that awaits is aborted
    // before it runs.
    const busy = await peer.send('apply_request', { fn: { source: 'async () => { await new Promise((r) => setTimeout(r, 300)); return 1; }' } }, { metadata: { target: engine.id }, buffers: serialize([]) });
    const queued = await peer.send('apply_request', { fn }, { metadata: { target: engine.id }, buffers: serialize([]) });
    await peer.send('abort_request', { msgIds: [queued] });
    await waitUntil(() => replies(busy).length === 1 && replies(queued).length === 1, 20_000, 'both answered');
    assert.equal(replies(busy)[0]!.content.status, 'ok');
    assert.equal(replies(queued)[0]!.content.status, 'aborted');
  } finally {
    peer.close();
  }
});
