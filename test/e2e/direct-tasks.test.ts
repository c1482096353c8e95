/**
 * Requests a client sends straight to engines (the default direct route) are tasks like the others for that client:
 * they can be dependencies of load-balanced tasks, fetched again with `getResult`, and are in `taskRecords` as soon
 * as they resolved, though the controller learns of them only from the engines' reports, a few ms later.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DependencyError, range, TaskAbortedError, TsParallelError, type Client } from '../../src/index.js';
import { startTestCluster, type TestCluster } from '../support/cluster.js';

const failure = (p: PromiseLike<unknown>) => Promise.resolve(p).then(() => undefined, (e: unknown) => e);

describe('requests sent straight to engines, seen from the client that sent them', { timeout: 120_000 }, () => {
  let t: TestCluster;
  let client: Client;
  before(async () => ({ client } = t = await startTestCluster(2)));
  after(() => t.stop());

  it('go straight to the engines (the premise of these tests)', () => {
    for (const id of [0, 1]) assert.ok(client.engines.get(id)?.direct?.startsWith('tcp://127.0.0.1:'), `engine ${id} has a loopback endpoint`);
  });

  it('`after` a direct request that completed runs the task, given as an AsyncResult or as its id', async () => {
    const lb = client.loadBalancedView();
    const d = client.view(0).apply(() => 1);
    await d;
    assert.equal(await lb.with({ after: [d] }).apply(() => 'ran after direct'), 'ran after direct');
    assert.equal(await lb.with({ after: [d.msgIds[0]!] }).apply(() => 'ran after its id'), 'ran after its id');
    const mapped = lb.with({ after: [d] }).map((x: number) => x * 2, range(4));
    assert.deepEqual(await mapped, [0, 2, 4, 6]);
  });

  it('`after` a direct request still running waits for it', async () => {
    const d = client.view(1).apply(() => new Promise((r) => setTimeout(() => r('slow'), 300)));
    const next = client.loadBalancedView().with({ after: [d] }).apply(() => Date.now());
    const ranAt = await next;
    assert.equal(await d, 'slow');
    assert.ok(ranAt >= d.metadata[0]!.completed!.getTime(), 'it started after its dependency completed');
  });

  it('`after` a direct request that failed fails with a DependencyError naming it', async () => {
    const d = client.view(0).apply(() => {
      throw new Error('direct dep fails');
    });
    const err = await failure(client.loadBalancedView().with({ after: [d] }).apply(() => 'must not run'));
    assert.ok(err instanceof DependencyError, String(err));
    assert.ok(err.message.includes(d.msgIds[0]!), err.message);
    assert.match(err.message, /failed, so this task cannot run/);
    assert.match(err.message, /direct dep fails/);
  });

  it('`follow` a direct request runs on its engine, whichever it was', async () => {
    for (const engineId of [0, 1]) {
      const put = client.view(engineId).apply(() => ((globalThis as any).followedDirect = process.pid));
      const get = client.loadBalancedView().with({ follow: [put] }).apply(() => (globalThis as any).followedDirect === process.pid);
      assert.equal(await get, true);
      assert.equal(get.metadata[0]!.engineId, engineId);
    }
  });

  it('`follow` direct requests on two engines, or on an engine the view excludes, fails with a DependencyError', async () => {
    const both = client.view([0, 1]).apply(() => 0);
    await both;
    const split = await failure(client.loadBalancedView().with({ follow: [both] }).apply(() => 1));
    assert.ok(split instanceof DependencyError, String(split));
    assert.match(split.message, /ran on different engines \(0, 1\)/);
    const on0 = client.view(0).apply(() => 0);
    const excluded = await failure(client.loadBalancedView([1]).with({ follow: [on0] }).apply(() => 1));
    assert.ok(excluded instanceof DependencyError, String(excluded));
    assert.match(excluded.message, /engine 0, which is not among this task's targets \(1\)/);
  });

  it('a task held for a direct dependency can be aborted, and then never runs', async () => {
    const d = client.view(0).apply(() => new Promise((r) => setTimeout(r, 300)));
    const held = client.loadBalancedView().with({ after: [d] }).apply(() => ((globalThis as any).heldRan = true));
    await held.abort();
    const err = await failure(held);
    assert.ok(err instanceof TaskAbortedError, String(err));
    await d;
    assert.deepEqual(await client.view().apply(() => (globalThis as any).heldRan ?? false), [false, false]);
  });

  it('is in taskRecords as soon as it resolved', async () => {
    const d = client.view(1).apply(() => 'recorded');
    await d;
    const records = await client.taskRecords({ msgIds: d.msgIds });
    assert.equal(records.length, 1, 'the record of the direct request');
    assert.equal(records[0]!.state, 'completed');
    assert.equal(records[0]!.engineId, 1);
    assert.equal(records[0]!.balanced, false);
    const bad = client.view(0).apply(() => {
      throw new Error('for the records');
    });
    await failure(bad);
    assert.ok((await client.taskRecords({ state: 'failed' })).some((r) => r.msgId === bad.msgIds[0]), 'a failed one, by state');
    assert.ok((await client.taskRecords()).some((r) => r.msgId === bad.msgIds[0]), 'with no filter');
  });

  it('taskRecords refuses a filter key it does not have, and a value of the wrong kind, instead of returning every record', async () => {
    const refused = (filter: unknown, pattern: RegExp) =>
      assert.rejects(client.taskRecords(filter as never), (err: Error) => err instanceof TsParallelError && pattern.test(err.message));
    await refused({ ids: ['x'] }, /taskRecords\(filter\): unknown key 'ids' \(did you mean 'msgIds'\?\)/);
    await refused({ sate: 'failed' }, /unknown key 'sate' \(did you mean 'state'\?\)/);
    await refused({ state: 'done' }, /state must be one of waiting, queued, running, completed, failed, aborted/);
    await refused({ engineId: '0' }, /engineId must be an engine id/);
    await refused({ msgIds: 'abc' }, /msgIds must be an array of task ids/);
  });

  it('getResult gives the value of a direct request right after it resolved', async () => {
    const d = client.view(0).apply(() => 'again');
    await d;
    assert.deepEqual(await client.getResult(d.msgIds), ['again']);
    const many = client.view().apply(() => process.pid);
    const pids = await many;
    assert.deepEqual(await client.getResult(many.msgIds), pids);
  });

  it("getResult of a direct request its engine no longer keeps says where it went and what to do", async () => {
    const d = client.view(1).apply(() => 'long ago');
    await d;
    // An engine keeps its last 1,000 direct replies.
    await Promise.all(range(1001).map(() => client.view(1).apply(() => 0)));
    const err = await failure(client.getResult(d.msgIds));
    assert.ok(err instanceof TsParallelError, String(err));
    assert.ok(err.message.includes(`task ${d.msgIds[0]} was sent straight to engine 1`), err.message);
    assert.doesNotMatch(err.message, /unknown to the controller/);
  });
});
