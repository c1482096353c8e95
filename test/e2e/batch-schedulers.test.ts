/**
 * The seed's cycle end to end through the job-script launchers (`pbs` in both flavours, `lsf`, `htcondor`): a real
 * cluster (controller and engine processes over ZeroMQ) whose processes are started as jobs by the PBS, LSF and
 * HTCondor simulators (src/testing/*-sim.ts, real processes; the real schedulers cannot run here), put on PATH under
 * the real tools' names. Client → ids → map → load-balanced map → stop: the jobs leave the queue and no process is
 * left. A job cancelled from outside is reported as its engines dying; a refused submit is a SchedulerError. On the
 * rig (test/support/rig.ts), each simulator also runs a cycle with its tasks on the rig's hosts.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCluster, range, SchedulerError, type Cluster, type ClusterOptions } from '../../src/index.js';
import { startBatchSim, type BatchSim, type SimKind } from '../support/batch-sims.js';
import { isAlive, repoRoot, waitUntil } from '../support/cluster.js';
import { cliEnv, nodeScript, runCli, startCli, waitForEndedEngineJobs } from '../support/cli-run.js';
import { survivors } from '../support/hpc-sim.js';
import { pidsOnAllHosts, pidsOnHost, requireRig, RIG_SHARED, rigScript } from '../support/rig.js';
import { assertOneHourWalltime } from '../support/walltime.js';

const SEED = [0, 1, 1024, 59049, 1048576, 9765625, 60466176, 282475249, 1073741824, 3486784401, 10000000000, 25937424601, 61917364224, 137858491849, 289254654976];

interface Case {
  title: string;
  kind: SimKind;
  launcher: 'pbs' | 'lsf' | 'htcondor';
  simEnv: Record<string, string>;
  options: Record<string, unknown>;
  /** Options the simulated scheduler refuses at submit. */
  refused: Record<string, unknown>;
  /** The refusal in the submit command's output. */
  refusal: RegExp;
  /** The cancel tool and how it names a job id. */
  cancelTool: string;
  ext: string;
}

const CASES: Case[] = [
  { title: 'PBS Pro', kind: 'pbs', launcher: 'pbs', simEnv: { PBS_SIM_FLAVOR: 'pbspro' }, options: { flavor: 'pbspro', queue: 'workq' }, refused: { flavor: 'pbspro', queue: 'nosuchq' }, refusal: /Unknown queue/, cancelTool: 'qdel', ext: 'sh' },
  { title: 'Torque', kind: 'pbs', launcher: 'pbs', simEnv: { PBS_SIM_FLAVOR: 'torque' }, options: { flavor: 'torque', queue: 'batch' }, refused: { flavor: 'torque', queue: 'nosuchq' }, refusal: /Unknown queue/, cancelTool: 'qdel', ext: 'sh' },
  { title: 'LSF', kind: 'lsf', launcher: 'lsf', simEnv: {}, options: { queue: 'normal' }, refused: { queue: 'nosuchq' }, refusal: /queue/i, cancelTool: 'bkill', ext: 'sh' },
  { title: 'HTCondor', kind: 'htcondor', launcher: 'htcondor', simEnv: {}, options: {}, refused: { submitLines: ['this is not a submit line'] }, refusal: /syntax error/i, cancelTool: 'condor_rm', ext: 'sub' },
];

