/**
 * `tscluster start | engines | list | stop` as real child processes in a temporary TSPARALLEL_DIR: a cluster started
 * by the command is reached from another process, grows with `engines -n`, is listed, and stops (Ctrl-C, `stop`,
 * `--daemonize` + `stop`) leaving no process and no stale file.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Client } from '../../src/index.js';
import { isAlive, repoRoot, tempDir, waitUntil } from '../support/cluster.js';
import { cliEnv, clusterPids, killAll, nodeScript, runCli, startCli, waitForGone, type CliProcess } from '../support/cli-run.js';
import { needsXmllint, simPids, simulatorCommand, survivors } from '../support/hpc-sim.js';

const run = promisify(execFile);
const SEED = [0, 1, 1024, 59049, 1048576, 9765625, 60466176, 282475249, 1073741824, 3486784401, 10000000000, 25937424601, 61917364224, 137858491849, 289254654976];

/** Connect from a separate program with `Client.connect({ profile })` and map the seed's function. */
async function connectAndMap(env: NodeJS.ProcessEnv, profile: string, clusterId?: string): Promise<{ ids: number[]; result: number[] }> {
  const [cmd, ...args] = nodeScript('test/support/cli-connect-map.ts');
  const { stdout } = await run(cmd!, [...args, profile, ...(clusterId ? [clusterId] : [])], { cwd: repoRoot(), env, timeout: 60_000 });
  return JSON.parse(stdout) as { ids: number[]; result: number[] };
}

/** Files of a profile's security/ and pid/ folders. */
async function clusterFiles(profileDir: string): Promise<string[]> {
  const list = async (d: string) => (await readdir(path.join(profileDir, d)).catch(() => [] as string[])).map((f) => `${d}/${f}`);
  return [...(await list('security')), ...(await list('pid'))].sort();
}

