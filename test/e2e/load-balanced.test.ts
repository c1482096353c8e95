/**
 * Load-balanced tasks end to end: real engine processes, the controller's dispatcher and task policies.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  DependencyError, EngineDiedError, range, RemoteError, TaskAbortedError, TimeoutError, type Client, type ClusterOptions,
} from '../../src/index.js';
import { FAST_HEARTBEAT, startTestCluster, waitUntil, type TestCluster } from '../support/cluster.js';

const start = (n: number, options: ClusterOptions = {}) =>
  startTestCluster(n, { ...options, controller: { ...FAST_HEARTBEAT, ...options.controller } });

const failure = (p: PromiseLike<unknown>) => Promise.resolve(p).then(() => undefined, (e: unknown) => e);

describe('a load-balanced view over 2 engines', { timeout: 300_000 }, () => {
  let t: TestCluster;
  let client: Client;
  before(async () => ({ client } = t = await start(2)));
  after(() => t.stop());

  it('runs one task on whichever engine is free', async () => {
    const r = client.loadBalancedView().apply((a: number, b: number) => a * b, 6, 7);
    assert.equal(await r, 42);
    assert.ok([0, 1].includes(r.metadata[0]!.engineId));
  });

  it('completes 10,000 tiny tasks with every result correct and in order', async () => {
    const results = await client.loadBalancedView().map((x: number) => x * 3 + 1, range(10_000));
    assert.equal(results.length, 10_000);
    results.forEach((v, i) => assert.equal(v, i * 3 + 1));
  });

  it('maps in chunks, streams results as they complete (unordered) and reports progress', async () => {
    const ar = client.loadBalancedView().map((x: number) => new Promise((r) => setTimeout(() => r(x), (10 - x) * 20)), range(10), { chunksize: 2, ordered: false });
    assert.equal(ar.msgIds.length, 5);
    const events: number[] = [];
    ar.onProgress((p) => events.push(p.done));
    const seen: unknown[] = [];
    for await (const v of ar) seen.push(v);
    assert.deepEqual([...seen].sort((a, b) => (a as number) - (b as number)), range(10));
    assert.notDeepEqual(seen, range(10), 'the slow first chunks come last');
    assert.deepEqual(events, [1, 2, 3, 4, 5]);
    assert.deepEqual(await ar, range(10), 'awaiting gives the items’ order');
  });

  it('restricts tasks to chosen engines', async () => {
    const r = client.loadBalancedView([1]).map(() => 0, range(6));
    await r;
    assert.deepEqual(new Set(r.metadata.map((m) => m.engineId)), new Set([1]));
  });

  it('with() sets flags for its calls only; set() for every later call', async () => {
    const lview = client.loadBalancedView();
    const once = lview.with({ retries: 3 });
    assert.equal(once.options.retries, 3);
    assert.equal(lview.options.retries, undefined);
    lview.set({ retries: 1 });
    assert.equal(lview.options.retries, 1);
    assert.throws(() => lview.with({ retries: -1 }).apply(() => 1), /retries must be a whole number/);
    assert.throws(() => lview.map((x: number) => x, [1], { chunksize: 0 }), /chunksize must be a whole number/);
  });

  it('runs a failing task again on another engine with retries, and fails with the last error without', async () => {
    const marker = path.join(t.dir, 'failed-once');
    const flaky = (file: string) => {
      const fs = process.getBuiltinModule('node:fs');
      if (!fs.existsSync(file)) {
        fs.writeFileSync(file, String(process.pid));
        throw new Error('first attempt fails');
      }
      return process.pid;
    };
    const r = client.loadBalancedView().with({ retries: 1 }).apply(flaky, marker);
    const pid = await r;
    const { readFileSync } = await import('node:fs');
    assert.notEqual(String(pid), readFileSync(marker, 'utf8'), 'the retry ran on the other engine');
    const [record] = await client.taskRecords({ msgIds: r.msgIds });
    assert.equal(record!.retries, 1);
    assert.equal(record!.state, 'completed');

    const err = await failure(client.loadBalancedView().apply(flaky, marker + '-2'));
    assert.ok(err instanceof RemoteError);
    assert.match(err.message, /first attempt fails/);
  });

  it('fails a task that runs too long with TimeoutError, and its engine drops it if it had not started', async () => {
    const lview = client.loadBalancedView([0]);
    const blocker = lview.apply(() => new Promise((r) => setTimeout(() => r('slow done'), 800)));
    const queued = lview.with({ timeoutMs: 150 }).apply(() => ((globalThis as any).queuedRan = true));
    const err = await failure(queued);
    assert.ok(err instanceof TimeoutError, String(err));
    assert.match(err.message, /did not finish within 150 ms on engine 0/);
    assert.equal(await blocker, 'slow done');
    const ran = await failure(client.view(0).pull('queuedRan'));
    assert.ok(ran instanceof RemoteError && ran.remoteName === 'ReferenceError', 'the timed-out task never ran');
    const [record] = await client.taskRecords({ msgIds: queued.msgIds });
    assert.equal(record!.state, 'failed');
    assert.equal(record!.error?.name, 'TimeoutError');
  });

  it('tells a running task that timed out through taskSignal, so it can stop early', async () => {
    const lview = client.loadBalancedView([1]).with({ timeoutMs: 100 });
    const err = await failure(lview.apply(async () => {
      const signal = (globalThis as any).taskSignal as AbortSignal;
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      (globalThis as any).stoppedEarly = String(signal.reason);
    }));
    assert.ok(err instanceof TimeoutError);
    let reason: unknown;
    for (let i = 0; i < 50 && reason === undefined; i++) {
      reason = await client.view(1).apply(() => (globalThis as any).stoppedEarly);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.match(String(reason), /aborted by the controller/);
  });

  it('runs `after` tasks only once their dependencies succeeded', async () => {
    const lview = client.loadBalancedView();
    const first = lview.apply(() => new Promise((r) => setTimeout(() => r(1), 300)));
    const second = lview.with({ after: [first] }).apply(() => 2);
    assert.equal(await second, 2);
    assert.ok(second.metadata[0]!.started! >= first.metadata[0]!.completed!, 'started after the dependency completed');
  });

  it('runs `follow` tasks on the engine their dependency ran on', async () => {
    const lview = client.loadBalancedView();
    for (let i = 0; i < 4; i++) {
      const put = lview.apply(() => ((globalThis as any).followed = process.pid));
      const get = lview.with({ follow: [put] }).apply(() => (globalThis as any).followed === process.pid);
      assert.equal(await get, true);
      assert.equal(get.metadata[0]!.engineId, put.metadata[0]!.engineId);
    }
  });

  it('fails impossible dependencies at once with a clear DependencyError', async () => {
    const lview = client.loadBalancedView();
    const unknown = await failure(lview.with({ after: ['no-such-task'] }).apply(() => 1));
    assert.ok(unknown instanceof DependencyError);
    assert.match(unknown.message, /no-such-task is unknown/);

    const failed = lview.apply(() => {
      throw new Error('dep fails');
    });
    await failure(failed);
    const afterFailed = await failure(lview.with({ after: [failed] }).apply(() => 1));
    assert.ok(afterFailed instanceof DependencyError);
    assert.match(afterFailed.message, /failed, so this task cannot run/);

    const on0 = client.loadBalancedView([0]).apply(() => 0);
    const on1 = client.loadBalancedView([1]).apply(() => 1);
    await Promise.all([on0, on1]);
    const split = await failure(lview.with({ follow: [on0, on1] }).apply(() => 1));
    assert.ok(split instanceof DependencyError);
    assert.match(split.message, /ran on different engines/);
  });

  it('fails a waiting task when its dependency fails later', async () => {
    const lview = client.loadBalancedView();
    const dep = lview.apply(() => new Promise((_, reject) => setTimeout(() => reject(new Error('late failure')), 200)));
    const waiting = lview.with({ after: [dep] }).apply(() => 1);
    const err = await failure(waiting);
    assert.ok(err instanceof DependencyError, String(err));
  });

  it('resubmits finished tasks under new ids, and keeps a history', async () => {
    const lview = client.loadBalancedView();
    const r = lview.apply((x: number) => x + 100, 1);
    await r;
    const again = client.resubmit(r.msgIds);
    assert.deepEqual(await again, [101]);
    assert.notDeepEqual(again.msgIds, r.msgIds);
    assert.ok(client.history.includes(r.msgIds[0]!) && client.history.includes(again.msgIds[0]!));
    await assert.rejects(client.resubmit(['never-was']).get(), /never-was is unknown/);
  });

  it('keeps the newest historyLimit request ids in its history, and refuses a limit that is not one', async () => {
    const bounded = await t.cluster.connect({ historyLimit: 4 });
    try {
      const lengths: number[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = bounded.loadBalancedView().map((x: number) => x * 2, range(i, i + 3));
        assert.deepEqual(await r, [2 * i, 2 * i + 2, 2 * i + 4]);
        ids.push(...r.msgIds);
        lengths.push(bounded.history.length);
      }
      // 15 requests: trimmed back to the newest 4 whenever it passed 6 (4 plus half of it), so never over 6.
      assert.deepEqual(lengths, [3, 6, 6, 6, 6]);
      assert.deepEqual(bounded.history, ids.slice(-6), 'the newest ones, oldest first');
    } finally {
      await bounded.close();
    }
    for (const bad of [0, 2.5, -1, Number.NaN]) {
      await assert.rejects(t.cluster.connect({ historyLimit: bad }), /historyLimit must be a whole number >= 1 or Infinity/);
    }
  });

  it('answers record queries by state and engine, and purges finished records', async () => {
    const lview = client.loadBalancedView();
    const bad = lview.apply(() => {
      throw new Error('for the records');
    });
    await failure(bad);
    const failedRecords = await client.taskRecords({ state: 'failed' });
    const mine = failedRecords.find((rec) => rec.msgId === bad.msgIds[0]);
    assert.ok(mine, 'the failed task is among the failed records');
    assert.equal(mine.error?.name, 'Error');
    assert.ok(failedRecords.every((rec) => rec.state === 'failed'));
    const on1 = await client.taskRecords({ engineId: 1 });
    assert.ok(on1.length > 0 && on1.every((rec) => rec.engineId === 1));
    const purged = await client.purgeResults(bad.msgIds);
    assert.equal(purged, 1);
    assert.deepEqual(await client.taskRecords({ msgIds: bad.msgIds }), []);
    assert.ok((await client.purgeResults()) > 0);
    const status = (await client.queueStatus()) as { unassigned: number };
    assert.equal(status.unassigned, 0);
  });
});

describe('task policies and the high-water mark', () => {
  it('lru takes engines in turn', async () => {
    await using c = await start(2, { controller: { taskPolicy: 'lru', hwm: 0 } });
    const r = c.client.loadBalancedView().map(() => 0, range(6));
    await r;
    assert.deepEqual(r.metadata.map((m) => m.engineId), [0, 1, 0, 1, 0, 1]);
  });

  it('leastload sends work to the engine that is not busy', async () => {
    await using c = await start(2, { controller: { taskPolicy: 'leastload' } });
    const lview = c.client.loadBalancedView();
    const long = lview.apply(() => new Promise((r) => setTimeout(r, 1000)));
    await new Promise((r) => setTimeout(r, 50));
    const busy = long.metadata[0]!.engineId === -1 ? undefined : long.metadata[0]!.engineId;
    const quick: number[] = [];
    for (let i = 0; i < 4; i++) {
      const q = lview.apply(() => 1);
      await q;
      quick.push(q.metadata[0]!.engineId);
    }
    await long;
    const longEngine = long.metadata[0]!.engineId;
    assert.ok(busy === undefined || busy === longEngine);
    assert.deepEqual(quick, Array(4).fill(1 - longEngine));
  });

  it('hwm 1 keeps one task per engine: the rest wait in the controller, where abort drops them', async () => {
    await using c = await start(1, { controller: { hwm: 1 } });
    const lview = c.client.loadBalancedView();
    const running = lview.apply(() => new Promise((r) => setTimeout(() => r('finished'), 500)));
    const queued = lview.map((x: number) => x, range(5));
    const status = (await c.client.queueStatus()) as { unassigned: number; engines: Record<string, { pending: number }> };
    assert.equal(status.engines['0']!.pending, 1);
    assert.equal(status.unassigned, 5);
    await queued.abort();
    const err = await failure(queued);
    assert.ok(err instanceof TaskAbortedError || ((err as any).errors ?? []).every((e: unknown) => e instanceof TaskAbortedError), String(err));
    assert.equal(await running, 'finished', 'the running task finishes');
    const records = await c.client.taskRecords({ msgIds: queued.msgIds });
    assert.deepEqual(records.map((r) => r.state), Array(5).fill('aborted'));
  });

  it('hwmMs lets an engine hold more quick tasks than hwm, by the pace it reports; hwmMs 0 keeps hwm strict', async () => {
    // The most tasks any engine held, seen by polling the controller while a map of 4,000 no-ops runs.
    const mostHeld = async (controller: ClusterOptions['controller']) => {
      await using c = await start(2, { controller: { hwm: 4, ...controller } });
      let running = true;
      let most = 0;
      const polling = (async () => {
        while (running) {
          const status = (await c.client.queueStatus()) as { engines: Record<string, { pending: number }> };
          for (const e of Object.values(status.engines)) most = Math.max(most, e.pending);
        }
      })();
      try {
        assert.deepEqual(await c.client.loadBalancedView().map((x: number) => x, range(4000), { chunksize: 1 }), range(4000));
      } finally {
        running = false;
        await polling;
      }
      return most;
    };
    // 50 ms of tasks that take microseconds is hundreds of them, whatever the machine's load.
    const quick = await mostHeld({ hwmMs: 50 });
    assert.ok(quick > 4, `an engine held at most ${quick} tasks with hwmMs 50 (hwm 4)`);
    const strict = await mostHeld({ hwmMs: 0 });
    assert.ok(strict <= 4 && strict > 0, `an engine held ${strict} tasks with hwmMs 0 (hwm 4)`);
  });

  it('quick tasks go to an idle engine many per message, and an engine gives back those that turn slow', async () => {
    await using c = await start(2);
    const lview = c.client.loadBalancedView();
    // Microseconds for small inputs, 100 ms from 1,000 on: the same function, so the same pace at the controller.
    const f = (x: number) => {
      if (x >= 1000) {
        const end = Date.now() + 100;
        while (Date.now() < end);
      }
      return x * 2;
    };
    assert.deepEqual(await lview.map(f, range(400), { chunksize: 1 }), range(400).map((x) => x * 2));
    // At the quick pace the twelve slow calls would all go to one engine in one message and run there one after the
    // other; that engine gives the rest back after the first, and they are placed again at the pace it now knows.
    const slow = lview.map(f, range(1000, 1012), { chunksize: 1 });
    assert.deepEqual(await slow, range(1000, 1012).map((x) => x * 2));
    const perEngine = [0, 1].map((id) => slow.metadata.filter((m) => m.engineId === id).length);
    assert.ok(Math.min(...perEngine) >= 3, `tasks per engine: ${perEngine.join(', ')}`);
    assert.ok(slow.metadata.every((m) => m.retries === undefined), 'a task given back is not a retry');
  });

  it('client.abort drops tasks queued on an engine before they start', async () => {
    await using c = await start(1, { controller: { hwm: 0 } });
    const lview = c.client.loadBalancedView();
    const running = lview.apply(() => new Promise((r) => setTimeout(() => r('done'), 400)));
    const queued = lview.apply(() => ((globalThis as any).abortedRan = true));
    await new Promise((r) => setTimeout(r, 50));
    await c.client.abort(queued);
    assert.ok((await failure(queued)) instanceof TaskAbortedError);
    assert.equal(await running, 'done');
    const ran = await failure(c.client.view(0).pull('abortedRan'));
    assert.ok(ran instanceof RemoteError, 'the aborted task never ran');
  });
});

describe('engine death under load-balanced tasks', () => {
  const killer = (file: string) => {
    const fs = process.getBuiltinModule('node:fs');
    if (!fs.existsSync(file)) {
      fs.writeFileSync(file, String(process.pid));
      process.kill(process.pid, 'SIGKILL');
    }
    return process.pid;
  };

  it('a task that kills its engine succeeds on another engine with retries: 1', async () => {
    await using c = await start(2);
    const marker = path.join(c.dir, 'killed');
    const r = c.client.loadBalancedView().with({ retries: 1 }).apply(killer, marker);
    const pid = await r;
    assert.ok(existsSync(marker));
    const { readFileSync } = await import('node:fs');
    assert.notEqual(String(pid), readFileSync(marker, 'utf8'));
    assert.equal(c.client.ids.length, 1, 'the killed engine left');
    assert.deepEqual(await c.client.loadBalancedView().map((x: number) => x + 1, [1, 2]), [2, 3], 'the cluster keeps serving');
  });

  it('with retries: 0 it fails with EngineDiedError', async () => {
    await using c = await start(2);
    const err = await failure(c.client.loadBalancedView().apply(killer, path.join(c.dir, 'killed')));
    assert.ok(err instanceof EngineDiedError, String(err));
    assert.deepEqual(await c.client.loadBalancedView().apply(() => 'ok'), 'ok');
  });
});

describe('a result not ready in time says where its tasks are', () => {
  const notReady = (p: Promise<unknown>) => failure(p).then((e) => {
    assert.ok(e instanceof TimeoutError, String(e));
    return e.message;
  });

  it('queued with no engine registered: says so and how to start engines; the tasks run once one registers', async () => {
    await using c = await start(1);
    const [pid] = await c.client.view().apply(() => process.pid);
    process.kill(pid!, 'SIGKILL');
    await waitUntil(() => c.client.ids.length === 0, 10_000, 'the only engine is declared dead');
    const r = c.client.loadBalancedView().apply(() => 'ran');
    const message = await notReady(r.get({ timeoutMs: 300 }));
    assert.match(message, /result not ready after 300 ms \(0 of 1 requests answered\)/);
    assert.match(message, /1 task is queued at the controller and has not started/);
    assert.match(message, /no engine is registered/);
    assert.match(message, /tscluster engines -n N/);
    assert.match(message, /cluster\.addEngines\(n\)/);
    assert.doesNotMatch(message, /still running/);
    await c.cluster.addEngines(1);
    assert.equal(await r.get({ timeoutMs: 30_000 }), 'ran', 'it runs once an engine registers');
  });

  it('running, queued after the only engine died, and sent straight to an engine: each told as it is', async () => {
    await using c = await start(1);
    const [pid] = await c.client.view().apply(() => process.pid);
    const lb = c.client.loadBalancedView();
    const long = lb.with({ retries: 3 }).apply(() => new Promise((r) => setTimeout(() => r('late'), 60_000)));
    await waitUntil(async () => (await c.client.taskRecords({ msgIds: long.msgIds }))[0]?.state === 'running', 5000, 'the task starts');
    assert.match(await notReady(long.get({ timeoutMs: 50 })), /1 task is running on engine 0/);
    const direct = c.client.view(0).apply(() => 'behind');
    assert.match(await notReady(direct.get({ timeoutMs: 50 })), /1 request was sent straight to engine 0, which has not answered yet/);
    process.kill(pid!, 'SIGKILL');
    await waitUntil(() => c.client.ids.length === 0, 10_000, 'the engine is declared dead');
    await failure(direct);
    const fresh = lb.apply(() => 1);
    for (const r of [long, fresh]) {
      const message = await notReady(r.get({ timeoutMs: 200 }));
      assert.match(message, /1 task is queued at the controller and has not started/);
      assert.match(message, /no engine is registered/);
      assert.doesNotMatch(message, /still running/);
    }
    const both = await notReady(Promise.resolve(c.client.getResult([...long.msgIds, ...fresh.msgIds]).get({ timeoutMs: 200 })));
    assert.match(both, /2 tasks are queued at the controller/);
  });
});
