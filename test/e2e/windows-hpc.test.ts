/**
 * The seed's cycle end to end through batch launchers: a real cluster (controller and engine processes over
 * ZeroMQ) whose processes are started as jobs, through the `windows-hpc` launcher and the HPC `job` simulator, and
 * through the `in-process` test scheduler; then client → ids → map → stop, the jobs cancelled and no process left.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { container, type DependencyContainer } from 'tsyringe';
import { createCluster, range, SchedulerError, type Cluster } from '../../src/index.js';
import { builtinLaunchers, LAUNCHER_REGISTRY, LauncherRegistry } from '../../src/launchers/index.js';
import { InProcessScheduler } from '../../src/launchers/in-process/scheduler.js';
import { inProcessLauncher } from '../../src/launchers/in-process/launcher.js';
import { CONTROLLER_JOB_FILE, ENGINE_SET_JOB_FILE, windowsHpcLauncher } from '../../src/launchers/windows-hpc/launcher.js';
import { SCHEDULER } from '../../src/core/scheduler.js';
import { cliEnv, nodeScript, startCli, type CliProcess } from '../support/cli-run.js';
import { repoRoot } from '../support/cluster.js';
import { isAlive, killAll, needsXmllint, simJobs, simPids, simulatorCommand, survivors, tempDir, xmllintValidate } from '../support/hpc-sim.js';

const SEED = [0, 1, 1024, 59049, 1048576, 9765625, 60466176, 282475249, 1073741824, 3486784401, 10000000000, 25937424601, 61917364224, 137858491849, 289254654976];

/** A container whose launcher registry holds the built-in launchers and the batch ones under test. */
function containerWithBatchLaunchers(): DependencyContainer {
  const c = container.createChildContainer();
  const registry = new LauncherRegistry();
  for (const plugin of builtinLaunchers) registry.register(plugin);
  // Registered here too, so this test does not depend on which built-ins ship (the same objects either way).
  registry.register(windowsHpcLauncher).register(inProcessLauncher);
  c.register(LAUNCHER_REGISTRY, { useValue: registry });
  return c;
}