for (const c of CASES) {
  describe(`a cluster through the ${c.launcher} launcher and the ${c.title} simulator`, () => {
    let sim: BatchSim;
    const saved = { PATH: process.env.PATH, TSPARALLEL_SIM_DIR: process.env.TSPARALLEL_SIM_DIR };
    before(async () => {
      sim = await startBatchSim(c.kind, { TSPARALLEL_SIM_GRACE_MS: '2000', ...c.simEnv });
      // The launcher runs the tools by name, as it would on a login node.
      process.env.PATH = sim.env.PATH;
    });
    after(async () => {
      process.env.PATH = saved.PATH;
      assert.deepEqual(await sim.remove(), [], 'no simulated process had to be killed');
    });

    const start = (name: string, options: Record<string, unknown>, extra: Partial<ClusterOptions> = {}): Promise<Cluster> =>
      createCluster({
        n: 4,
        profileDir: path.join(sim.workDir, `profile_${name}`),
        projectDir: null,
        controller: { launcher: c.launcher },
        engines: { launcher: c.launcher, startTimeoutMs: 60_000 },
        launchers: { [c.launcher]: { pollIntervalMs: 250, ...options } },
        ...extra,
      });

    it('starts controller and engines as jobs, maps the seed function (direct and load-balanced), and stop empties the queue', async () => {
      let cluster: Cluster | undefined;
      const profileDir = path.join(sim.workDir, 'profile_cycle');
      try {
        cluster = await start('cycle', c.options, { engines: { launcher: c.launcher, startTimeoutMs: 60_000, enginesPerJob: 2 } });
        // One controller job and the engine set split into two jobs of two.
        assert.equal(cluster.jobIds.length, 3);
        const jobs = sim.jobs();
        assert.deepEqual(jobs.map((j) => [j.state, j.tasks.length]), [['running', 1], ['running', 2], ['running', 2]]);
        const scripts = readdirSync(path.join(profileDir, 'batch')).sort();
        assert.deepEqual(scripts, [`default-controller-0.${c.ext}`, `default-engines-0.${c.ext}`, `default-engines-1.${c.ext}`]);
        for (const s of scripts) assert.equal(statSync(path.join(profileDir, 'batch', s)).mode & 0o777, 0o700, s);

        const client = await cluster.connect();
        assert.deepEqual(client.ids, [0, 1, 2, 3]);
        assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), SEED);
        assert.deepEqual(await client.loadBalancedView().map((x: number) => x ** 10, range(15)), SEED);
        const enginePids = new Set(await client.view().map(() => process.pid, range(8)));
        const taskPids = jobs.slice(1).flatMap((j) => j.tasks.map((t) => t.pid));
        assert.deepEqual([...enginePids].sort(), [...taskPids].sort(), 'the engines are the jobs\' tasks');
        // Another engine set on the running cluster (as `tscluster engines -n 2`): its own job and script.
        await cluster.addEngines(2);
        assert.equal(cluster.jobIds.length, 4);
        assert.deepEqual(client.ids, [0, 1, 2, 3, 4, 5]);
        assert.ok(existsSync(path.join(profileDir, 'batch', `default-engines-2.${c.ext}`)));
        assert.deepEqual(await client.view().map((x: number) => x * 3, range(6)), [0, 3, 6, 9, 12, 15]);
      } finally {
        await cluster?.stop();
      }
      const ended = sim.jobs();
      assert.ok(ended.every((j) => j.state === 'cancelled'), `every job cancelled: ${ended.map((j) => j.state).join(', ')}`);
      assert.deepEqual(await survivors(sim.pids()), [], 'no process survives the stop');
      assert.ok(!existsSync(path.join(profileDir, 'batch', `default-controller-0.${c.ext}`)), 'the scripts are removed');
    });

    it('tscluster start --profile … -n 4 runs on it, a client maps the seed function, and Ctrl-C empties the queue', async () => {
      const root = path.join(sim.workDir, 'cli-root');
      const profileDir = path.join(root, 'profile_hpc');
      await mkdir(profileDir, { recursive: true });
      const config = { controller: { launcher: c.launcher }, engines: { launcher: c.launcher }, launchers: { [c.launcher]: { pollIntervalMs: 250, ...c.options } } };
      await writeFile(path.join(profileDir, 'tsparallel.config.mjs'), `export default ${JSON.stringify(config, null, 2)};\n`);
      const env = cliEnv(root, { PATH: sim.env.PATH });
      const before = sim.jobs().length;
      const cli = startCli(['start', '--profile', 'hpc', '-n', '4'], env);
      try {
        await cli.waitForOutput(/is running/, 120_000);
        assert.deepEqual(sim.jobs().slice(before).map((j) => [j.state, j.tasks.length]), [['running', 1], ['running', 4]]);
        const [cmd, ...args] = nodeScript('test/support/cli-connect-map.ts');
        const { stdout } = await promisify(execFile)(cmd!, [...args, 'hpc'], { cwd: repoRoot(), env, timeout: 60_000 });
        const { ids, result } = JSON.parse(stdout) as { ids: number[]; result: number[] };
        assert.deepEqual(ids, [0, 1, 2, 3]);
        assert.deepEqual(result, SEED);
        cli.child.kill('SIGINT'); // Ctrl-C
        await cli.exited;
      } finally {
        if (isAlive(cli.pid)) cli.child.kill('SIGKILL');
      }
      assert.ok(sim.jobs().slice(before).every((j) => j.state === 'cancelled'), sim.jobs().map((j) => j.state).join(', '));
      assert.deepEqual(await survivors([cli.pid, ...sim.pids()]), [], 'no process survives');
    });

    it(`reports the engines dead when their job is cancelled from outside (${c.cancelTool})`, async () => {
      let cluster: Cluster | undefined;
      try {
        cluster = await start('outside', c.options, { n: 2 });
        const [, engineJob] = cluster.jobIds;
        const client = await cluster.connect();
        assert.deepEqual(await client.view().map((x: number) => x + 1, [1, 2]), [2, 3]);
        // The id as the submit command printed it (PBS: `123[].server` for an array), as a user would type it.
        const r = await sim.run(c.cancelTool, [engineJob!]);
        assert.equal(r.status, 0, r.stderr);
        const ended = await waitForEndedEngineJobs(cluster.clusterFile, 30_000);
        assert.equal(ended[0]!.id, engineJob);
        assert.match(ended[0]!.stderrTail ?? '', new RegExp(`job ${engineJob!.replace(/[[\].]/g, '\\$&')} ended`));
        // tscluster list shows it.
        const listed = await runCli(['list', '--profile-dir', path.join(sim.workDir, 'profile_outside'), '--json'], cliEnv(sim.workDir));
        assert.equal(listed.code, 0, listed.stderr);
        const rows = JSON.parse(listed.stdout) as { ended: { role: string; id: string }[] }[];
        assert.deepEqual(rows[0]!.ended.map((e) => [e.role, e.id]), [['engines', engineJob]]);
      } finally {
        await cluster?.stop();
      }
      assert.deepEqual(await survivors(sim.pids()), [], 'no process survives');
    });

    it('gives the engines their walltime: a task longer than the job has left is refused, and tscluster list shows the time left', async () => {
      let cluster: Cluster | undefined;
      try {
        cluster = await start('walltime', { ...c.options, walltime: '1h' }, { n: 2 });
        const client = await cluster.connect();
        await assertOneHourWalltime(client);
        const listed = await runCli(['list', '--profile-dir', path.join(sim.workDir, 'profile_walltime'), '--json'], cliEnv(sim.workDir));
        const rows = JSON.parse(listed.stdout) as { walltimeLeftSeconds: number | null }[];
        assert.ok(rows[0]!.walltimeLeftSeconds! > 3000 && rows[0]!.walltimeLeftSeconds! <= 3600, String(rows[0]!.walltimeLeftSeconds));
      } finally {
        await cluster?.stop();
      }
      assert.deepEqual(await survivors(sim.pids()), [], 'no process survives');
    });

    it('waits, with progress, while the controller job is queued, past engines.startTimeoutMs', async () => {
      // Short enough to wait past it in the queue, long enough for two engines to start on a loaded machine once
      // the job runs (1.5 s was overrun at load 20).
      const START_TIMEOUT_MS = 5000;
      let cluster: Cluster | undefined;
      const messages: string[] = [];
      sim.pause(); // a full cluster: jobs stay queued
      try {
        const starting = start('queued', c.options, { n: 2, engines: { launcher: c.launcher, startTimeoutMs: START_TIMEOUT_MS }, onProgress: (p: { message?: string }) => p.message && messages.push(p.message) });
        starting.catch(() => undefined);
        await waitUntil(() => messages.some((m) => /^controller job \S+ .+: waiting in the queue$/.test(m)), 30_000, 'a progress line for the queued controller job');
        // Longer than startTimeoutMs in the queue: the start still waits.
        await new Promise((r) => setTimeout(r, START_TIMEOUT_MS + 2000));
        sim.resume();
        cluster = await starting;
        const client = await cluster.connect();
        assert.deepEqual(client.ids, [0, 1]);
      } finally {
        sim.resume();
        await cluster?.stop();
      }
      assert.match(messages[0]!, new RegExp(`controller job ${cluster!.jobIds[0]!.replace(/[[\].]/g, '\\$&')} `));
      assert.deepEqual(await survivors(sim.pids()), [], 'no process survives');
    });

    it('turns a refused submit into a SchedulerError with the command and its output, leaving nothing behind', async () => {
      const before = sim.jobs().length;
      await assert.rejects(start('refused', c.refused), (e: unknown) => {
        assert.ok(e instanceof SchedulerError, String(e));
        assert.match(e.output ?? '', c.refusal);
        assert.ok(e.command && e.command.length > 0);
        return true;
      });
      assert.equal(sim.jobs().length, before, 'no job was created');
    });
  });
}