describe('tscluster start in the foreground', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  let start: CliProcess;
  let profileDir: string;
  const seen = new Set<number>();

  before(async () => {
    tmp = await tempDir('tsparallel-cli-');
    env = cliEnv(tmp.dir);
    profileDir = path.join(tmp.dir, 'profile_mycluster');
    start = startCli(['start', '-n', '2', '--profile', 'mycluster'], env);
    await start.waitForOutput(/is running/);
  });
  after(async () => {
    if (isAlive(start.pid)) start.child.kill('SIGKILL');
    killAll([...seen]);
    await tmp.remove();
  });

  it('prints progress and how to connect, and writes its cluster file and pid file', async () => {
    const out = start.output();
    // Not a terminal here: every progress state is its own line.
    assert.match(out, /\[tscluster start\] engines registered 2\/2\n/);
    assert.match(out, /Client\.connect\(\{ profile: 'mycluster' \}\)/);
    assert.match(out, /tscluster shell --profile mycluster/);
    assert.equal((await readFile(path.join(profileDir, 'pid', 'tscluster.pid'), 'utf8')).trim(), String(start.pid));
    const pids = await clusterPids(path.join(profileDir, 'security', 'cluster.json'));
    assert.equal(pids[0], start.pid);
    assert.equal(pids.length, 4, 'tscluster start, the controller and 2 engines');
    for (const pid of pids) {
      seen.add(pid);
      assert.ok(isAlive(pid), `process ${pid} should run`);
    }
  });

  it('is reached from another process with Client.connect({ profile }), which maps over the engines', async () => {
    const { ids, result } = await connectAndMap(env, 'mycluster');
    assert.deepEqual(ids, [0, 1]);
    assert.deepEqual(result, SEED);
  });

  it('engines -n 2 has the running start process add engines, which clients then see', async () => {
    const added = await runCli(['engines', '-n', '2', '--profile', 'mycluster'], env);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /engines registered 4\/4/);
    assert.match(added.stdout, /now \[ 0, 1, 2, 3 \]/);
    const pids = await clusterPids(path.join(profileDir, 'security', 'cluster.json'));
    assert.equal(pids.length, 6, 'the new engines are recorded in the cluster file');
    for (const pid of pids) seen.add(pid);
    const { ids, result } = await connectAndMap(env, 'mycluster');
    assert.deepEqual(ids, [0, 1, 2, 3]);
    assert.deepEqual(result, SEED);
  });

  it('list shows it with its engines and pid', async () => {
    const listed = await runCli(['list'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const row = listed.stdout.split('\n').find((l) => l.startsWith('mycluster'));
    assert.ok(row, listed.stdout);
    assert.match(row, new RegExp(`^mycluster\\s+\\(default\\)\\s+4\\s+${start.pid}\\s+\\d+s$`));
    const json = JSON.parse((await runCli(['list', '--json', '--profile', 'mycluster'], env)).stdout) as { engines: number; pid: number }[];
    assert.deepEqual(json.map((r) => [r.engines, r.pid]), [[4, start.pid]]);
  });

  it('Ctrl-C (SIGINT) stops engines and controller, removes its files and exits 0', async () => {
    const pids = await clusterPids(path.join(profileDir, 'security', 'cluster.json'));
    start.child.kill('SIGINT');
    const { code } = await start.exited;
    assert.equal(code, 0, start.output());
    assert.match(start.output(), /SIGINT received/);
    await waitForGone(pids);
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} survived`);
    assert.deepEqual(await clusterFiles(profileDir), [], 'no cluster, connection, socket or pid file is left');
    const listed = await runCli(['list'], env);
    assert.match(listed.stdout, /no running clusters/);
  });
});

describe('tscluster stop, --daemonize, and stale entries', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  const seen = new Set<number>();
  const profileDir = () => path.join(tmp.dir, 'profile_default');

  before(async () => {
    tmp = await tempDir('tsparallel-cli-');
    env = cliEnv(tmp.dir);
  });
  after(async () => {
    killAll([...seen]);
    await tmp.remove();
  });

  it('stop sends the running start process SIGTERM and waits until every process is gone', async () => {
    const start = startCli(['start', '-n', '1'], env);
    try {
      await start.waitForOutput(/is running/);
      const pids = await clusterPids(path.join(profileDir(), 'security', 'cluster.json'));
      pids.forEach((p) => seen.add(p));
      const stopped = await runCli(['stop'], env);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stdout, new RegExp(`SIGTERM to its tscluster start process \\(pid ${start.pid}\\)`));
      // stop returns only once the processes are gone.
      for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} survived tscluster stop`);
      assert.equal((await start.exited).code, 0);
      assert.deepEqual(await clusterFiles(profileDir()), []);
    } finally {
      if (isAlive(start.pid)) start.child.kill('SIGKILL');
    }
  });

  it('--daemonize returns once the cluster is up and leaves it running; stop ends it', async () => {
    const started = await runCli(['start', '-n', '2', '--daemonize', '--cluster-id', 'bg'], env);
    assert.equal(started.code, 0, started.stdout + started.stderr);
    assert.match(started.stdout, /running in the background \(pid (\d+)\); log: .*tscluster-bg-\d+\.log/);
    const clusterFile = path.join(profileDir(), 'security', 'cluster-bg.json');
    const pids = await clusterPids(clusterFile);
    pids.forEach((p) => seen.add(p));
    assert.equal(pids[0], Number(/background \(pid (\d+)\)/.exec(started.stdout)![1]));
    for (const pid of pids) assert.ok(isAlive(pid), `process ${pid} should outlive tscluster start --daemonize`);
    assert.deepEqual((await connectAndMap(env, 'default', 'bg')).ids, [0, 1]);

    const stopped = await runCli(['stop', '--cluster-id', 'bg'], env);
    assert.equal(stopped.code, 0, stopped.stderr);
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} survived tscluster stop`);
    assert.equal(existsSync(clusterFile), false);
    assert.deepEqual(await clusterFiles(profileDir()), []);
  });

  it('--daemonize reports a background start that fails, with the end of its log', async () => {
    const result = await runCli(['start', '-n', '1', '--daemonize'], cliEnv(tmp.dir, { TSPARALLEL_ENGINES_LAUNCHER: 'no-such-launcher' }));
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /no-such-launcher/);
    assert.deepEqual(await clusterFiles(profileDir()), []);
  });

  it('list detects a dead cluster (its start process was killed), reports it and removes its files', async () => {
    const start = startCli(['start', '-n', '1', '--profile', 'doomed'], env);
    const doomedDir = path.join(tmp.dir, 'profile_doomed');
    await start.waitForOutput(/is running/);
    const pids = await clusterPids(path.join(doomedDir, 'security', 'cluster.json'));
    pids.forEach((p) => seen.add(p));
    // A running cluster next to it must stay listed.
    const live = startCli(['start', '-n', '1', '--profile', 'alive'], env);
    try {
      await live.waitForOutput(/is running/);
      (await clusterPids(path.join(tmp.dir, 'profile_alive', 'security', 'cluster.json'))).forEach((p) => seen.add(p));
      start.child.kill('SIGKILL');
      // The controller notices its parent is gone and stops its engines.
      await waitForGone(pids);
      assert.ok((await clusterFiles(doomedDir)).includes('security/cluster.json'), 'a killed start process leaves its files');

      const listed = await runCli(['list'], env);
      assert.equal(listed.code, 0, listed.stderr);
      assert.match(listed.stderr, /stale: cluster \(default\) of profile 'doomed' is not running/);
      assert.doesNotMatch(listed.stdout, /^doomed/m);
      assert.match(listed.stdout, /^alive\s+\(default\)\s+1\s/m);
      assert.deepEqual(await clusterFiles(doomedDir), [], 'the stale files are removed');
      const again = await runCli(['list'], env);
      assert.doesNotMatch(again.stderr, /stale/);
    } finally {
      live.child.kill('SIGINT');
      await live.exited;
    }
    const stopped = await runCli(['stop', '--profile', 'alive'], env);
    assert.equal(stopped.code, 1, 'nothing left to stop');
    assert.match(stopped.stderr, /no running cluster in profile 'alive'/);
  });

  it('stop and engines without a running cluster fail with exit 1 and say how to start one', async () => {
    for (const args of [['stop', '--profile', 'nothing'], ['engines', '-n', '1', '--profile', 'nothing'], ['shell', '--profile', 'nothing']]) {
      const result = await runCli(args, env);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /tscluster start --profile nothing/);
    }
    // A profile given by its directory is named by it: its name ('default') would be another profile.
    const dir = path.join(tmp.dir, 'elsewhere');
    for (const command of [['stop'], ['engines', '-n', '1'], ['shell'], ['dashboard']]) {
      const args = [...command, '--profile-dir', dir];
      const result = await runCli(args, env);
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.includes(`no running cluster in profile ${dir}`), `${args.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.includes(`start one with \`tscluster start --profile-dir ${dir}\``), `${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /profile 'default'|--profile default/);
    }
  });
});

describe('tscluster start with --profile-dir', () => {
  it('names the profile by its directory, also when it refuses to start a second cluster with the same id', async () => {
    const tmp = await tempDir('tsparallel-cli-');
    const env = cliEnv(tmp.dir);
    const dir = path.join(tmp.dir, 'p1');
    const start = startCli(['start', '-n', '1', '--profile-dir', dir], env);
    const pids: number[] = [];
    try {
      await start.waitForOutput(/is running/);
      pids.push(...(await clusterPids(path.join(dir, 'security', 'cluster.json'))));
      assert.ok(start.stdout().includes(`Starting a cluster of profile ${dir}:`), start.output());
      assert.ok(start.stdout().includes(`Cluster (default) of profile ${dir} is running`), start.output());
      const second = await runCli(['start', '-n', '1', '--profile-dir', dir, '--cluster-id', ''], env);
      assert.equal(second.code, 2, second.stderr);
      assert.ok(second.stderr.includes(`cluster (default) of profile ${dir} is already running`), second.stderr);
      assert.ok(second.stderr.includes(`stop it with \`tscluster stop --profile-dir ${dir}\``), second.stderr);
      assert.doesNotMatch(start.output() + second.stdout + second.stderr, /profile 'default'|--profile default/);
      start.child.kill('SIGINT');
      assert.equal((await start.exited).code, 0, start.output());
      assert.ok(start.stdout().includes(`Cluster (default) of profile ${dir} stopped`), start.output());
      await waitForGone(pids);
      assert.deepEqual(await clusterFiles(dir), []);
    } finally {
      killAll([start.pid, ...pids]);
      await tmp.remove();
    }
  });
});

