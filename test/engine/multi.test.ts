/**
 * `tsengine --count K`: K full engines in one real process, registered with a real controller over ZeroMQ. Each has
 * its own id and namespace and answers heartbeats; they stop with the cluster.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseEngineArgs } from '../../src/engine/main.js';
import { ConfigError } from '../../src/index.js';
import { FAST_HEARTBEAT, isAlive, repoRoot, startTestCluster, waitUntil, type TestCluster } from '../support/cluster.js';

describe('tsengine --count', () => {
  it('parses the count and rejects one that is not a positive whole number', () => {
    assert.equal(parseEngineArgs(['--connection-file', '/f.json']).count, 1);
    assert.equal(parseEngineArgs(['--connection-file', '/f.json', '--count', '50']).count, 50);
    assert.throws(() => parseEngineArgs(['--connection-file', '/f.json', '--count', '0']), ConfigError);
    assert.throws(() => parseEngineArgs(['--connection-file', '/f.json', '--count', '2.5']), /--count takes a positive whole number/);
  });

  describe('3 engines in one process beside a cluster of 1', () => {
    let t: TestCluster;
    let child: ReturnType<typeof spawn>;
    before(async () => {
      t = await startTestCluster(1, { controller: FAST_HEARTBEAT });
      const tsengine = path.join(repoRoot(), 'dist', 'src', 'cli', 'tsengine.js');
      child = spawn(process.execPath, [tsengine, '--connection-file', t.cluster.engineConnectionFile, '--count', '3'], { stdio: 'ignore' });
      await t.client.waitForEngines(4, { timeoutMs: 30_000 });
    });
    after(async () => {
      await t.stop();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        // The controller's shutdown reaches every engine it knows; the process ends with its last engine.
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      assert.equal(isAlive(child.pid!), false);
    });

    it('registers each engine on its own, all in the one process', async () => {
      assert.deepEqual(t.client.ids, [0, 1, 2, 3]);
      const pids = await t.client.view([1, 2, 3]).apply(() => process.pid);
      assert.deepEqual(pids, [child.pid, child.pid, child.pid]);
    });

    it('gives each engine its own namespace', async () => {
      await t.client.view(1).push({ mine: 'one' });
      await t.client.view(2).push({ mine: 'two' });
      assert.deepEqual(await t.client.view([1, 2, 3]).execute('typeof mine === "undefined" ? null : mine'), ['one', 'two', null]);
    });

    it('keeps every engine alive by its heartbeats, and runs load-balanced tasks on them', async () => {
      // Several heartbeat timeouts (1.5 s) pass: a heart that did not answer would have been declared dead.
      await new Promise((r) => setTimeout(r, 4 * FAST_HEARTBEAT.heartbeatTimeoutMs));
      assert.equal(t.client.ids.length, 4);
      const results = await t.client.loadBalancedView().map((x: number) => x * 2, [1, 2, 3, 4, 5, 6, 7, 8], { chunksize: 1 });
      assert.deepEqual(results, [2, 4, 6, 8, 10, 12, 14, 16]);
      await waitUntil(() => isAlive(child.pid!), 1000, 'the --count process is running');
    });
  });

  it('when a process of 100 engines dies, the controller sees all of them gone by the process, not the heartbeat', { timeout: 120_000 }, async () => {
    // Heartbeats would take a minute to notice: only the controller's look at the local processes (on each burst of
    // disconnections, and each heartbeat tick) can see it sooner. 200 sockets close at once here (an engine's and its
    // heart's, per engine); a lookup per disconnection and engine cost 0.7 s of the controller's CPU for 100 engines.
    const t = await startTestCluster(1, { controller: { heartbeatMs: 1000, heartbeatTimeoutMs: 60_000 } });
    const tsengine = path.join(repoRoot(), 'dist', 'src', 'cli', 'tsengine.js');
    const child = spawn(process.execPath, [tsengine, '--connection-file', t.cluster.engineConnectionFile, '--count', '100'], { stdio: 'ignore' });
    try {
      await t.client.waitForEngines(101, { timeoutMs: 60_000 });
      const reasons = new Map<number, string | undefined>();
      t.client.onEngineChange((e) => e.type === 'unregistered' && reasons.set(e.id, e.reason));
      child.kill('SIGKILL');
      await waitUntil(() => t.client.ids.length === 1, 30_000, 'the 100 engines of the killed process are unregistered');
      assert.deepEqual(t.client.ids, [0], 'the engine of the cluster itself stays');
      assert.equal(reasons.size, 100);
      for (const [id, reason] of reasons) assert.match(reason ?? '', new RegExp(`^its process \\(pid ${child.pid}\\) exited$`), `engine ${id}`);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await t.stop();
    }
  });
});
