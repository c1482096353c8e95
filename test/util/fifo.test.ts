/**
 * `Fifo`: oldest first, items that leave out of order are passed over, and the slots they leave go at compaction.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Fifo } from '../../src/util/fifo.js';

describe('Fifo', () => {
  it('gives the oldest item still in, passing over those that left from elsewhere', () => {
    const inside = new Set<number>();
    const q = new Fifo<number>((n) => inside.has(n));
    for (const n of [1, 2, 3, 4]) {
      inside.add(n);
      q.push(n);
    }
    assert.equal(q.oldest(), 1);
    inside.delete(2);
    q.left();
    assert.equal(q.shift(), 1);
    inside.delete(1);
    assert.equal(q.oldest(), 3, '2 left out of order: passed over');
    assert.equal(q.size, 2);
    assert.deepEqual(q.values(), [3, 4]);
    inside.delete(3);
    inside.delete(4);
    q.left();
    q.left();
    assert.equal(q.oldest(), undefined);
    assert.equal(q.shift(), undefined);
    assert.equal(q.size, 0);
  });

  it('used as a queue for long, holds no more than a few times what is in', () => {
    const inside = new Set<object>();
    const q = new Fifo<object>((o) => inside.has(o));
    const held: object[] = [];
    for (let i = 0; i < 100_000; i++) {
      const o = {};
      inside.add(o);
      q.push(o);
      held.push(o);
      // Every third one leaves from the middle; the oldest leaves whenever more than 100 are in.
      if (i % 3 === 0) {
        const victim = held.splice(held.length >> 1, 1)[0]!;
        inside.delete(victim);
        q.left();
      }
      while (q.size > 100) {
        const oldest = q.shift()!;
        inside.delete(oldest);
        held.splice(held.indexOf(oldest), 1);
      }
    }
    assert.equal(q.size, inside.size);
    assert.deepEqual(q.values(), held, 'the ones still in, in the order they came');
    // The slots of items gone do not pile up (they would hold those items' memory).
    assert.ok(q.slots <= 1024 + 2 * q.size, `${q.slots} slots for ${q.size} items`);
    assert.ok(q.slots > q.size, 'and some slots of items gone wait for the next compaction (the bound above is not trivially met)');
  });
});