describe('tscluster start --daemonize shows what the background start warned about', { skip: needsXmllint }, () => {
  it('a windows-hpc profile whose controller advertises loopback: the warning and its fix reach the terminal', async () => {
    const tmp = await tempDir('tsparallel-cli-');
    const simDir = path.join(tmp.dir, 'sim');
    const env = cliEnv(tmp.dir, { HPC_SIM_DIR: simDir, HPC_SIM_HEADNODES: 'HEADNODE' });
    const profileDir = path.join(tmp.dir, 'profile_hpc');
    await mkdir(profileDir, { recursive: true });
    const config = {
      controller: { ip: '127.0.0.1' },
      engines: { launcher: 'windows-hpc' },
      launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: simulatorCommand(), pollIntervalMs: 250 } },
    };
    await writeFile(path.join(profileDir, 'tsparallel.config.mjs'), `export default ${JSON.stringify(config)};\n`);
    const pids: number[] = [];
    try {
      const started = await runCli(['start', '--profile', 'hpc', '-n', '1', '--daemonize'], env, { timeoutMs: 120_000 });
      assert.equal(started.code, 0, started.stdout + started.stderr);
      pids.push(...(await clusterPids(path.join(profileDir, 'security', 'cluster.json'))), ...simPids(simDir));
      assert.match(started.stdout, /running in the background/);
      assert.match(started.stderr, /^\[tscluster start\] warning: engines\.launcher 'windows-hpc' places roles on other hosts, but the controller advertises a loopback address .*Fix: /m);
      const stopped = await runCli(['stop', '--profile', 'hpc'], env);
      assert.equal(stopped.code, 0, stopped.stdout + stopped.stderr);
      assert.deepEqual(await survivors([...pids, ...simPids(simDir)], 30_000), [], 'no process survives the stop');
      assert.deepEqual(await clusterFiles(profileDir), []);
    } finally {
      killAll([...pids, ...simPids(simDir)]);
      await tmp.remove();
    }
  });
});

