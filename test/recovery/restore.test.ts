/**
 * Controller recovery over real processes: a controller killed with SIGKILL in the middle of a load-balanced map
 * is replaced by `tscluster start --restore`, which takes the live engines back; the original client's pending map
 * completes with every result, in order.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Client, createCluster, range, type ControllerEvent, type EngineChange } from '../../src/index.js';
import { readConnectionFile } from '../../src/wire/connection.js';
import { distEntry, isAlive, tempDir, waitUntil } from '../support/cluster.js';

/** A long heartbeat timeout: this machine is shared and loaded, and a late ping must not pass for a death. */
const CONFIG = {
  controller: { heartbeatMs: 200, heartbeatTimeoutMs: 5000, journal: true },
  engines: { reconnectMs: 30_000 },
};

describe('controller recovery (controller.journal, tscluster start --restore)', () => {
  for (const curve of [false, true]) {
    it(`completes a pending map of 200 tasks after the controller is killed and restored, none lost, re-runs marked as retries${curve ? ', with security.curve: true (the CURVE keys are kept in a 0600 file, never on a command line or in a log)' : ''}`, async () => {
      const tmp = await tempDir();
      writeFileSync(path.join(tmp.dir, 'tsparallel.config.json'), JSON.stringify({ ...CONFIG, security: { curve } }));
      const keysFile = path.join(tmp.dir, 'security', 'tsparallel-controller-keys.json');
      const runs = path.join(tmp.dir, 'runs.log');
      writeFileSync(runs, '');
      const cluster = await createCluster({ n: 4, profileDir: tmp.dir, projectDir: null });
      let restored: ChildProcess | undefined;
      const enginePids = cluster.pids.slice(1);
      try {
        const client = await cluster.connect({ heartbeatTimeoutMs: 60_000 });
        const events: ControllerEvent[] = [];
        client.onController((e) => events.push(e));
        const changes: EngineChange[] = [];
        client.onEngineChange((c) => changes.push(c));
        await client.view().push({ runsLog: runs });
        const ar = client.loadBalancedView().with({ retries: 3 }).map(async (x: number) => {
          const fs = process.getBuiltinModule('node:fs');
          fs.appendFileSync((globalThis as any).runsLog, `${x}\n`);
          await new Promise((r) => setTimeout(r, 50));
          return x * x;
        }, range(200));
        await new Promise((r) => setTimeout(r, 1000));
        const controllerPid = cluster.pids[0]!;
        const keys = JSON.parse(readFileSync(keysFile, 'utf8')) as { key: string; curve?: { publicKey: string; secretKey: string } };
        assert.equal(statSync(keysFile).mode & 0o777, 0o600, 'the keys file is private to the user');
        const serverKey = (await readConnectionFile(cluster.clientConnectionFile)).curveServerKey;
        if (curve) {
          assert.ok(serverKey && keys.curve?.publicKey === serverKey, 'the keys file holds the CURVE pair the controller listens with');
          assert.ok(!readFileSync(`/proc/${controllerPid}/cmdline`, 'utf8').includes(keys.curve.secretKey), 'the secret key is not on the command line');
        } else {
          assert.equal(serverKey, undefined);
          assert.equal(keys.curve, undefined);
        }
        assert.ok(!ar.ready(), 'the map is still running when the controller is killed');
        process.kill(controllerPid, 'SIGKILL');
        await waitUntil(() => !isAlive(controllerPid), 5000, 'the controller gone');
        await waitUntil(() => events.some((e) => e.type === 'silent'), 5000, 'the client noticing the silence');

        // Everything logged, to check that no secret key is.
        restored = spawn(process.execPath, [distEntry().replace(/index\.js$/, 'cli/tscluster.js'), 'start', '--profile-dir', tmp.dir, '--restore'], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, DEBUG: 'tsparallel:*' },
        });
        let output = '';
        restored.stdout!.on('data', (d) => (output += d));
        restored.stderr!.on('data', (d) => (output += d));

        const results = await ar.get({ timeoutMs: 60_000 }).catch((err: Error) => {
          throw new Error(`${err.message}\n--- tscluster start --restore said:\n${output}`);
        });
        assert.deepEqual(results, range(200).map((x) => x * x));
        assert.ok(events.some((e) => e.type === 'back'), `the client saw the controller come back: ${JSON.stringify(events)}`);
        assert.ok(!events.some((e) => e.type === 'lost'));
        // Every engine came back (none started), with the same ids.
        assert.deepEqual(client.ids, [0, 1, 2, 3], `engine changes seen: ${JSON.stringify(changes)}\n--- tscluster start --restore said (end):\n${output.slice(-20_000)}`);
        assert.ok(enginePids.every(isAlive));
        // Each item that ran more than once is marked as a retry in its result's metadata.
        const count = new Map<number, number>();
        for (const line of readFileSync(runs, 'utf8').split('\n').filter(Boolean)) count.set(Number(line), (count.get(Number(line)) ?? 0) + 1);
        assert.equal(count.size, 200, 'every item ran');
        for (let x = 0; x < 200; x++) {
          if (count.get(x)! > 1) assert.ok((ar.metadata[x]!.retries ?? 0) >= 1, `item ${x} ran ${count.get(x)} times and is marked as a retry`);
        }
        // The restored cluster goes on taking work, with the same keys.
        assert.equal(await client.loadBalancedView().apply(() => 'after the restore'), 'after the restore');
        const info = await readConnectionFile(cluster.clientConnectionFile);
        assert.notEqual(info.controller.pid, controllerPid);
        assert.equal(info.curveServerKey, serverKey);
        assert.equal(info.key, keys.key);
        assert.equal(statSync(keysFile).mode & 0o777, 0o600);
        if (curve) assert.ok(!readFileSync(`/proc/${info.controller.pid}/cmdline`, 'utf8').includes(keys.curve!.secretKey));
        await client.close();
        // A clean stop of the restored cluster removes the journal and the keys file.
        const exited = new Promise<number | null>((r) => restored!.once('exit', (code) => r(code)));
        restored.kill('SIGTERM');
        assert.equal(await exited, 0, output);
        assert.ok(!existsSync(keysFile) && !existsSync(path.join(tmp.dir, 'security', 'tsparallel-journal.jsonl')), 'nothing left to restore');
        const secrets = [keys.key, ...(keys.curve ? [keys.curve.secretKey] : [])];
        const logs = [output, ...readdirSync(path.join(tmp.dir, 'log')).map((f) => readFileSync(path.join(tmp.dir, 'log', f), 'utf8'))].join('\n');
        assert.ok(/tsparallel:controller/.test(logs), 'the restored controller logged (DEBUG)');
        for (const secret of secrets) assert.ok(!logs.includes(secret), 'no secret key in any log');
      } finally {
        if (restored && restored.exitCode === null) {
          const exited = new Promise((r) => restored!.once('exit', r));
          restored.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
          if (restored.exitCode === null) restored.kill('SIGKILL');
        }
        await cluster.stop();
        for (const pid of enginePids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        await tmp.remove();
      }
    });
  }
  it('tscluster start restores its own controller when it dies (controller.journal), and a pending map completes', async () => {
    const tmp = await tempDir();
    writeFileSync(path.join(tmp.dir, 'tsparallel.config.json'), JSON.stringify(CONFIG));
    const tscluster = spawn(process.execPath, [distEntry().replace(/index\.js$/, 'cli/tscluster.js'), 'start', '--profile-dir', tmp.dir, '-n', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    tscluster.stdout!.on('data', (d) => (output += d));
    tscluster.stderr!.on('data', (d) => (output += d));
    const pids: number[] = [];
    try {
      await waitUntil(() => /is running/.test(output), 60_000, 'tscluster start up');
      const clientFile = path.join(tmp.dir, 'security', 'tsparallel-client.json');
      const client = await Client.connect({ connectionFile: clientFile, heartbeatTimeoutMs: 60_000 });
      await waitUntil(() => client.ids.length === 2, 10_000, 'two engines');
      pids.push(...[...client.engines.values()].map((e) => e.pid));
      const ar = client.loadBalancedView().with({ retries: 2 }).map(async (x: number) => {
        await new Promise((r) => setTimeout(r, 50));
        return x + 1;
      }, range(100));
      await new Promise((r) => setTimeout(r, 700));
      const first = (await readConnectionFile(clientFile)).controller.pid;
      process.kill(first, 'SIGKILL');
      const results = await ar.get({ timeoutMs: 60_000 }).catch((err: Error) => {
        throw new Error(`${err.message}\n--- tscluster start said:\n${output}`);
      });
      assert.deepEqual(results, range(100).map((x) => x + 1));
      assert.match(output, /died: starting a new one with --restore/);
      const second = (await readConnectionFile(clientFile)).controller.pid;
      assert.notEqual(second, first);
      pids.push(second);
      assert.deepEqual(client.ids, [0, 1]);
      await client.close();
    } finally {
      const exited = new Promise((r) => tscluster.once('exit', r));
      if (tscluster.exitCode === null) tscluster.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 20_000))]);
      if (tscluster.exitCode === null) tscluster.kill('SIGKILL');
      const survivors = pids.filter(isAlive);
      for (const pid of survivors) process.kill(pid, 'SIGKILL');
      await tmp.remove();
      assert.deepEqual(survivors, [], 'tscluster stop left no process behind');
    }
  });
});
