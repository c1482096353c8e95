/**
 * The seed's cycle through the `sge` launcher against a real Grid Engine (Debian's Son of Grid Engine, started on the
 * rig by scripts/rig/sge.sh: qmaster on head, execd on node1/node2, queue all.q): the controller job and the engine
 * array job run on node1/node2, the seed's map and a load-balanced map, stop → the jobs leave `qstat` and no process
 * is left on any host; `tscluster start --profile sge -n 4` on head and Ctrl-C; `qdel` of the engine job from outside
 * → the engines reported dead with the tail of the job's output; a bad queue → SchedulerError naming it; the walltime
 * (`-l h_rt`) reaching the scheduler and the engines.
 *
 * Grid Engine's clients work only on a host the qmaster knows, so the launcher in this process runs them through
 * wrappers named like the real tools that run them on head (`hosts.sh exec head qsub …`), put first on PATH, as a
 * login node's PATH would hold the real ones; `tscluster` runs on head itself. Skips with the reason without the rig
 * or Grid Engine; fails under CI=true, which starts both.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCluster, range, SchedulerError, type Cluster } from '../../src/index.js';
import type { LauncherContext } from '../../src/core/launcher.js';
import { sgeLauncher } from '../../src/launchers/sge/index.js';
import { cliEnv, nodeScript, runCli, waitForEndedEngineJobs } from '../support/cli-run.js';
import { waitUntil } from '../support/cluster.js';
import { requireTool } from '../support/requirements.js';
import { assertOneHourWalltime } from '../support/walltime.js';
import { collect, pidsOnAllHosts, requireRig, RIG_SHARED, rigScript, runOnHost, runSyncOnHost, stopRigProcesses } from '../support/rig.js';
import { startClusterOnHost, writeProfile } from '../support/rig-cluster.js';

const SEED = Array.from({ length: 15 }, (_, x) => x ** 10);
/** The Grid Engine clients the launcher runs. */
const TOOLS = ['qsub', 'qstat', 'qdel', 'qacct'];
/** What the cluster's processes look like on a host. */
const CLUSTER_PROCESSES = 'tscontroller|tsengine|tscluster';

/** Whether Grid Engine answers on the rig's head (qstat lists the queue instances of all.q). */
function sgeAnswers(): boolean {
  const r = runSyncOnHost('head', 'qstat', ['-f', '-q', 'all.q']);
  return r.status === 0 && /all\.q@node1/.test(r.stdout);
}

/** A job script template like the default one, plus a line of output per task. */
const OUTPUT_TEMPLATE = `#!/bin/sh
#$ -N {jobName}
#$ -S /bin/sh
#$ -j y
#$ -o {outputPath}
#$ -t 1-{n}
#$ -q {queue}
{exports}cd {workDirectory} || exit 1
echo "engine task $SGE_TASK_ID of job $JOB_ID on $(hostname)"
exec {command}
`;

const skip = requireRig('hosts') || requireTool('Grid Engine on the rig (qstat on head)', sgeAnswers(), 'start it with scripts/rig/sge.sh up');

/**
 * `qstat` (or `qstat ARGS`) on head: the ids of the jobs Grid Engine still has, and its rows. Asynchronous: a
 * client in this process must keep answering its controller's heartbeats meanwhile.
 */
async function qstat(args: readonly string[] = []): Promise<{ ids: string[]; rows: string[][]; stdout: string }> {
  const r = await collect(runOnHost('head', '/usr/bin/qstat', args));
  assert.equal(r.code, 0, `qstat ${args.join(' ')} on head: ${r.stderr}`);
  const rows = r.stdout.split('\n').slice(2).map((l) => l.trim().split(/\s+/)).filter((c) => /^\d+$/.test(c[0] ?? ''));
  return { ids: [...new Set(rows.map((c) => c[0]!))], rows, stdout: r.stdout };
}

/**
 * The host (`all.q@HOST`) of every row of job `id` in `rows` that Grid Engine has started on a host: running (`r`),
 * or still `t` (transferring: execd has started it and not yet reported so; an engine may already have registered
 * by then, which made this test fail once when only `r` counted).
 */
function runningHosts(rows: readonly string[][], id: string): string[] {
  return rows.filter((c) => c[0] === id && (c[4] === 'r' || c[4] === 't')).map((c) => c[7]!.replace(/^.*@/, ''));
}

/** Run a Grid Engine client on head to its end, asynchronously. */
function onHead(tool: string, args: readonly string[]): ReturnType<typeof collect> {
  return collect(runOnHost('head', `/usr/bin/${tool}`, args));
}