describe('a cluster through the windows-hpc launcher and the HPC job simulator', { skip: needsXmllint }, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let simDir: string;
  before(async () => {
    tmp = await tempDir('tsparallel-e2e-hpc-');
    simDir = path.join(tmp.dir, 'sim');
    process.env.HPC_SIM_DIR = simDir;
    process.env.HPC_SIM_GRACE_MS = '2000';
    process.env.HPC_SIM_HEADNODES = 'HEADNODE';
  });
  after(async () => {
    killAll(simPids(simDir).filter(isAlive));
    await tmp.remove();
  });

  it('starts controller and engines as HPC jobs, maps the seed function, and cancels the jobs on stop', async () => {
    const profileDir = path.join(tmp.dir, 'profile_mycluster');
    let cluster: Cluster | undefined;
    try {
      cluster = await createCluster({
        n: 4,
        profileDir,
        projectDir: null,
        container: containerWithBatchLaunchers(),
        // The simulator runs every task on this host: loopback, said explicitly (remote launchers default to every interface).
        controller: { launcher: 'windows-hpc', ip: '127.0.0.1' },
        engines: { launcher: 'windows-hpc', startTimeoutMs: 60_000 },
        launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: simulatorCommand(), pollIntervalMs: 250 } },
      });
      // The two job files of the seed, valid against the schema, in the profile directory.
      for (const file of [CONTROLLER_JOB_FILE, ENGINE_SET_JOB_FILE]) {
        assert.ok(existsSync(path.join(profileDir, file)), file);
        assert.ok(xmllintValidate(path.join(profileDir, file)).ok, file);
      }
      // Across hosts: the controller is owned through a lease, not a pid of this host; engines get their connection
      // info in their environment; the key is on no command line, and the job files holding it are 0600.
      const key = JSON.parse(await readFile(cluster.clientConnectionFile, 'utf8')).key as string;
      const controllerXml = await readFile(path.join(profileDir, CONTROLLER_JOB_FILE), 'utf8');
      const engineXml = await readFile(path.join(profileDir, ENGINE_SET_JOB_FILE), 'utf8');
      assert.match(controllerXml, /--lease-ms \d+/);
      assert.doesNotMatch(controllerXml, /--parent-pid/);
      assert.match(engineXml, /<Name>TSPARALLEL_CONNECTION_INFO<\/Name>/);
      for (const xml of [controllerXml, engineXml]) {
        for (const line of xml.match(/CommandLine="[^"]*"/g) ?? []) assert.ok(!line.includes(key), 'no key on a command line');
      }
      assert.ok(engineXml.includes(key), 'the engines get the key through their environment');
      for (const file of [CONTROLLER_JOB_FILE, ENGINE_SET_JOB_FILE]) assert.equal((await stat(path.join(profileDir, file))).mode & 0o777, 0o600, file);
      // Every process the simulator started (controller and engine tasks): the key is not in /proc/<pid>/cmdline.
      for (const pid of simPids(simDir)) {
        const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
        assert.ok(!argv.includes(key), `key not in /proc/${pid}/cmdline`);
      }
      assert.ok(simPids(simDir).length >= 5, 'the controller and four engine tasks were checked');
      assert.equal(cluster.jobIds.length, 2);
      assert.deepEqual(cluster.pids, [], 'batch jobs have no local pids');
      const jobs = simJobs(simDir);
      assert.deepEqual(jobs.map((j) => [j.name, j.state, j.tasks.length]), [
        ['tsparallel-controller', 'Running', 1],
        ['tsparallel-engines', 'Running', 4],
      ]);

      const client = await cluster.connect();
      assert.deepEqual(client.ids, [0, 1, 2, 3]);
      assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), SEED);
      const enginePids = new Set(await client.view().map(() => process.pid, range(8)));
      const taskPids = jobs[1]!.tasks.map((t) => t.pid);
      assert.deepEqual([...enginePids].sort(), [...taskPids].sort(), 'the engines are the simulated tasks');
    } finally {
      await cluster?.stop();
    }
    assert.deepEqual(simJobs(simDir).map((j) => j.state), ['Canceled', 'Canceled']);
    assert.deepEqual(await survivors(simPids(simDir)), [], 'no process survives the cancel');
  });

  it('fails cleanly when the head node refuses the submit: SchedulerError, nothing left running', async () => {
    const before = simJobs(simDir).length;
    const controllerScheduler = new InProcessScheduler();
    const c = containerWithBatchLaunchers();
    c.register(SCHEDULER, { useValue: controllerScheduler });
    await assert.rejects(
      createCluster({
        n: 2,
        profileDir: path.join(tmp.dir, 'profile_refused'),
        projectDir: null,
        container: c,
        // The controller starts (in-process jobs); the engines' submit goes to a head node that does not answer.
        controller: { launcher: 'in-process', ip: '127.0.0.1' },
        engines: { launcher: 'windows-hpc' },
        launchers: { 'windows-hpc': { scheduler: 'NOSUCHHEAD', jobCommand: simulatorCommand() } },
      }),
      (e: unknown) => e instanceof SchedulerError && /Unable to connect to the head node NOSUCHHEAD/.test(e.output ?? '') && e.exitCode === 1,
    );
    assert.equal(simJobs(simDir).length, before, 'no job was created');
    assert.equal(controllerScheduler.pids().length, 1, 'the controller had started');
    assert.deepEqual(await survivors(controllerScheduler.pids()), [], 'and was stopped');
  });
});

