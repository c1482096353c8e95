/**
 * Remote errors point at the user's source: a task from a module compiled from TypeScript with a source map
 * (test/fixtures/failing.ts, compiled by the build with `sourceMap`) throws on an engine; the client's RemoteError
 * has a remote stack naming the `.ts` file and line, and keeps the remote error as `cause` with the engine id, host,
 * pid and task id. A map whose tasks fail gives one CompositeError listing each failure.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CompositeError, fromModule, RemoteError } from '../../src/index.js';
import { repoRoot, startTestCluster, type TestCluster } from '../support/cluster.js';

/** The 1-based line of the marker comment in the fixture's TypeScript source. */
async function markerLine(): Promise<number> {
  const source = await readFile(path.join(repoRoot(), 'test', 'fixtures', 'failing.ts'), 'utf8');
  const index = source.split('\n').findIndex((line) => line.includes('MARKER: failOdd throws here'));
  assert.ok(index >= 0);
  return index + 1;
}

describe('remote stacks mapped to the user’s TypeScript', () => {
  let t: TestCluster;
  let line: number;
  const failOdd = fromModule('../fixtures/failing.js', 'failOdd', import.meta.url);
  before(async () => {
    t = await startTestCluster(2);
    line = await markerLine();
  });
  after(() => t.stop());

  it('a failing fromModule task reports the .ts file and line, with the remote error as cause', async () => {
    const err = await t.client.view(1).apply(failOdd, 3).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.remoteName, 'RangeError');
    assert.match(err.message, /odd input \(code 3\)/);
    assert.match(err.remoteStack ?? '', new RegExp(`failOdd \\(.*test[/\\\\]fixtures[/\\\\]failing\\.ts:${line}:\\d+\\)`), err.remoteStack);
    assert.doesNotMatch(err.remoteStack ?? '', /failing\.js:/, 'no frame left in the compiled file');
    assert.equal(err.engineId, 1);
    assert.equal(err.hostname, hostname());
    assert.ok(err.pid !== undefined && t.cluster.pids.includes(err.pid), `pid ${err.pid} is one of the cluster's engines`);
    assert.match(err.taskId ?? '', /^[0-9a-f-]{36}$/);
    const cause = err.cause as Error & { engineId?: number; hostname?: string; pid?: number; taskId?: string };
    assert.ok(cause instanceof Error);
    assert.equal(cause.name, 'RangeError');
    assert.equal(cause.message, 'odd input (code 3)');
    assert.equal(cause.stack, err.remoteStack);
    assert.deepEqual([cause.engineId, cause.hostname, cause.pid, cause.taskId], [1, hostname(), err.pid, err.taskId]);
  });

  it('a map whose tasks fail rejects with one CompositeError listing each failure and its .ts line', async () => {
    const lview = t.client.loadBalancedView();
    const err = await lview.map(failOdd, [1, 2, 3, 4, 5], { chunksize: 1 }).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof CompositeError, String(err));
    assert.equal(err.errors.length, 3);
    const remote = err.errors as RemoteError[];
    assert.ok(remote.every((e) => e instanceof RemoteError));
    assert.deepEqual(remote.map((e) => e.message.match(/code (\d)/)?.[1]).sort(), ['1', '3', '5']);
    assert.equal(new Set(remote.map((e) => e.taskId)).size, 3, 'each failure names its own task');
    for (const e of remote) {
      assert.match(e.remoteStack ?? '', new RegExp(`failing\\.ts:${line}:`));
      assert.ok(err.message.includes(`(task ${e.taskId})`), err.message);
    }
    assert.match(err.message, /^3 tasks failed:/);
    assert.equal(err.message.match(new RegExp(`failing\\.ts:${line}:`, 'g'))?.length, 3, err.message);
  });
});
