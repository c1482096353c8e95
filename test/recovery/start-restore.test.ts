/**
 * `tscluster start` and `createCluster()` restore by default, over real processes: after kill -9 of the controller
 * and of the process that started its cluster, a plain start takes the cluster over (engines re-adopted, tasks
 * re-queued, said on the terminal); a clean stop leaves nothing to restore; `--no-restore` starts afresh, stopping
 * the engines left waiting and moving the journal aside; a restored cluster's stop kills by pid an adopted engine
 * that cannot answer its shutdown request.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Client, createCluster, range, type RestoreEvent } from '../../src/index.js';
import { readConnectionFile } from '../../src/wire/connection.js';
import { distEntry, isAlive, tempDir, waitUntil } from '../support/cluster.js';
import { cliEnv, killAll, runCli, startCli, waitForGone, type CliProcess } from '../support/cli-run.js';

/** A long heartbeat timeout: this machine is shared and loaded, and a late ping must not pass for a death. */
const CONFIG = {
  controller: { heartbeatMs: 200, heartbeatTimeoutMs: 5000, journal: true },
  engines: { reconnectMs: 120_000 },
};

/** A profile `P` under a fresh TSPARALLEL_DIR, with CONFIG. */
async function profileP() {
  const tmp = await tempDir();
  const dir = path.join(tmp.dir, 'profile_P');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'tsparallel.config.json'), JSON.stringify(CONFIG));
  const security = path.join(dir, 'security');
  return {
    ...tmp,
    profileDir: dir,
    env: cliEnv(tmp.dir),
    clientFile: path.join(security, 'tsparallel-client.json'),
    journal: path.join(security, 'tsparallel-journal.jsonl'),
    keys: path.join(security, 'tsparallel-controller-keys.json'),
    security,
  };
}

/** SIGTERM a `tscluster start` and wait for it (SIGKILL after 30 s). */
async function stopCli(proc: CliProcess | undefined): Promise<{ code: number | null } | undefined> {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return undefined;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 30_000);
  const result = await proc.exited;
  clearTimeout(timer);
  return result;
}

/** Kill -9 the `tscluster start` (or program) that owns a cluster and its controller, at once. */
async function killOwnerAndController(ownerPid: number, clientFile: string): Promise<number> {
  const controllerPid = (await readConnectionFile(clientFile)).controller.pid;
  process.kill(ownerPid, 'SIGKILL');
  process.kill(controllerPid, 'SIGKILL');
  await waitUntil(() => !isAlive(ownerPid) && !isAlive(controllerPid), 10_000, 'the owner and the controller gone');
  return controllerPid;
}

