/**
 * Clusters across hosts, on loopback with real processes and real ZeroMQ sockets: the owner lease (a controller
 * started with one stops, with its engines, when its owner is silent; a busy owner keeps it), engines that exit on
 * heartbeat silence without watching a pid, engines that take their connection info from the environment, the key on
 * no command line (read from /proc/<pid>/cmdline), and a client that falls back through the controller when an
 * engine's direct endpoint cannot be reached. The rig of simulated hosts runs the same paths with other addresses.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, createCluster } from '../../src/index.js';
import { ZeroMqTransport } from '../../src/launchers/index.js';
import { Engine } from '../../src/engine/engine.js';
import { IsolatedNamespace } from '../../src/engine/namespace.js';
import { OwnerSession } from '../../src/cluster/lease.js';
import { connectionFileName, readConnectionFile, type ConnectionInfo } from '../../src/wire/connection.js';
import { CONNECTION_INFO_ENV } from '../../src/wire/connection-env.js';
import { cliEnv, nodeScript, startCli } from '../support/cli-run.js';
import { killAll, needsXmllint, simJobs, simPids, simulatorCommand, survivors } from '../support/hpc-sim.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { FAST_HEARTBEAT, isAlive, tempDir, waitUntil } from '../support/cluster.js';

const started: ChildProcess[] = [];
after(() => {
  for (const child of started) if (child.pid && isAlive(child.pid)) child.kill('SIGKILL');
});

function spawnRole(script: 'tscontroller' | 'tsengine', args: string[], env: NodeJS.ProcessEnv): ChildProcess & { pid: number } {
  const [cmd, ...rest] = nodeScript(`src/cli/${script}.ts`);
  const child = spawn(cmd!, [...rest, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(child);
  return child as ChildProcess & { pid: number };
}

function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** A controller process in `dir` with fast heartbeats; resolves once both connection files exist. */
async function startController(dir: string, extra: string[]): Promise<{ proc: ChildProcess & { pid: number }; client: ConnectionInfo; engine: ConnectionInfo }> {
  const proc = spawnRole('tscontroller', ['--profile-dir', dir, '--heartbeat-ms', String(FAST_HEARTBEAT.heartbeatMs), '--heartbeat-timeout-ms', String(FAST_HEARTBEAT.heartbeatTimeoutMs), ...extra], cliEnv(dir));
  const engineFile = path.join(dir, 'security', connectionFileName('', 'engine'));
  await waitUntil(() => stat(engineFile).then(() => true, () => false), 30_000, 'the controller writes its connection files');
  return { proc, client: await readConnectionFile(path.join(dir, 'security', connectionFileName('', 'client'))), engine: await readConnectionFile(engineFile) };
}

/** An engine process that gets its connection info only through its environment. */
function startEngineFromEnv(dir: string, info: ConnectionInfo) {
  return spawnRole('tsengine', [], cliEnv(dir, { [CONNECTION_INFO_ENV]: JSON.stringify(info) }));
}

function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
}

describe('the owner lease and lifetimes without pids', () => {
  it('a controller started with a lease and never claimed stops by itself', async () => {
    const tmp = await tempDir();
    const { proc } = await startController(tmp.dir, ['--lease-ms', '1000']);
    assert.equal(await exitOf(proc), 0);
    await tmp.remove();
  });

  it('an owned controller lives while its owner answers, then stops with its engines', async () => {
    const tmp = await tempDir();
    const leaseMs = 1500;
    const { proc, client: info, engine } = await startController(tmp.dir, ['--lease-ms', String(leaseMs)]);
    const owner = await OwnerSession.open(new ZeroMqTransport(), info);
    assert.equal(owner.leaseMs, leaseMs);
    const engineProc = startEngineFromEnv(tmp.dir, engine);
    const client = await Client.connect({ connectionInfo: info });
    try {
      await client.waitForEngines(1, { timeoutMs: 30_000 });
      assert.equal(await client.view(0).apply(() => 6 * 7), 42, 'the engine took its connection info from the environment');
      // The key is on no command line: process lists are world-readable.
      for (const pid of [proc.pid, engineProc.pid]) assert.ok(!cmdline(pid).includes(info.key), `key not in /proc/${pid}/cmdline`);
      assert.match(cmdline(proc.pid), /--lease-ms 1500/);
      await new Promise((r) => setTimeout(r, 3 * leaseMs));
      assert.ok(isAlive(proc.pid), 'the controller stays up while its owner answers');
    } finally {
      await client.close();
    }
    await owner.close();
    assert.equal(await exitOf(proc), 0, 'the controller stops when its owner is silent');
    await exitOf(engineProc);
    assert.ok(!isAlive(engineProc.pid), 'its engine is gone too');
    await tmp.remove();
  });

  it('an engine exits when its controller is killed (heartbeat silence, no pid watched)', async () => {
    const tmp = await tempDir();
    const { proc, client: info, engine } = await startController(tmp.dir, []);
    const engineProc = startEngineFromEnv(tmp.dir, engine);
    const client = await Client.connect({ connectionInfo: info });
    await client.waitForEngines(1, { timeoutMs: 30_000 });
    await client.close();
    proc.kill('SIGKILL');
    await exitOf(proc);
    assert.equal(await exitOf(engineProc), 0);
    await tmp.remove();
  });
});