// The same cycle with each simulator running the jobs' tasks on the rig's hosts (TSPARALLEL_SIM_EXEC: each task
// through `hosts.sh exec {host}`, round robin over node1, node2), as the HPC `job` simulator does in rig-hpc.test.ts:
// the controller job's task on node1, the engines on node1 and node2, the client in this process on the machine.
for (const c of CASES) {
  describe(`a cluster through the ${c.launcher} launcher, the ${c.title} simulator running its tasks on the rig (node1, node2)`, { skip: requireRig('hosts') }, () => {
    let sim: BatchSim;
    let root: string;
    const saved = process.env.PATH;
    before(async () => {
      root = await mkdtemp(path.join(RIG_SHARED, 'batch-rig-'));
      // Tasks get the job's environment, not the runner's: the prefix names this rig itself.
      const rig = Object.entries(process.env).filter(([k]) => k.startsWith('TSP_RIG_')).map(([k, v]) => `${k}=${v}`);
      const prefix = ['env', ...rig, rigScript('hosts.sh'), 'exec', '{host}'].join(' ');
      sim = await startBatchSim(c.kind, { TSPARALLEL_SIM_GRACE_MS: '2000', ...c.simEnv, TSPARALLEL_SIM_EXEC: prefix, TSPARALLEL_SIM_HOSTS: 'node1,node2' });
      process.env.PATH = sim.env.PATH;
    });
    after(async () => {
      process.env.PATH = saved;
      await rm(root, { recursive: true, force: true });
      assert.deepEqual(await sim.remove(), [], 'no simulated process had to be killed');
    });

    it('starts the controller on node1 and the engines on node1 and node2, maps the seed function, and stop leaves nothing on any host', async () => {
      let cluster: Cluster | undefined;
      try {
        cluster = await createCluster({
          n: 4,
          profileDir: path.join(root, 'profile_rig'),
          projectDir: null,
          controller: { launcher: c.launcher },
          engines: { launcher: c.launcher, startTimeoutMs: 120_000 },
          launchers: { [c.launcher]: { pollIntervalMs: 250, ...c.options } },
        });
        const jobs = sim.jobs();
        assert.deepEqual(jobs.map((j) => j.tasks.map((t) => t.host)), [['node1'], ['node1', 'node2', 'node1', 'node2']], 'tasks round robin over node1, node2');
        assert.equal(pidsOnHost('node1', 'tscontroller').length, 1, 'the controller runs on node1');
        assert.deepEqual(pidsOnHost('head', 'tscontroller|tsengine'), [], 'nothing of the cluster on head');
        const client = await cluster.connect();
        assert.deepEqual(client.ids, [0, 1, 2, 3]);
        assert.deepEqual([...client.engines.values()].map((e) => e.hostname).sort(), ['node1', 'node1', 'node2', 'node2'], 'the engines report their hosts');
        assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), SEED);
        assert.deepEqual(await client.loadBalancedView().map((x: number) => x ** 10, range(15)), SEED);
      } finally {
        await cluster?.stop();
      }
      assert.ok(sim.jobs().every((j) => j.state === 'cancelled'), sim.jobs().map((j) => j.state).join(', '));
      await waitUntil(() => Object.keys(pidsOnAllHosts('tscontroller|tsengine')).length === 0, 15_000, 'no controller or engine left on any host');
      assert.deepEqual(await survivors(sim.pids()), [], 'no runner or task left on the machine');
    });
  });
}