describe('tscluster start restores by default (controller.journal)', () => {
  it('takes over after kill -9 of the controller and of tscluster start: engines re-adopted, tasks re-queued, the pending map completes; a clean stop leaves nothing to restore', async () => {
    const p = await profileP();
    const runs = path.join(p.dir, 'runs.log');
    writeFileSync(runs, '');
    const pids: number[] = [];
    let first: CliProcess | undefined;
    let second: CliProcess | undefined;
    let third: CliProcess | undefined;
    let client: Client | undefined;
    try {
      first = startCli(['start', '--profile', 'P', '-n', '3'], p.env);
      await first.waitForOutput(/is running/, 90_000);
      client = await Client.connect({ connectionFile: p.clientFile, heartbeatTimeoutMs: 120_000 });
      await waitUntil(() => client!.ids.length === 3, 10_000, 'three engines');
      const engines = new Map([...client.engines.values()].map((e) => [e.id, e.pid]));
      pids.push(...engines.values());
      await client.view().push({ runsLog: runs });
      const ar = client.loadBalancedView().with({ retries: 3 }).map(async (x: number) => {
        const fs = process.getBuiltinModule('node:fs');
        fs.appendFileSync((globalThis as any).runsLog, `${x}\n`);
        await new Promise((r) => setTimeout(r, 50));
        return x * 3;
      }, range(150));
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(!ar.ready(), 'the map still runs when its cluster is killed');
      const deadController = await killOwnerAndController(first.pid, p.clientFile);
      // While nobody leads the cluster, engine 2 dies too: what it was running must run again, as retries.
      process.kill(engines.get(2)!, 'SIGKILL');
      assert.ok(isAlive(engines.get(0)!) && isAlive(engines.get(1)!), 'engines 0 and 1 wait for their controller');
      assert.ok(existsSync(p.journal) && existsSync(p.keys), 'the dead controller left its journal and keys file');

      second = startCli(['start', '--profile', 'P'], p.env);
      await second.waitForOutput(/is running/, 90_000);
      const said = second.output();
      assert.match(said, new RegExp(`Restoring cluster \\(default\\): its controller \\(pid ${deadController} on \\S+\\) died, leaving a journal with \\d+ unfinished tasks? \\(\\d+ queued, \\d+ running\\) and engines 0, 1, 2`));
      const restored = /Restored: engines re-adopted: 0, 1 \(not back: 2\); tasks re-queued: (\d+) tasks? \((\d+) that were queued, (\d+) that ran on engines that did not come back/.exec(said);
      assert.ok(restored, `the restore said what it took over:\n${said}`);
      assert.ok(Number(restored[3]) >= 1, `engine 2's tasks were re-queued:\n${said}`);

      const results = await ar.get({ timeoutMs: 120_000 }).catch((err: Error) => {
        throw new Error(`${err.message}\n--- the restoring tscluster start said:\n${second!.output()}`);
      });
      assert.deepEqual(results, range(150).map((x) => x * 3));
      // No engine was started (no -n): the two that came back kept their ids.
      assert.deepEqual(client.ids, [0, 1]);
      const count = new Map<number, number>();
      for (const line of readFileSync(runs, 'utf8').split('\n').filter(Boolean)) count.set(Number(line), (count.get(Number(line)) ?? 0) + 1);
      assert.equal(count.size, 150, 'every item ran');
      const twice = [...count].filter(([, n]) => n > 1).map(([x]) => x);
      assert.ok(twice.length >= 1, 'engine 2 was running a task when it was killed, so one ran twice');
      for (const x of twice) assert.ok((ar.metadata[x]!.retries ?? 0) >= 1, `item ${x} ran ${count.get(x)} times and is marked as a retry`);
      await client.close();
      client = undefined;

      // A clean stop: the adopted engines stop too, and neither journal nor keys file is left.
      assert.equal((await stopCli(second))?.code, 0, second.output());
      await waitForGone([engines.get(0)!, engines.get(1)!]);
      assert.ok(!existsSync(p.journal) && !existsSync(p.keys), `a clean stop leaves nothing to restore: ${readdirText(p.security)}`);
      const nothing = await runCli(['start', '--profile', 'P', '--restore'], p.env);
      assert.notEqual(nothing.code, 0);
      assert.match(nothing.stdout + nothing.stderr, /nothing to restore/);

      // And the next plain start is a fresh cluster.
      third = startCli(['start', '--profile', 'P', '-n', '1'], p.env);
      await third.waitForOutput(/is running/, 90_000);
      assert.doesNotMatch(third.output(), /Restor/);
      const fresh = await Client.connect({ connectionFile: p.clientFile });
      await waitUntil(() => fresh.ids.length === 1, 10_000, 'one fresh engine');
      assert.deepEqual(fresh.ids, [0]);
      pids.push(...[...fresh.engines.values()].map((e) => e.pid));
      await fresh.close();
      assert.equal((await stopCli(third))?.code, 0, third.output());
    } finally {
      await client?.close().catch(() => {});
      for (const proc of [first, second, third]) await stopCli(proc);
      const survivors = pids.filter(isAlive);
      killAll(survivors);
      await p.remove();
      assert.deepEqual(survivors, [], 'no process left behind');
    }
  });

  it('--no-restore starts afresh (and tscluster stop of a dead cluster ends it): the engines left waiting are stopped and the journal is moved aside; --restore with --no-restore is a usage error', async () => {
    const p = await profileP();
    const pids: number[] = [];
    let first: CliProcess | undefined;
    let second: CliProcess | undefined;
    try {
      first = startCli(['start', '--profile', 'P', '-n', '2'], p.env);
      await first.waitForOutput(/is running/, 90_000);
      const watcher = await Client.connect({ connectionFile: p.clientFile });
      await waitUntil(() => watcher.ids.length === 2, 10_000, 'two engines');
      const old = [...watcher.engines.values()].map((e) => e.pid);
      await watcher.close();
      pids.push(...old);
      await killOwnerAndController(first.pid, p.clientFile);
      assert.ok(old.every(isAlive), 'the engines wait for their controller');

      const both = await runCli(['start', '--profile', 'P', '--restore', '--no-restore'], p.env);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /--restore and --no-restore contradict each other/);

      second = startCli(['start', '--profile', 'P', '--no-restore', '-n', '1'], p.env);
      await second.waitForOutput(/is running/, 90_000);
      const said = second.output();
      const m = /Not restoring cluster \(default\): a fresh start was asked for .*moved to (\S+\.discarded\.jsonl); its engines that waited for it \(pids ([\d, ]+)\) were stopped/.exec(said);
      assert.ok(m, said);
      assert.deepEqual(m[2]!.split(', ').map(Number).sort(), [...old].sort());
      assert.ok(old.every((pid) => !isAlive(pid)), 'the old engines are gone');
      assert.ok(existsSync(m[1]!), 'the journal was moved, not deleted');
      assert.equal(statSync(m[1]!).mode & 0o777, 0o600);
      assert.doesNotMatch(said, /Restoring/);
      const fresh = await Client.connect({ connectionFile: p.clientFile });
      await waitUntil(() => fresh.ids.length === 1, 10_000, 'one fresh engine');
      const freshPids = [...fresh.engines.values()].map((e) => e.pid);
      pids.push(...freshPids);
      await fresh.close();

      // This one dies too; `tscluster stop` then ends its waiting engine, and leaves nothing to restore.
      await killOwnerAndController(second.pid, p.clientFile);
      assert.ok(freshPids.every(isAlive));
      const stopped = await runCli(['stop', '--profile', 'P'], p.env);
      assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
      assert.match(stopped.stdout, new RegExp(`stopped the engines of cluster \\(default\\) of profile 'P' that waited for their dead controller: pids ${freshPids[0]}`));
      assert.match(stopped.stdout, /the journal of its dead controller was moved to \S+\.discarded\.jsonl; nothing is left to restore/);
      assert.ok(freshPids.every((pid) => !isAlive(pid)));
      assert.ok(!existsSync(p.journal) && !existsSync(p.keys), 'nothing is left to restore');
    } finally {
      for (const proc of [first, second]) await stopCli(proc);
      const survivors = pids.filter(isAlive);
      killAll(survivors);
      await p.remove();
      assert.deepEqual(survivors, [], 'no process left behind');
    }
  });
});