describe('tscluster start when its terminal or its output goes away', () => {
  it('SIGHUP (the terminal closed) stops the cluster as Ctrl-C does, removing its files', async () => {
    const tmp = await tempDir('tsparallel-cli-');
    const dir = path.join(tmp.dir, 'hup');
    const start = startCli(['start', '-n', '1', '--profile-dir', dir], cliEnv(tmp.dir));
    const pids: number[] = [];
    try {
      await start.waitForOutput(/is running/);
      pids.push(...(await clusterPids(path.join(dir, 'security', 'cluster.json'))));
      start.child.kill('SIGHUP');
      const { code, signal } = await start.exited;
      assert.deepEqual({ code, signal }, { code: 0, signal: null }, start.output());
      assert.match(start.output(), /SIGHUP received: stopping the engines/);
      await waitForGone(pids);
      assert.deepEqual(await clusterFiles(dir), [], 'no cluster, connection, socket, CA or pid file is left');
    } finally {
      killAll([start.pid, ...pids]);
      await tmp.remove();
    }
  });

  it('a closed stdout and stderr (tscluster start | head -2) are no error: the cluster runs, and stops cleanly', async () => {
    const tmp = await tempDir('tsparallel-cli-');
    const dir = path.join(tmp.dir, 'piped');
    const start = startCli(['start', '-n', '1', '--profile-dir', dir], cliEnv(tmp.dir));
    const pids: number[] = [];
    try {
      // Close the reading ends after the first line: every later line (progress too) meets a closed pipe.
      await start.waitForOutput(/\n/);
      start.child.stdout!.destroy();
      start.child.stderr!.destroy();
      const pidFile = path.join(dir, 'pid', 'tscluster.pid');
      let exitedEarly = false;
      void start.exited.then(() => (exitedEarly = true));
      await waitUntil(() => exitedEarly || existsSync(pidFile), 60_000, 'the cluster to be up (its pid file)');
      assert.equal(exitedEarly, false, 'tscluster start died when its output closed');
      pids.push(...(await clusterPids(path.join(dir, 'security', 'cluster.json'))));
      for (const pid of pids) assert.ok(isAlive(pid), `process ${pid} should run`);
      start.child.kill('SIGINT');
      assert.equal((await start.exited).code, 0);
      await waitForGone(pids);
      assert.deepEqual(await clusterFiles(dir), []);
    } finally {
      killAll([start.pid, ...pids]);
      await tmp.remove();
    }
  });
});

describe('tscluster start: a second Ctrl-C forces', () => {
  it('kills every process of the cluster, removes its files and exits 1', async () => {
    const tmp = await tempDir('tsparallel-cli-');
    const env = cliEnv(tmp.dir);
    const profileDir = path.join(tmp.dir, 'profile_default');
    const start = startCli(['start', '-n', '2'], env);
    try {
      await start.waitForOutput(/is running/);
      const pids = await clusterPids(path.join(profileDir, 'security', 'cluster.json'));
      // Keep engine 0 in a synchronous loop: it cannot act on SIGTERM, so the orderly stop waits for it, and the
      // second Ctrl-C lands during that wait. (Two signals sent back to back would be merged into one.)
      const client = await Client.connect({ profileDir });
      void client.view(0).apply(() => {
        const end = Date.now() + 30_000;
        while (Date.now() < end);
      }).catch(() => {});
      await new Promise((r) => setTimeout(r, 200));
      start.child.kill('SIGINT');
      await start.waitForOutput(/SIGINT received/);
      start.child.kill('SIGINT');
      const { code } = await start.exited;
      await client.close();
      assert.equal(code, 1, start.output());
      assert.match(start.output(), /forced stop: killing processes/);
      await waitForGone(pids);
      for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} survived`);
      assert.deepEqual(await clusterFiles(profileDir), [], 'no cluster, connection or pid file is left');
    } finally {
      killAll(start.child.pid ? [start.child.pid] : []);
      await tmp.remove();
    }
  });
});
