/**
 * The client side without processes: DirectView and LoadBalancedView against a fake host, and AsyncResult's
 * combining, errors, progress and streaming.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AsyncResult, Part } from '../../src/client/async-result.js';
import { DirectView } from '../../src/client/direct-view.js';
import { LoadBalancedView } from '../../src/client/load-balanced-view.js';
import { partition, concatenate } from '../../src/client/partition.js';
import { range } from '../../src/client/range.js';
import { CompositeError, RemoteError, TimeoutError, TsParallelError } from '../../src/core/errors.js';
import type { Message } from '../../src/wire/protocol.js';
import { packRequests } from '../../src/wire/task-batch.js';
import { FakeHost } from '../support/fake-host.js';

const remote = (engineId: number, message: string) => new RemoteError({ engineId, remoteName: 'Error', message });

describe('DirectView', () => {
  it('map splits the items into one contiguous piece per engine and joins the results in order', async () => {
    const host = new FakeHost([0, 1, 2]);
    const ar = new DirectView(host, 'all', false).map((x: number) => x * 10, range(7));
    assert.deepEqual(host.requests.map((r) => [r.engineId, r.payload]), [[0, [0, 1, 2]], [1, [3, 4]], [2, [5, 6]]]);
    host.answer();
    assert.deepEqual(await ar, [0, 10, 20, 30, 40, 50, 60]);
  });

  it('apply runs on every engine of the view; a single-engine view does not wrap its result', async () => {
    const host = new FakeHost([0, 1, 2]);
    const all = new DirectView(host, [0, 2], false).apply((a: number, b: number) => a + b, 1, 2);
    const one = new DirectView(host, [1], true).apply((s: string) => s.toUpperCase(), 'x');
    assert.deepEqual(host.requests.map((r) => r.engineId), [0, 2, 1]);
    host.answer();
    assert.deepEqual(await all, [3, 3]);
    assert.equal(await one, 'X');
  });

  it('scatter and gather split a typed array across engines and join it back into one typed array', async () => {
    const host = new FakeHost([0, 1]);
    const data = new Float64Array([1, 2, 3, 4, 5]);
    const view = new DirectView(host, 'all', false);
    const scattered = view.scatter('part', data);
    host.answer();
    await scattered;
    assert.deepEqual([...(host.namespaces.get(0)!.part as Float64Array)], [1, 2, 3]);
    const gathered = view.gather<Float64Array>('part');
    host.answer();
    const back = await gathered;
    assert.ok(back instanceof Float64Array);
    assert.deepEqual([...back], [1, 2, 3, 4, 5]);
  });

  it('refuses to run when there are no engines, saying how to wait for them', () => {
    assert.throws(() => new DirectView(new FakeHost([]), 'all', false).apply(() => 1), (e: unknown) => e instanceof TsParallelError && /waitForEngines/.test(e.message));
  });

  it('direct results cannot be aborted', async () => {
    const host = new FakeHost([0]);
    const ar = new DirectView(host, 'all', false).apply(() => 1);
    await assert.rejects(ar.abort(), /only load-balanced tasks can be aborted/);
  });
});

describe('LoadBalancedView', () => {
  it('map sends chunks of chunksize items, with the view flags', async () => {
    const host = new FakeHost([0, 1]);
    const view = new LoadBalancedView(host, undefined).with({ retries: 2 });
    const ar = view.map((x: number) => x + 1, range(5), { chunksize: 2 });
    assert.deepEqual(host.requests.map((r) => r.payload), [[0, 1], [2, 3], [4]]);
    assert.ok(host.requests.every((r) => r.flags?.retries === 2));
    host.answer();
    assert.deepEqual(await ar, [1, 2, 3, 4, 5]);
  });

  it('streams typed results in arrival order when unordered, in call order otherwise', async () => {
    const host = new FakeHost([0]);
    const view = new LoadBalancedView(host, undefined);
    const unordered = view.map((x: number) => x * 2, [1, 2, 3], { ordered: false });
    const ordered = view.map((x: number) => String(x), [1, 2, 3]);
    for (const i of [2, 0, 1, 5, 3, 4]) host.answer(i);
    const seen: number[] = [];
    for await (const v of unordered) seen.push(v); // v is a number: the stream is typed
    assert.deepEqual(seen, [6, 2, 4]);
    const texts: string[] = [];
    for await (const s of ordered) texts.push(s.padStart(2, '0'));
    assert.deepEqual(texts, ['01', '02', '03']);
  });

  it('abort sends the ids of the tasks not answered yet', async () => {
    const host = new FakeHost([0]);
    const ar = new LoadBalancedView(host, undefined).map((x: number) => x, [1, 2, 3]);
    host.answer(0);
    await ar.abort();
    assert.deepEqual(host.aborted, ar.msgIds.slice(1));
  });

  it("shares one content object among a map's tasks and the calls of one function, so a batch carries the function once", async () => {
    const host = new FakeHost([0, 1]);
    const view = new LoadBalancedView(host, undefined);
    const square = (x: number) => x * x;
    const mapped = view.map(square, range(4));
    const applied = [view.apply(square, 5), view.apply(square, 6)];
    const other = view.apply((x: number) => -x, 7);
    const [first, ...rest] = host.requests.slice(0, 6);
    assert.ok(rest.every((r) => r.content === first!.content), 'one object for every task of square');
    assert.notEqual(host.requests[6]!.content, first!.content, 'another function, another content');
    assert.ok(Object.isFrozen(first!.content), 'shared, so frozen');
    const requests = host.requests.map((r, i) => ({ header: { msg_id: `t${i}`, msg_type: r.type }, content: r.content, metadata: r.flags ?? {}, buffers: [] }));
    assert.equal(packRequests(requests as unknown as Message[]).content.contents.length, 2, 'the batch carries each function once');
    host.answer();
    assert.deepEqual(await mapped, [0, 1, 4, 9]);
    assert.deepEqual(await Promise.all([...applied, other]), [25, 36, -7]);
  });

  it('refuses a chunksize that is not a whole number >= 1', () => {
    assert.throws(() => new LoadBalancedView(new FakeHost([0]), undefined).map((x: number) => x, [1], { chunksize: 0 }), /chunksize/);
  });

  it('refuses an option map does not have, naming it and, for a task flag, where it goes', () => {
    const host = new FakeHost([0]);
    const view = new LoadBalancedView(host, undefined);
    // From JavaScript (or through a cast): a flag given here was silently dropped, e.g. results not kept.
    const options = { keepResult: true } as unknown as { chunksize?: number };
    assert.throws(() => view.map((x: number) => x, [1], options), (e: unknown) => {
      assert.ok(e instanceof TsParallelError);
      assert.match(e.message, /map\(fn, items, options\): 'keepResult' is not an option of map \(its options: chunksize, ordered\)/);
      assert.match(e.message, /lb\.with\(\{ keepResult: true \}\)\.map\(fn, items\)/);
      return true;
    });
    assert.throws(() => view.map((x: number) => x, [1], { chunksze: 2 } as unknown as { chunksize?: number }), /'chunksze' is not an option of map/);
    assert.equal(host.requests.length, 0, 'nothing was sent');
  });
});

describe('AsyncResult', () => {
  const parts = (n: number) =>
    Array.from({ length: n }, (_, i) => new Part({ msgId: `p${i}`, engineId: i, status: 'pending', submitted: new Date(), stdout: '', stderr: '' }));

  it('rejects with the one RemoteError, or a CompositeError holding each when several failed', async () => {
    const one = parts(2);
    const ar1 = new AsyncResult(one, (v) => v);
    one[0]!.settle(1);
    one[1]!.settle(undefined, remote(1, 'boom'));
    await assert.rejects(ar1, (e: unknown) => e instanceof RemoteError && e.message.includes('boom'));
    const two = parts(2);
    const ar2 = new AsyncResult(two, (v) => v);
    two.forEach((p, i) => p.settle(undefined, remote(i, `bad ${i}`)));
    await assert.rejects(ar2, (e: unknown) => e instanceof CompositeError && e.errors.length === 2);
  });

  it('reports progress to each listener until its disposer is called', () => {
    const ps = parts(3);
    const ar = new AsyncResult(ps, (v) => v);
    const a: number[] = [];
    const b: number[] = [];
    const offA = ar.onProgress((p) => a.push(p.done));
    ar.onProgress((p) => b.push(p.done));
    ps[0]!.settle(0);
    offA();
    ps[1]!.settle(1);
    ps[2]!.settle(2);
    assert.deepEqual(a, [1]);
    assert.deepEqual(b, [1, 2, 3]);
    assert.deepEqual(ar.progress, { done: 3, total: 3 });
  });

  it('get with a time limit says where the unanswered requests are when its client can tell, and how far it got', async () => {
    const ps = parts(3);
    const asked: string[][] = [];
    const whereabouts = async (ids: readonly string[]) => {
      asked.push([...ids]);
      return '2 tasks are queued at the controller and have not started';
    };
    const ar = new AsyncResult(ps, (v) => v, { whereabouts });
    ps[1]!.settle('x');
    await assert.rejects(ar.get({ timeoutMs: 1 }), (e: unknown) => {
      assert.ok(e instanceof TimeoutError);
      assert.equal(e.message, 'result not ready after 1 ms (1 of 3 requests answered): 2 tasks are queued at the controller and have not started');
      return true;
    });
    assert.deepEqual(asked, [['p0', 'p2']], 'asked about the unanswered ones only');
    const silent = new AsyncResult(parts(1), (v) => v, { whereabouts: () => Promise.reject(new Error('no answer')) });
    await assert.rejects(silent.get({ timeoutMs: 1 }), (e: unknown) => e instanceof TimeoutError && /0 of 1 requests answered/.test(e.message) && !/no answer/.test(e.message));
  });

  it('get with a time limit throws a TimeoutError saying how far it got; wait says whether it is ready', async () => {
    const ps = parts(2);
    const ar = new AsyncResult(ps, (v) => v);
    ps[0]!.settle('x');
    assert.equal(await ar.wait(1), false);
    await assert.rejects(ar.get({ timeoutMs: 1 }), (e: unknown) => e instanceof TimeoutError && /1 of 2 requests answered/.test(e.message));
    ps[1]!.settle('y');
    assert.equal(await ar.wait(1), true);
    assert.deepEqual(await ar.get({ timeoutMs: 1 }), ['x', 'y']);
  });
});

describe('partition', () => {
  it('splits into k contiguous pieces whose lengths differ by at most one, and concatenate joins them back', () => {
    for (const [n, k] of [[10, 3], [2, 4], [0, 2], [7, 7]] as const) {
      const pieces = partition(range(n), k);
      assert.equal(pieces.length, k);
      const lengths = pieces.map((p) => p.length);
      assert.ok(Math.max(...lengths) - Math.min(...lengths) <= 1, `${n}/${k}: ${lengths}`);
      assert.deepEqual(concatenate(pieces), range(n));
    }
  });

  it('pieces of a typed array share its memory', () => {
    const data = new Int32Array([1, 2, 3, 4]);
    const [first] = partition(data, 2) as Int32Array[];
    first![0] = 99;
    assert.equal(data[0], 99);
  });
});