describe('createCluster() restores by default too', () => {
  it('takes over from a program killed with its controller, adds engines only when n is given, and its stop kills an adopted engine that cannot answer', async () => {
    const p = await profileP();
    const program = path.join(p.dir, 'owner.mjs');
    writeFileSync(
      program,
      `import { createCluster } from ${JSON.stringify(distEntry())};\n` +
        `const cluster = await createCluster({ n: 2, profileDir: ${JSON.stringify(p.profileDir)}, projectDir: null });\n` +
        `process.stdout.write('up ' + JSON.stringify(cluster.pids) + '\\n');\n` +
        `setInterval(() => {}, 1000);\n`,
    );
    const { spawn } = await import('node:child_process');
    const owner = spawn(process.execPath, [program], { stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    owner.stdout!.on('data', (d) => (said += d));
    owner.stderr!.on('data', (d) => (said += d));
    const pids: number[] = [];
    let cluster: Awaited<ReturnType<typeof createCluster>> | undefined;
    try {
      await waitUntil(() => /^up /m.test(said), 90_000, `the program's cluster up: ${said}`);
      const [, ...enginePids] = JSON.parse(/^up (.*)$/m.exec(said)![1]!) as number[];
      pids.push(...enginePids);
      await killOwnerAndController(owner.pid!, p.clientFile);
      assert.ok(enginePids.every(isAlive));

      const events: RestoreEvent[] = [];
      cluster = await createCluster({ profileDir: p.profileDir, projectDir: null, n: 1, onRestore: (e) => events.push(e) });
      assert.deepEqual(events.map((e) => e.type), ['restoring', 'restored']);
      assert.deepEqual(cluster.restored?.expected, [0, 1]);
      assert.deepEqual(cluster.restored?.adopted, [0, 1]);
      const client = await cluster.connect();
      // n was given: one engine more than the two taken back.
      await waitUntil(() => client.ids.length === 3, 10_000, 'the adopted engines and a new one');
      assert.deepEqual(client.ids, [0, 1, 2]);
      assert.deepEqual(await client.view().apply(() => 'all answer'), ['all answer', 'all answer', 'all answer']);
      pids.push(...[...client.engines.values()].map((e) => e.pid));
      assert.ok(enginePids.every((pid) => cluster!.pids.includes(pid)), 'the adopted engines are among the cluster pids');

      // An adopted engine that cannot answer its shutdown request (stopped) is killed by pid; the stop is bounded.
      process.kill(enginePids[0]!, 'SIGSTOP');
      const started = Date.now();
      await cluster.stop();
      const took = Date.now() - started;
      assert.ok(enginePids.every((pid) => !isAlive(pid)), 'the adopted engines are gone after stop()');
      assert.ok(took < 20_000, `stop() took ${took} ms`);
      assert.ok(!existsSync(p.journal) && !existsSync(p.keys), 'a clean stop leaves nothing to restore');
    } finally {
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGCONT');
      await cluster?.stop();
      if (owner.exitCode === null && owner.signalCode === null) owner.kill('SIGKILL');
      const survivors = [...new Set(pids)].filter(isAlive);
      killAll(survivors);
      await p.remove();
      assert.deepEqual(survivors, [], 'no process left behind');
    }
  });
});

describe('journals that are not restored by default', () => {
  it('a journal without its keys file is moved aside with a clear reason, and a fresh cluster starts; one whose cluster owner still runs counts as running', async () => {
    const p = await profileP();
    try {
      mkdirSync(p.security, { recursive: true, mode: 0o700 });
      // A journal as an older version, or a controller that died while it started, leaves it: no keys file.
      writeFileSync(p.journal, JSON.stringify({ op: 'snapshot', nextEngineId: 0 }) + '\n', { mode: 0o600 });
      const events: RestoreEvent[] = [];
      {
        await using cluster = await createCluster({ profileDir: p.profileDir, projectDir: null, n: 1, onRestore: (e) => events.push(e) });
        assert.equal(cluster.restored, undefined);
        assert.equal(events.length, 1);
        const [event] = events;
        assert.ok(event?.type === 'discarded', JSON.stringify(events));
        assert.match(event.reason, /cannot be restored: its keys file \S+tsparallel-controller-keys\.json is missing/);
        assert.ok(existsSync(event.archived) && event.archived.endsWith('.discarded.jsonl'));
        const client = await cluster.connect();
        assert.deepEqual(client.ids, [0]);
      }

      // A dead controller's journal and keys, but the process that started its cluster (here: this one) runs.
      const { spawnSync } = await import('node:child_process');
      const deadPid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
      writeFileSync(p.journal, JSON.stringify({ op: 'snapshot', nextEngineId: 0 }) + '\n', { mode: 0o600 });
      const keys = { version: 1, clusterId: '', transport: 'zeromq', controller: { pid: Number(deadPid), hostname: (await import('node:os')).hostname() }, key: 'k', ports: { client: 1, engine: 2, heart: 3 }, created: new Date().toISOString() };
      writeFileSync(p.keys, JSON.stringify(keys), { mode: 0o600 });
      const clusterFile = { clusterId: '', profileDir: p.profileDir, pid: process.pid, hostname: keys.controller.hostname, n: 1, created: keys.created, connectionFiles: { client: p.clientFile, engine: path.join(p.security, 'tsparallel-engine.json') }, launchers: { controller: { name: 'local', pids: [Number(deadPid)], jobIds: [] }, engines: [] } };
      writeFileSync(path.join(p.security, 'cluster.json'), JSON.stringify(clusterFile), { mode: 0o600 });
      await assert.rejects(
        createCluster({ profileDir: p.profileDir, projectDir: null, n: 1, clusterId: '' }),
        new RegExp(`already running \\(its controller died, but the process that started it \\(pid ${process.pid}\\) still runs`),
      );
      assert.ok(existsSync(p.journal) && existsSync(p.keys), 'nothing was touched');
    } finally {
      await p.remove();
    }
  });
});

function readdirText(dir: string): string {
  return process.getBuiltinModule('node:fs').readdirSync(dir).join(', ');
}
