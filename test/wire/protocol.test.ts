import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { BULK_MAC_BYTES, Channels, DELIMITER, Session } from '../../src/wire/protocol.js';

const KEY = 'a'.repeat(64);
const TO_CONTROLLER = [Channels.clientToCluster];

/** Sign frames the way a Session does (their lengths, then the frames), to forge validly signed oddities. */
function sign(parts: readonly Buffer[]): Buffer {
  const h = createHmac('sha256', KEY);
  const lengths = Buffer.alloc(4 * parts.length);
  parts.forEach((p, i) => lengths.writeUInt32BE(p.length, 4 * i));
  h.update(lengths);
  for (const p of parts) h.update(p);
  return Buffer.from(h.digest('hex'));
}

describe('protocol: framing and signing', () => {
  it('frames a message as delimiter, signature, four JSON frames and buffers, and decodes it back', () => {
    const a = new Session(KEY);
    const b = new Session(KEY);
    const msg = a.message('apply_request', { fn: { source: 'x => x' } }, { metadata: { target: 3 }, buffers: [Buffer.from([1, 2, 3])] });
    const frames = a.encode(msg, Channels.clientToCluster);
    assert.equal(frames.length, 7);
    assert.ok(frames[0]!.equals(DELIMITER));
    assert.match(frames[1]!.toString(), /^[0-9a-f]{64}$/);
    const back = b.decode(frames, TO_CONTROLLER)!;
    assert.deepEqual(back.header, { ...msg.header, channel: Channels.clientToCluster });
    assert.deepEqual(back.content, { fn: { source: 'x => x' } });
    assert.deepEqual(back.metadata, { target: 3 });
    assert.deepEqual([...back.buffers[0]!], [1, 2, 3]);
  });

  it('skips routing identities before the delimiter', () => {
    const a = new Session(KEY);
    const frames = [Buffer.from('client-1'), ...a.encode(a.message('ping', {}), Channels.clientToCluster)];
    assert.equal(new Session(KEY).decode(frames, TO_CONTROLLER)?.header.msg_type, 'ping');
  });

  it('drops and counts a message signed with another key', () => {
    const other = new Session('b'.repeat(64));
    const receiver = new Session(KEY);
    assert.equal(receiver.decode(other.encode(other.message('apply_request', {}), Channels.clientToCluster), TO_CONTROLLER), undefined);
    assert.equal(receiver.dropped.badSignature, 1);
  });

  it('drops a message whose content was changed after signing', () => {
    const a = new Session(KEY);
    const frames = a.encode(a.message('apply_request', { n: 1 }), Channels.clientToCluster);
    frames[5] = Buffer.from(JSON.stringify({ n: 2 }));
    const receiver = new Session(KEY);
    assert.equal(receiver.decode(frames, TO_CONTROLLER), undefined);
    assert.equal(receiver.dropped.badSignature, 1);
  });

  it('signs the buffers: a changed, added, removed or re-split buffer is dropped', () => {
    const a = new Session(KEY);
    const receiver = new Session(KEY);
    const encode = () => a.encode(a.message('apply_request', {}, { buffers: [Buffer.from('abcdef'), Buffer.from('ghij')] }), Channels.clientToCluster);
    const changed = encode();
    changed[6] = Buffer.from('abcdeF');
    const added = [...encode(), Buffer.from('x')];
    const removed = encode().slice(0, 7);
    // The same bytes, split differently between the two buffers: only the length prefixes tell them apart.
    const resplit = encode();
    resplit.splice(6, 2, Buffer.from('abc'), Buffer.from('defghij'));
    for (const frames of [changed, added, removed, resplit]) assert.equal(receiver.decode(frames, TO_CONTROLLER), undefined);
    assert.equal(receiver.dropped.badSignature, 4);
    assert.ok(receiver.decode(encode(), TO_CONTROLLER), 'an untouched message still passes');
  });

  it('signs large buffers by their Poly1305 tag, as the module documents, and drops any change to them', () => {
    const a = new Session(KEY);
    const receiver = new Session(KEY);
    // Around the threshold and well above it; several buffers, so that bytes can be moved between them.
    for (const total of [BULK_MAC_BYTES - 1, BULK_MAC_BYTES, 3 * BULK_MAC_BYTES + 17]) {
      const first = Buffer.alloc(Math.floor(total / 3), 7);
      const second = Buffer.alloc(total - first.length, 9);
      const encode = () => a.encode(a.message('push_request', {}, { buffers: [first, second] }), Channels.clientToCluster);
      const frames = encode();
      // The documented construction, computed here on its own: the receiver of another implementation could.
      const parts = frames.slice(2, 6);
      const lengths = Buffer.alloc(4 * 6);
      [...parts, first, second].forEach((p, i) => lengths.writeUInt32BE(p.length, 4 * i));
      const h = createHmac('sha256', KEY).update(lengths);
      for (const p of parts) h.update(p);
      if (total < BULK_MAC_BYTES) h.update(first).update(second);
      else {
        const key = createHmac('sha256', KEY).update('tsparallel bulk v1').update(parts[0]!).digest();
        const mac = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
        mac.setAAD(Buffer.concat([first, second]), { plaintextLength: 0 });
        mac.final();
        h.update(mac.getAuthTag());
      }
      assert.equal(frames[1]!.toString(), h.digest('hex'), `the signature of ${total} bytes of buffers`);
      assert.ok(receiver.decode(frames, TO_CONTROLLER), `${total} bytes: an untouched message passes`);

      const tampered: Buffer[][] = [];
      for (const at of [0, first.length - 1, first.length, total - 1]) {
        const copy = encode();
        const joined = Buffer.concat([copy[6]!, copy[7]!]);
        joined[at]! ^= 1;
        copy.splice(6, 2, joined.subarray(0, first.length), joined.subarray(first.length));
        tampered.push(copy);
      }
      const moved = encode();
      moved.splice(6, 2, Buffer.concat([first, second.subarray(0, 1)]), second.subarray(1));
      const swapped = encode();
      swapped.splice(6, 2, swapped[7]!, swapped[6]!);
      // The signature of another message on these frames.
      const other = encode();
      other[1] = encode()[1]!;
      tampered.push(moved, swapped, other);
      const before = receiver.dropped.badSignature;
      for (const t of tampered) assert.equal(receiver.decode(t, TO_CONTROLLER), undefined, `${total} bytes: a changed message is dropped`);
      assert.equal(receiver.dropped.badSignature - before, tampered.length);
    }
  });

  it('drops a replayed message', () => {
    const a = new Session(KEY);
    const frames = a.encode(a.message('apply_request', {}), Channels.clientToCluster);
    const receiver = new Session(KEY);
    assert.ok(receiver.decode(frames, TO_CONTROLLER));
    assert.equal(receiver.decode(frames, TO_CONTROLLER), undefined);
    assert.equal(receiver.dropped.replayed, 1);
  });

  it('drops a message meant for another channel: a direct request replayed to the controller, or to another engine', () => {
    const a = new Session(KEY);
    const direct = a.encode(a.message('execute_request', { code: '1' }), Channels.clientToEngine(2));
    const controller = new Session(KEY);
    assert.equal(controller.decode(direct, TO_CONTROLLER), undefined);
    assert.equal(new Session(KEY).decode(direct, [Channels.clientToEngine(3)]), undefined);
    assert.equal(controller.dropped.misrouted, 1);
    assert.ok(new Session(KEY).decode(direct, [Channels.clientToEngine(2)]), 'engine 2 itself accepts it');
    // A message without any channel (an older peer, or a forgery by someone holding the key) is refused too.
    const parts = [{ msg_id: 'x', msg_type: 'connect_request', session: 's', date: new Date().toISOString(), version: '1.0' }, {}, {}, {}].map((o) => Buffer.from(JSON.stringify(o)));
    assert.equal(controller.decode([DELIMITER, sign(parts), ...parts], TO_CONTROLLER), undefined);
    assert.equal(controller.dropped.misrouted, 2);
  });

  it('drops a message dated outside the replay window, in the past or the future, and counts it', () => {
    const a = new Session(KEY);
    const receiver = new Session(KEY, { replayWindowMs: 60_000 });
    const at = (offsetMs: number) => {
      const msg = a.message('apply_request', {});
      msg.header.date = new Date(Date.now() + offsetMs).toISOString();
      return a.encode(msg, Channels.clientToCluster);
    };
    assert.equal(receiver.decode(at(-61_000), TO_CONTROLLER), undefined);
    assert.equal(receiver.decode(at(+61_000), TO_CONTROLLER), undefined);
    assert.equal(receiver.dropped.expired, 2);
    assert.ok(receiver.decode(at(-59_000), TO_CONTROLLER), 'inside the window (a clock 59 s behind) it is accepted');
    assert.ok(receiver.decode(at(+59_000), TO_CONTROLLER), 'and a clock 59 s ahead too');
    assert.equal(receiver.isFresh(new Date(Date.now() - 50_000).toISOString()), true);
    assert.equal(receiver.isFresh(new Date(Date.now() - 50_000).toISOString(), 20_000), false);
  });

  it('drops malformed frames without throwing', () => {
    const receiver = new Session(KEY);
    assert.equal(receiver.decode([Buffer.from('junk')], TO_CONTROLLER), undefined);
    assert.equal(receiver.decode([DELIMITER, Buffer.from('sig')], TO_CONTROLLER), undefined);
    assert.equal(receiver.dropped.malformed, 2);
    // Correctly signed but not JSON:
    const a = new Session(KEY);
    const frames = a.encode(a.message('x', {}), Channels.clientToCluster);
    const bad = [frames[0]!, Buffer.alloc(0), Buffer.from('{not json'), frames[3]!, frames[4]!, frames[5]!];
    bad[1] = sign(bad.slice(2, 6));
    assert.equal(receiver.decode(bad, TO_CONTROLLER), undefined);
    assert.equal(receiver.dropped.malformed, 3);
  });

  it('never accepts a replay, even once its history is full: what it forgot is refused by date', () => {
    const a = new Session(KEY);
    const receiver = new Session(KEY, { historyLimit: 100 });
    const dated = (ms: number) => {
      const msg = a.message('m', {});
      msg.header.date = new Date(ms).toISOString();
      return a.encode(msg, Channels.clientToCluster);
    };
    const start = Date.now() - 10_000;
    const all = Array.from({ length: 150 }, (_, i) => dated(start + i * 10));
    for (const f of all) assert.ok(receiver.decode(f, TO_CONTROLLER));
    assert.equal(receiver.decode(all[149]!, TO_CONTROLLER), undefined, 'a recent one is still remembered');
    assert.equal(receiver.dropped.replayed, 1);
    assert.equal(receiver.decode(all[0]!, TO_CONTROLLER), undefined, 'a forgotten one is refused by its date');
    assert.equal(receiver.dropped.expired, 1);
    assert.ok(receiver.decode(dated(Date.now()), TO_CONTROLLER), 'new messages still pass');
  });

  it('forgets the oldest-dated signatures first, so a late message newer than those is still accepted', () => {
    const a = new Session(KEY);
    const receiver = new Session(KEY, { historyLimit: 100 });
    const dated = (ms: number) => {
      const msg = a.message('m', {});
      msg.header.date = new Date(ms).toISOString();
      return a.encode(msg, Channels.clientToCluster);
    };
    const now = Date.now();
    // Replies dated a second ago arrive first, then requests made four seconds ago that waited in a queue.
    const recent = Array.from({ length: 60 }, () => dated(now - 1000));
    for (const f of recent) assert.ok(receiver.decode(f, TO_CONTROLLER));
    for (let i = 0; i < 41; i++) assert.ok(receiver.decode(dated(now - 4000), TO_CONTROLLER));
    // Full: the four-second-old ones were forgotten, not the recent ones.
    assert.ok(receiver.decode(dated(now - 2500), TO_CONTROLLER), 'a late message dated after the forgotten ones passes');
    assert.equal(receiver.decode(dated(now - 4000), TO_CONTROLLER), undefined, 'one dated in the forgotten second is refused');
    assert.equal(receiver.dropped.expired, 1);
    assert.equal(receiver.decode(recent[0]!, TO_CONTROLLER), undefined, 'the recent ones are still remembered');
    assert.equal(receiver.dropped.replayed, 1);
  });
});
