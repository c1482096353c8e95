/**
 * Wire batches: packing and unpacking, malformed batches dropped, and the send queue's grouping (per peer, in order,
 * within the bounds), with a recording sender standing in for the socket (the ZeroMQ round trip is covered by every
 * e2e test, which all run over batching sockets).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BATCH_MARKER, BatchingSendQueue, MAX_BATCH_MESSAGES, packBatch, unpackBatch } from '../../src/transport/batch.js';

const b = (s: string) => Buffer.from(s);
const text = (messages: Buffer[][]) => messages.map((m) => m.map((f) => f.toString()));

/** A queue whose sends are recorded and settle one macrotask later, as a socket's would. */
function recordingQueue(routed: boolean) {
  const sent: Buffer[][] = [];
  const queue = new BatchingSendQueue(
    async (frames) => {
      sent.push(frames);
      await new Promise((r) => setImmediate(r));
    },
    () => assert.fail('no send fails here'),
    routed,
  );
  return { queue, sent };
}

/**
 * Wait until `sent` holds `count` sends (bounded: a loaded machine may take longer than any fixed sleep), then one
 * more macrotask, so a send beyond the expected ones would be seen too.
 */
async function settle(sent: unknown[], count: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (sent.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  await new Promise((r) => setTimeout(r, 20));
}

describe('wire batches', () => {
  it('unpacks what it packed, and passes a message that is not a batch through unchanged', () => {
    const messages = [[b('a1'), b('a2')], [b('b1')], [b('c1'), b('c2'), b('c3')]];
    const packed = packBatch(messages);
    assert.ok(packed[0]!.equals(BATCH_MARKER));
    assert.deepEqual(text(unpackBatch(packed)), [['a1', 'a2'], ['b1'], ['c1', 'c2', 'c3']]);
    const single = [b('<IDS|MSG>'), b('sig')];
    assert.deepEqual(unpackBatch(single), [single]);
  });

  it('drops a malformed batch whole', () => {
    const packed = packBatch([[b('a')], [b('b'), b('c')]]);
    assert.deepEqual(unpackBatch(packed.slice(0, -1)), [], 'a frame missing');
    assert.deepEqual(unpackBatch([...packed, b('extra')]), [], 'a frame too many');
    assert.deepEqual(unpackBatch([BATCH_MARKER, Buffer.alloc(3)]), [], 'counts not whole uint32s');
    assert.deepEqual(unpackBatch([BATCH_MARKER]), [], 'no counts');
  });

  it('sends a lone message as it is, then batches what gathers for each peer, in order', async () => {
    const { queue, sent } = recordingQueue(true);
    queue.push([b('p1'), b('m0')]);
    // These arrive while the first send is in flight.
    for (let i = 1; i <= 4; i++) queue.push([b(i % 2 ? 'p1' : 'p2'), b(`m${i}`)]);
    await settle(sent, 3);
    assert.deepEqual(sent[0]!.map(String), ['p1', 'm0']);
    const after = sent.slice(1).map((frames) => ({ peer: frames[0]!.toString(), messages: text(unpackBatch(frames.slice(1))) }));
    assert.deepEqual(after, [
      { peer: 'p1', messages: [['m1'], ['m3']] },
      { peer: 'p2', messages: [['m2'], ['m4']] },
    ]);
  });

  it('keeps a batch within MAX_BATCH_MESSAGES, and a connection (not routed) batches everything in order', async () => {
    const { queue, sent } = recordingQueue(false);
    queue.push([b('first')]);
    const n = MAX_BATCH_MESSAGES + 10;
    for (let i = 0; i < n; i++) queue.push([b(`m${i}`)]);
    await settle(sent, 3);
    const unpacked = sent.slice(1).map((frames) => unpackBatch(frames));
    assert.deepEqual(unpacked.map((m) => m.length), [MAX_BATCH_MESSAGES, 10]);
    assert.deepEqual(unpacked.flat().map((m) => m[0]!.toString()), Array.from({ length: n }, (_, i) => `m${i}`));
  });

  it('after a deep drain, waits for the messages of the same macrotask to gather into one batch', async () => {
    const { queue, sent } = recordingQueue(false);
    queue.push([b('x')]);
    queue.push([b('y')]);
    queue.push([b('z')]);
    await settle(sent, 2);
    const before = sent.length;
    // The queue is idle now but was deep: three messages pushed in one macrotask leave as one batch.
    queue.push([b('1')]);
    queue.push([b('2')]);
    queue.push([b('3')]);
    await settle(sent, before + 1);
    assert.deepEqual(sent.slice(before).map((frames) => text(unpackBatch(frames))), [[['1'], ['2'], ['3']]]);
  });
  it('sendNow hands the waiting messages and its own to the socket at once, while a send is still settling (an exiting process)', () => {
    const sent: Buffer[][] = [];
    // A send that never settles: in a process's 'exit' event, no promise does.
    const queue = new BatchingSendQueue(
      (frames) => {
        sent.push(frames);
        return new Promise<void>(() => {});
      },
      () => assert.fail('no send fails here'),
      false,
    );
    queue.push([b('first')]);
    queue.push([b('second')]);
    queue.push([b('third')]);
    assert.deepEqual(text(sent), [['first']], 'the queue waits for the first send to settle');
    queue.sendNow([b('bye')]);
    assert.equal(queue.length, 0);
    // The ones that waited and its own leave together (one batch), before sendNow returns.
    assert.equal(sent.length, 2);
    assert.deepEqual(text(unpackBatch(sent[1]!)), [['second'], ['third'], ['bye']]);
  });
});