describe('a cluster through the sge launcher on a real Grid Engine (the rig)', { skip, timeout: 900_000 }, () => {
  let root: string;
  let binDir: string;
  const savedPath = process.env.PATH;
  before(async () => {
    // On the shared file system: the nodes read the job scripts' directory and write the jobs' output there.
    root = await mkdtemp(path.join(RIG_SHARED, 'e2e-sge-'));
    binDir = path.join(root, 'bin');
    await mkdir(binDir);
    for (const tool of TOOLS) {
      const file = path.join(binDir, tool);
      // On a rig host (its PID 1 is the host's init: children of rig processes inherit this PATH) the tool itself.
      writeFileSync(file, `#!/bin/sh\ngrep -qa tsparallel-rig-host: /proc/1/cmdline && exec /usr/bin/${tool} "$@"\nexec '${rigScript('hosts.sh')}' exec head /usr/bin/${tool} "$@"\n`);
      chmodSync(file, 0o755);
    }
    process.env.PATH = `${binDir}:${savedPath ?? ''}`;
  });
  after(async () => {
    process.env.PATH = savedPath;
    await stopRigProcesses();
    await rm(root, { recursive: true, force: true });
  });

  const start = (name: string, sge: Record<string, unknown> = {}, n = 4): Promise<Cluster> =>
    createCluster({
      n,
      profileDir: path.join(root, `profile_${name}`),
      projectDir: null,
      controller: { launcher: 'sge' },
      engines: { launcher: 'sge', startTimeoutMs: 180_000 },
      launchers: { sge: { queue: 'all.q', pollIntervalMs: 500, ...sge } },
    });

  it('runs the controller job and the engine array job on node1/node2, maps the seed function, and stop empties qstat', async () => {
    let cluster: Cluster | undefined;
    let ids: string[] = [];
    try {
      cluster = await start('cycle');
      ids = [...cluster.jobIds];
      assert.equal(ids.length, 2, `one controller job and one engine job: ${ids.join(', ')}`);
      const [controllerJob, engineJob] = ids as [string, string];
      const client = await cluster.connect();
      assert.deepEqual(client.ids, [0, 1, 2, 3]);
      // What Grid Engine says: the controller a one-task job, the engines one array job of four tasks, all running
      // on the exec hosts; what the engines say: they run there too.
      const { rows, stdout } = await qstat();
      const controllerHosts = runningHosts(rows, controllerJob);
      assert.equal(controllerHosts.length, 1);
      assert.ok(controllerHosts.every((h) => h === 'node1' || h === 'node2'), controllerHosts.join(' '));
      const tasks = rows.filter((c) => c[0] === engineJob).map((c) => c[9]);
      assert.deepEqual(tasks.sort(), ['1', '2', '3', '4'], 'array tasks 1-4');
      const hosts = [...client.engines.values()].map((e) => e.hostname).sort();
      assert.deepEqual(hosts, runningHosts(rows, engineJob).sort(), `the engines run where Grid Engine put the tasks (qstat:\n${stdout})`);
      assert.ok(hosts.every((h) => h === 'node1' || h === 'node2'), hosts.join(' '));
      assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), SEED);
      assert.deepEqual(await client.loadBalancedView().map((x: number) => x ** 10, range(15)), SEED);
      // The scripts under the profile: Grid Engine directives, an array for the engines.
      const batch = path.join(root, 'profile_cycle', 'batch');
      const engines = readFileSync(path.join(batch, 'default-engines-0.sh'), 'utf8');
      assert.match(engines, /^#\$ -t 1-4$/m);
      assert.match(engines, /^#\$ -q all\.q$/m);
    } finally {
      await cluster?.stop();
    }
    assert.deepEqual((await qstat()).ids.filter((id) => ids.includes(id)), [], 'the jobs left qstat');
    await waitUntil(() => Object.keys(pidsOnAllHosts(CLUSTER_PROCESSES)).length === 0, 30_000, 'no controller or engine left on any host');
    // Grid Engine's own record: both jobs were deleted (qdel), not failed.
    for (const id of ids) {
      const acct = await onHead('qacct', ['-j', id]);
      assert.match(acct.stdout, /^failed\s+100 : assumedly after job$/m, `qacct -j ${id}: ${acct.stdout}${acct.stderr}`);
    }
  });

  it('tscluster start --profile sge -n 4 on head: a client there maps the seed function, Ctrl-C empties qstat, no process left', async () => {
    const cliRoot = path.join(root, 'cli-root');
    await writeProfile(cliRoot, 'sge', {
      controller: { launcher: 'sge' },
      engines: { launcher: 'sge', startTimeoutMs: 180_000 },
      launchers: { sge: { queue: 'all.q', pollIntervalMs: 500 } },
    });
    const env = cliEnv(cliRoot);
    const cli = await startClusterOnHost('head', ['--profile', 'sge', '-n', '4'], env, 240_000);
    const info = JSON.parse(readFileSync(path.join(cliRoot, 'profile_sge', 'security', 'cluster.json'), 'utf8')) as { launchers: { controller: { jobIds: string[] }; engines: { jobIds: string[] }[] } };
    const ids = [...info.launchers.controller.jobIds, ...info.launchers.engines.flatMap((l) => l.jobIds)];
    assert.equal(ids.length, 2);
    assert.deepEqual((await qstat()).ids.filter((id) => ids.includes(id)).sort(), [...ids].sort(), 'both jobs are in qstat');
    const [ncmd, ...nargs] = nodeScript('test/support/cli-connect-map.ts');
    const client = await collect(runOnHost('head', ncmd!, [...nargs, 'sge'], { env }));
    assert.equal(client.code, 0, `client on head: ${client.stderr}`);
    const { ids: engineIds, result } = JSON.parse(client.stdout) as { ids: number[]; result: number[] };
    assert.deepEqual(engineIds, [0, 1, 2, 3]);
    assert.deepEqual(result, SEED);
    await cli.interrupt(90_000); // Ctrl-C
    assert.deepEqual((await qstat()).ids.filter((id) => ids.includes(id)), [], 'the jobs left qstat');
    await waitUntil(() => Object.keys(pidsOnAllHosts(CLUSTER_PROCESSES)).length === 0, 30_000, 'no tscluster, controller or engine left on any host');
  });

  it('reports the engines dead, with the tail of the job output, when their job is deleted with qdel', async () => {
    let cluster: Cluster | undefined;
    try {
      // A site template (as one that loads modules would be) whose tasks say where they run: the job output the tail shows.
      cluster = await start('outside', { template: OUTPUT_TEMPLATE }, 2);
      const engineJob = cluster.jobIds[1]!;
      const client = await cluster.connect();
      assert.deepEqual(await client.view().map((x: number) => x + 1, [1, 2]), [2, 3]);
      const r = await onHead('qdel', [engineJob]);
      assert.equal(r.code, 0, r.stderr);
      const ended = await waitForEndedEngineJobs(cluster.clusterFile, 60_000);
      assert.equal(ended[0]!.id, engineJob);
      const tail = ended[0]!.stderrTail ?? '';
      assert.match(tail, new RegExp(`^job ${engineJob} ended qacct failed=100 : assumedly after job`), tail);
      // The job's output files (one per array task, named by Grid Engine's -o pattern) are in the tail.
      const logs = readdirSync(path.join(root, 'profile_outside', 'log')).filter((f) => f.startsWith(`tsparallel-engines-${engineJob}.`));
      assert.ok(logs.length > 0, 'the engine tasks wrote output files');
      assert.match(tail, new RegExp(`tsparallel-engines-${engineJob}\\.[12]\\.out:\\nengine task [12] of job ${engineJob} on node[12]$`, 'm'), tail);
      const listed = await runCli(['list', '--profile-dir', path.join(root, 'profile_outside'), '--json'], cliEnv(root));
      assert.equal(listed.code, 0, listed.stderr);
      const rows = JSON.parse(listed.stdout) as { ended: { role: string; id: string }[] }[];
      assert.deepEqual(rows[0]!.ended.map((e) => [e.role, e.id]), [['engines', engineJob]]);
    } finally {
      await cluster?.stop();
    }
    await waitUntil(() => Object.keys(pidsOnAllHosts(CLUSTER_PROCESSES)).length === 0, 30_000, 'no controller or engine left on any host');
  });

  it('stop deletes a job that never ran (held in the queue, so no accounting record) and returns', async () => {
    const context = { role: 'engines', n: 2, clusterId: 'held', profileDir: path.join(root, 'profile_held'), program: ['/bin/sleep'], args: ['60'], env: {} } as unknown as LauncherContext;
    const launcher = sgeLauncher.create(context, sgeLauncher.options!.parse({ queue: 'all.q', qsubArgs: ['-h'], pollIntervalMs: 250, stopTimeoutMs: 20_000 }));
    await launcher.start();
    const [id] = launcher.jobIds;
    await waitUntil(async () => (await qstat()).rows.some((c) => c[0] === id && c[4] === 'hqw'), 30_000, `job ${id} held in the queue`);
    await launcher.stop();
    assert.deepEqual((await qstat()).ids.filter((x) => x === id), [], 'the job left qstat');
    assert.equal(launcher.state, 'stopped');
  });

  it('turns a bad queue into a SchedulerError naming it, with the command and its output', async () => {
    const before = (await qstat()).ids;
    await assert.rejects(start('badqueue', { queue: 'nosuch.q' }, 1), (e: unknown) => {
      assert.ok(e instanceof SchedulerError, String(e));
      assert.match(e.output ?? '', /nosuch\.q/);
      assert.match(e.message, /nosuch\.q/);
      assert.equal(e.command?.[0], 'qsub');
      return true;
    });
    assert.deepEqual((await qstat()).ids.filter((id) => !before.includes(id)), [], 'no job was left in qstat');
  });

  it('gives the jobs their walltime: h_rt in Grid Engine, the time left in the engines, a task longer than that refused', async () => {
    let cluster: Cluster | undefined;
    try {
      cluster = await start('walltime', { walltime: '1h' }, 2);
      const engineJob = cluster.jobIds[1]!;
      const job = await qstat(['-j', engineJob]);
      assert.match(job.stdout, /^hard resource_list:\s+h_rt=3600$/m, job.stdout);
      const client = await cluster.connect();
      await assertOneHourWalltime(client);
    } finally {
      await cluster?.stop();
    }
    await waitUntil(() => Object.keys(pidsOnAllHosts(CLUSTER_PROCESSES)).length === 0, 30_000, 'no controller or engine left on any host');
  });
});