describe('the direct route falls back through the controller', () => {
  it('uses the controller for an engine whose direct endpoint is unreachable or loopback of another host', async () => {
    const tmp = await tempDir();
    const cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null, controller: { ...FAST_HEARTBEAT } });
    const engines: Engine[] = [];
    try {
      const info = await readConnectionFile(cluster.engineConnectionFile);
      // A port nobody listens on, advertised as this host's direct endpoint.
      const server = createServer();
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const deadPort = (server.address() as { port: number }).port;
      await new Promise((r) => server.close(r));
      const unreachable = new Engine({ transport: new ZeroMqTransport(), info, namespace: new IsolatedNamespace(), directAdvertised: `tcp://127.0.0.1:${deadPort}` });
      // A live loopback endpoint, but reported from another host ("node1"): its loopback is not ours.
      const otherHost = new Engine({ transport: new ZeroMqTransport(), info, namespace: new IsolatedNamespace(), hostname: 'node1' });
      for (const e of [unreachable, otherHost]) engines.push(await e.start());
      const client = await cluster.connect({ directProbeTimeoutMs: 500 });
      await client.waitForEngines(3, { timeoutMs: 30_000 });
      assert.equal(client.engines.get(unreachable.id)!.direct, `tcp://127.0.0.1:${deadPort}`);
      assert.equal(client.engines.get(otherHost.id)!.hostname, 'node1');
      // Had the client dialled the dead endpoint, these would never be answered.
      assert.equal(await client.view(unreachable.id).apply(() => 'via controller', ), 'via controller');
      await client.view(otherHost.id).push({ x: 5 });
      assert.deepEqual(await client.view(otherHost.id).pull('x'), 5);
      assert.deepEqual(await client.view().map((x: number) => x * 2, [1, 2, 3, 4, 5, 6]), [2, 4, 6, 8, 10, 12]);
      // Files holding the key stay private.
      for (const file of [cluster.clientConnectionFile, cluster.engineConnectionFile]) assert.equal((await stat(file)).mode & 0o777, 0o600);
      const key = JSON.parse(await readFile(cluster.clientConnectionFile, 'utf8')).key as string;
      for (const pid of cluster.pids) assert.ok(!cmdline(pid).includes(key), `key not in /proc/${pid}/cmdline`);
    } finally {
      await Promise.all(engines.map((e) => e.stop()));
      const pids = cluster.pids;
      await cluster.stop();
      assert.deepEqual(pids.filter(isAlive), [], 'no process survives');
      await tmp.remove();
    }
  });
});

describe('a cluster whose controller runs as a batch job ends with its owner', { skip: needsXmllint }, () => {
  it('tscluster killed with SIGKILL: the windows-hpc controller job sees its lease run out and stops, and the engines with it', async () => {
    const tmp = await tempDir('tsparallel-lease-hpc-');
    const simDir = path.join(tmp.dir, 'sim');
    const env = cliEnv(tmp.dir, { HPC_SIM_DIR: simDir, HPC_SIM_HEADNODES: 'HEADNODE', HPC_SIM_GRACE_MS: '2000' });
    const profileDir = path.join(tmp.dir, 'profile_leased');
    await mkdir(profileDir, { recursive: true });
    const config = {
      controller: { launcher: 'windows-hpc', ip: '127.0.0.1', leaseMs: 2000, ...FAST_HEARTBEAT },
      engines: { launcher: 'windows-hpc' },
      launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: simulatorCommand(), pollIntervalMs: 250 } },
    };
    await writeFile(path.join(profileDir, 'tsparallel.config.mjs'), `export default ${JSON.stringify(config)};\n`);
    const start = startCli(['start', '--profile', 'leased', '-n', '2'], env);
    try {
      await start.waitForOutput(/is running/, 120_000);
      assert.match(start.output(), /warning: engines\.launcher 'windows-hpc' places roles on other hosts, but the controller advertises a loopback address/);
      const pids = simPids(simDir);
      assert.ok(pids.length >= 3, 'the controller task and two engine tasks run');
      // The owner is gone at once, without stopping anything: only the lease can end the jobs' processes.
      start.child.kill('SIGKILL');
      await start.exited;
      assert.deepEqual(await survivors(pids, 30_000), [], 'the controller and its engines stopped by themselves');
      assert.ok(simJobs(simDir).every((j) => j.state !== 'Running'), JSON.stringify(simJobs(simDir).map((j) => j.state)));
    } finally {
      killAll([start.pid, ...simPids(simDir)]);
      await tmp.remove();
    }
  });
});