describe('a cluster through the in-process test scheduler', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir('tsparallel-e2e-inproc-');
  });
  after(() => tmp.remove());

  for (const enginesInProcess of [false, true]) {
    it(`maps the seed function with engines ${enginesInProcess ? 'inside this process' : 'as job processes'}, and stops every job`, async () => {
      const scheduler = new InProcessScheduler({ graceMs: 2000 });
      const c = containerWithBatchLaunchers();
      c.register(SCHEDULER, { useValue: scheduler });
      let cluster: Cluster | undefined;
      try {
        cluster = await createCluster({
          n: 3,
          profileDir: path.join(tmp.dir, `profile_${enginesInProcess}`),
          projectDir: null,
          container: c,
          controller: { launcher: 'in-process' },
          engines: { launcher: 'in-process' },
          launchers: { 'in-process': { enginesInProcess, pollIntervalMs: 100 } },
        });
        assert.equal(scheduler.jobIds().length, 2);
        assert.equal(scheduler.pids().length, enginesInProcess ? 1 : 4);
        const client = await cluster.connect();
        assert.deepEqual(client.ids, [0, 1, 2]);
        assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), SEED);
        const pids = new Set(await client.view().map(() => process.pid, range(6)));
        if (enginesInProcess) assert.deepEqual([...pids], [process.pid]);
        else assert.equal(pids.size, 3);
      } finally {
        await cluster?.stop();
      }
      for (const id of scheduler.jobIds()) assert.equal((await scheduler.status(id)).state, 'cancelled', `job ${id}`);
      assert.deepEqual(await survivors(scheduler.pids()), [], 'no process survives');
    });
  }
});

describe('tscluster start --profile mycluster with the windows-hpc launcher, as in the seed', { skip: needsXmllint }, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let simDir: string;
  let start: CliProcess | undefined;
  before(async () => {
    tmp = await tempDir('tsparallel-e2e-hpc-cli-');
    simDir = path.join(tmp.dir, 'sim');
  });
  after(async () => {
    if (start && isAlive(start.pid)) start.child.kill('SIGKILL');
    killAll(simPids(simDir).filter(isAlive));
    await tmp.remove();
  });

  it('starts, is reached by a client that maps the seed function, and Ctrl-C cancels both jobs', async () => {
    const env = cliEnv(tmp.dir, { HPC_SIM_DIR: simDir, HPC_SIM_HEADNODES: 'HEADNODE' });
    const profileDir = path.join(tmp.dir, 'profile_mycluster');
    await mkdir(profileDir, { recursive: true });
    const config = {
      controller: { launcher: 'windows-hpc', ip: '127.0.0.1' },
      engines: { launcher: 'windows-hpc' },
      launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: simulatorCommand(), pollIntervalMs: 250 } },
    };
    await writeFile(path.join(profileDir, 'tsparallel.config.mjs'), `export default ${JSON.stringify(config, null, 2)};\n`);

    start = startCli(['start', '--profile', 'mycluster', '-n', '4'], env);
    await start.waitForOutput(/is running/, 120_000);
    assert.deepEqual(simJobs(simDir).map((j) => [j.name, j.state, j.tasks.length]), [
      ['tsparallel-controller', 'Running', 1],
      ['tsparallel-engines', 'Running', 4],
    ]);
    for (const file of [CONTROLLER_JOB_FILE, ENGINE_SET_JOB_FILE]) assert.ok(xmllintValidate(path.join(profileDir, file)).ok, file);

    const [cmd, ...args] = nodeScript('test/support/cli-connect-map.ts');
    const { stdout } = await promisify(execFile)(cmd!, [...args, 'mycluster'], { cwd: repoRoot(), env, timeout: 60_000 });
    const { ids, result } = JSON.parse(stdout) as { ids: number[]; result: number[] };
    assert.deepEqual(ids, [0, 1, 2, 3]);
    assert.deepEqual(result, SEED);

    start.child.kill('SIGINT'); // Ctrl-C
    await start.exited;
    assert.deepEqual(simJobs(simDir).map((j) => j.state), ['Canceled', 'Canceled']);
    assert.deepEqual(await survivors([start.pid, ...simPids(simDir)]), [], 'no process survives');
  });
});
