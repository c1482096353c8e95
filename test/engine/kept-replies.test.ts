/**
 * KeptReplies (src/engine/kept-replies.ts): the replies an engine keeps to send again, within a count, a byte bound
 * and an age.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KeptReplies } from '../../src/engine/kept-replies.js';
import type { Message } from '../../src/wire/protocol.js';

/** A reply to `id` with `bytes` bytes of buffers. */
function reply(id: string, bytes = 0): { reply: Message<unknown> } {
  return { reply: { header: { msg_type: 'apply_reply' } as Message['header'], parent: { msg_id: id } as Message['header'], metadata: {}, content: {}, buffers: bytes ? [Buffer.alloc(bytes)] : [] } };
}

describe('KeptReplies', () => {
  it('keeps the newest replies within the count, oldest out first', () => {
    const kept = new KeptReplies({ replies: 3, bytes: 1e9 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) kept.keep(id, reply(id));
    assert.deepEqual(kept.ids(), ['c', 'd', 'e']);
    assert.equal(kept.size, 3);
    assert.equal(kept.get('a'), undefined);
    assert.equal(kept.get('e')!.reply.parent.msg_id, 'e');
    assert.deepEqual(kept.values().map((v) => v.reply.parent.msg_id), ['c', 'd', 'e']);
  });

  it('keeps within the byte bound, and not at all a reply larger than it', () => {
    const kept = new KeptReplies({ replies: 100, bytes: 1000 });
    kept.keep('a', reply('a', 400));
    kept.keep('b', reply('b', 400));
    kept.keep('c', reply('c', 400));
    assert.deepEqual(kept.ids(), ['b', 'c'], '1,200 bytes is over: the oldest goes');
    kept.keep('huge', reply('huge', 5000));
    assert.deepEqual(kept.ids(), [], 'a reply over the bound pushes everything out, itself too');
    kept.keep('d', reply('d', 900));
    assert.deepEqual(kept.ids(), ['d'], 'and the bytes counted are right afterwards');
  });

  it('counts the output a task printed with the bytes: a chatty task cannot fill memory through the count bound', () => {
    const kept = new KeptReplies({ replies: 100, bytes: 1000 });
    const chatty = (id: string) => ({ reply: { ...reply(id).reply, content: { status: 'ok', stdout: 'x'.repeat(300), stderr: 'y'.repeat(100) } } });
    kept.keep('a', chatty('a'));
    kept.keep('b', chatty('b'));
    kept.keep('c', chatty('c'));
    assert.deepEqual(kept.ids(), ['b', 'c'], '3 × 400 characters is over 1,000: the oldest goes');
  });

  it('a reply kept again under its id replaces the old one, in its place, counting its bytes once', () => {
    const kept = new KeptReplies({ replies: 100, bytes: 1000 });
    kept.keep('a', reply('a', 600));
    kept.keep('b', reply('b', 100));
    kept.keep('a', reply('a', 700));
    assert.deepEqual(kept.ids(), ['a', 'b']);
    assert.equal(kept.get('a')!.reply.buffers[0]!.length, 700);
    kept.keep('c', reply('c', 300));
    assert.deepEqual(kept.ids(), ['b', 'c'], '700 + 100 + 300 is over: a goes');
  });

  it('drops replies older than the age by itself, and clear() forgets all', async () => {
    const kept = new KeptReplies({ replies: 100, bytes: 1e9, ms: 100 });
    kept.keep('old', reply('old'));
    await new Promise((r) => setTimeout(r, 60));
    kept.keep('newer', reply('newer'));
    await new Promise((r) => setTimeout(r, 70));
    assert.deepEqual(kept.ids(), ['newer'], 'the first expired 100 ms after it was kept');
    await new Promise((r) => setTimeout(r, 80));
    assert.deepEqual(kept.ids(), [], 'and the second after its own 100 ms');
    kept.keep('x', reply('x'));
    kept.clear();
    assert.equal(kept.size, 0);
  });
});
