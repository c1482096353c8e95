import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DELIMITER, Session } from '../../src/wire/protocol.js';

const KEY = 'a'.repeat(64);

describe('protocol: framing and signing', () => {
  it('frames a message as delimiter, signature, four JSON frames and buffers, and decodes it back', () => {
    const a = new Session(KEY);
    const b = new Session(KEY);
    const msg = a.message('apply_request', { fn: { source: 'x => x' } }, { metadata: { target: 3 }, buffers: [Buffer.from([1, 2, 3])] });
    const frames = a.encode(msg);
    assert.equal(frames.length, 7);
    assert.ok(frames[0]!.equals(DELIMITER));
    assert.match(frames[1]!.toString(), /^[0-9a-f]{64}$/);
    const back = b.decode(frames)!;
    assert.deepEqual(back.header, msg.header);
    assert.deepEqual(back.content, { fn: { source: 'x => x' } });
    assert.deepEqual(back.metadata, { target: 3 });
    assert.deepEqual([...back.buffers[0]!], [1, 2, 3]);
  });

  it('skips routing identities before the delimiter', () => {
    const a = new Session(KEY);
    const frames = [Buffer.from('client-1'), ...a.encode(a.message('ping', {}))];
    assert.equal(new Session(KEY).decode(frames)?.header.msg_type, 'ping');
  });

  it('drops and counts a message signed with another key', () => {
    const other = new Session('b'.repeat(64));
    const receiver = new Session(KEY);
    assert.equal(receiver.decode(other.encode(other.message('apply_request', {}))), undefined);
    assert.equal(receiver.dropped.badSignature, 1);
  });

  it('drops a message whose content was changed after signing', () => {
    const a = new Session(KEY);
    const frames = a.encode(a.message('apply_request', { n: 1 }));
    frames[5] = Buffer.from(JSON.stringify({ n: 2 }));
    const receiver = new Session(KEY);
    assert.equal(receiver.decode(frames), undefined);
    assert.equal(receiver.dropped.badSignature, 1);
  });

  it('drops a replayed message', () => {
    const a = new Session(KEY);
    const frames = a.encode(a.message('apply_request', {}));
    const receiver = new Session(KEY);
    assert.ok(receiver.decode(frames));
    assert.equal(receiver.decode(frames), undefined);
    assert.equal(receiver.dropped.replayed, 1);
  });

  it('drops malformed frames without throwing', () => {
    const receiver = new Session(KEY);
    assert.equal(receiver.decode([Buffer.from('junk')]), undefined);
    assert.equal(receiver.decode([DELIMITER, Buffer.from('sig')]), undefined);
    assert.equal(receiver.dropped.malformed, 2);
    // Correctly signed but not JSON:
    const a = new Session(KEY);
    const frames = a.encode(a.message('x', {}));
    const bad = [frames[0]!, Buffer.alloc(0), Buffer.from('{not json'), frames[3]!, frames[4]!, frames[5]!];
    const { createHmac } = process.getBuiltinModule('node:crypto');
    const h = createHmac('sha256', KEY);
    for (const f of bad.slice(2, 6)) h.update(f);
    bad[1] = Buffer.from(h.digest('hex'));
    assert.equal(receiver.decode(bad), undefined);
    assert.equal(receiver.dropped.malformed, 3);
  });

  it('forgets old signatures past its history limit but never accepts a replay within it', () => {
    const a = new Session(KEY);
    const receiver = new Session(KEY, { historyLimit: 100 });
    const all = Array.from({ length: 150 }, () => a.encode(a.message('m', {})));
    for (const f of all) assert.ok(receiver.decode(f));
    assert.equal(receiver.decode(all[149]!), undefined);
  });
});
