import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TASK_POLICIES, type Candidate } from '../../src/controller/policies/index.js';

const engines = (loads: number[], lastUsed: number[]): Candidate[] => loads.map((load, id) => ({ id, load, lastUsed: lastUsed[id]! }));
/** A fixed sequence of "random" numbers, so choices are predictable. */
const sequence = (...values: number[]) => () => values.shift() ?? 0;

describe('task policies', () => {
  it('leastload picks the fewest tasks, and breaks ties by least recent use', () => {
    assert.equal(TASK_POLICIES.leastload(engines([3, 1, 2], [1, 2, 3]), Math.random).id, 1);
    assert.equal(TASK_POLICIES.leastload(engines([1, 1, 1], [5, 2, 9]), Math.random).id, 1);
  });

  it('lru rotates through engines whatever their load', () => {
    assert.equal(TASK_POLICIES.lru(engines([9, 0, 0], [1, 2, 3]), Math.random).id, 0);
  });

  it('random draws uniformly from the candidates', () => {
    const c = engines([0, 0, 0, 0], [0, 0, 0, 0]);
    assert.deepEqual([0, 0.3, 0.6, 0.99].map((r) => TASK_POLICIES.random(c, () => r).id), [0, 1, 2, 3]);
  });

  it('weighted favours the less loaded: weights 1/(1+load)', () => {
    const c = engines([0, 3], [0, 0]); // weights 1 and 0.25: engine 0 owns [0, 0.8) of the draw
    assert.equal(TASK_POLICIES.weighted(c, () => 0.79).id, 0);
    assert.equal(TASK_POLICIES.weighted(c, () => 0.81).id, 1);
    let zero = 0;
    let seed = 1;
    const lcg = () => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    for (let i = 0; i < 1000; i++) if (TASK_POLICIES.weighted(c, lcg).id === 0) zero++;
    assert.ok(zero > 700 && zero < 900, `engine 0 chosen ${zero} of 1000 times, expected about 800`);
  });

  it('twobin draws two and keeps the less loaded (ties: less recently used)', () => {
    const c = engines([5, 1, 3], [1, 2, 3]);
    assert.equal(TASK_POLICIES.twobin(c, sequence(0.1, 0.5)).id, 1); // draws 0 and 1
    assert.equal(TASK_POLICIES.twobin(c, sequence(0.1, 0.9)).id, 2); // draws 0 and 2
    assert.equal(TASK_POLICIES.twobin(engines([1, 1], [7, 3]), sequence(0.1, 0.9)).id, 1);
  });
});
