/**
 * The seed's cycle through the `slurm` launcher against a real Slurm cluster (`sbatch`/`squeue`/`scancel`): the
 * controller and the engines as Slurm jobs, the seed's map and a load-balanced map, stop → the jobs leave the queue;
 * `scancel` of the engine job from outside → the engines reported dead; a bad partition → SchedulerError naming it.
 * Runs when `sinfo` answers (scripts/rig/slurm.sh starts a cluster); skips with the reason otherwise, and fails under
 * CI=true, which starts one.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCluster, range, SchedulerError, type Cluster } from '../../src/index.js';
import { requireTool } from '../support/requirements.js';
import { isAlive, repoRoot, tempDir, waitUntil } from '../support/cluster.js';
import { cliEnv, nodeScript, startCli } from '../support/cli-run.js';

const SEED = [0, 1, 1024, 59049, 1048576, 9765625, 60466176, 282475249, 1073741824, 3486784401, 10000000000, 25937424601, 61917364224, 137858491849, 289254654976];

function sinfoAnswers(): boolean {
  const r = spawnSync('sinfo', ['-h', '-o', '%P %a'], { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0 && /\bup\b/.test(r.stdout);
}

const skip = requireTool('a Slurm cluster (sinfo)', sinfoAnswers(), 'none answers; start one with scripts/rig/slurm.sh up');

/** The ids among `ids` that Slurm still has pending or running. */
function inQueue(ids: readonly string[]): string[] {
  const r = spawnSync('squeue', ['-h', '-o', '%i', '-t', 'PD,R,CG,CF,S', `--jobs=${ids.join(',')}`], { encoding: 'utf8', timeout: 15_000 });
  return r.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
}

describe('a cluster through the slurm launcher on a real Slurm cluster', { skip }, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir('tsparallel-e2e-slurm-');
  });
  after(() => tmp.remove());

  const start = (name: string, n: number, slurm: Record<string, unknown> = {}): Promise<Cluster> =>
    createCluster({
      n,
      profileDir: path.join(tmp.dir, `profile_${name}`),
      projectDir: null,
      controller: { launcher: 'slurm' },
      engines: { launcher: 'slurm', startTimeoutMs: 120_000 },
      launchers: { slurm: { pollIntervalMs: 500, ...slurm } },
    });

  it('runs controller and engines as Slurm jobs, maps the seed function, and stop empties the queue', async () => {
    let cluster: Cluster | undefined;
    let ids: string[] = [];
    let pids: number[] = [];
    try {
      cluster = await start('cycle', 4);
      ids = cluster.jobIds;
      assert.equal(ids.length, 2);
      const client = await cluster.connect();
      assert.deepEqual(client.ids, [0, 1, 2, 3]);
      assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), SEED);
      assert.deepEqual(await client.loadBalancedView().map((x: number) => x ** 10, range(15)), SEED);
      // The engines' pids, to check they are gone (they run on this host when Slurm's node is this machine).
      if ([...client.engines.values()].every((e) => e.hostname === hostname())) pids = [...client.engines.values()].map((e) => e.pid);
    } finally {
      await cluster?.stop();
    }
    assert.deepEqual(inQueue(ids), [], 'the jobs left the queue');
    await waitUntil(() => pids.every((p) => !isAlive(p)), 30_000, `engine processes ${pids.join(', ')} to end`);
  });

  it('tscluster start --profile slurm -n 4: a client maps the seed function, Ctrl-C empties the queue, no process left', async () => {
    const root = path.join(tmp.dir, 'cli-root');
    const profileDir = path.join(root, 'profile_slurm');
    await mkdir(profileDir, { recursive: true });
    const config = { controller: { launcher: 'slurm' }, engines: { launcher: 'slurm', startTimeoutMs: 120_000 }, launchers: { slurm: { pollIntervalMs: 500 } } };
    await writeFile(path.join(profileDir, 'tsparallel.config.mjs'), `export default ${JSON.stringify(config, null, 2)};\n`);
    const env = cliEnv(root, Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('TSPARALLEL_CONTROLLER_') || k === 'SLURM_CONF')));
    const cli = startCli(['start', '--profile', 'slurm', '-n', '4'], env);
    let ids: string[] = [];
    try {
      await cli.waitForOutput(/is running/, 180_000);
      const info = JSON.parse(readFileSync(path.join(profileDir, 'security', 'cluster.json'), 'utf8')) as { launchers: { controller: { jobIds: string[] }; engines: { jobIds: string[] }[] } };
      ids = [...info.launchers.controller.jobIds, ...info.launchers.engines.flatMap((l) => l.jobIds)];
      assert.equal(ids.length, 2);
      const [cmd, ...args] = nodeScript('test/support/cli-connect-map.ts');
      const { stdout } = await promisify(execFile)(cmd!, [...args, 'slurm'], { cwd: repoRoot(), env, timeout: 60_000 });
      const { ids: engineIds, result } = JSON.parse(stdout) as { ids: number[]; result: number[] };
      assert.deepEqual(engineIds, [0, 1, 2, 3]);
      assert.deepEqual(result, SEED);
      cli.child.kill('SIGINT'); // Ctrl-C
      await cli.exited;
    } finally {
      if (isAlive(cli.pid)) cli.child.kill('SIGKILL');
    }
    assert.deepEqual(inQueue(ids), [], 'the jobs left the queue');
    assert.ok(!isAlive(cli.pid));
  });

  it('reports the engines dead when their job is cancelled with scancel', async () => {
    let cluster: Cluster | undefined;
    try {
      cluster = await start('outside', 2);
      const engineJob = cluster.jobIds[1]!;
      assert.equal(spawnSync('scancel', [engineJob]).status, 0);
      const file = cluster.clusterFile;
      await waitUntil(() => /"ended"/.test(readFileSync(file, 'utf8')), 60_000, 'the cluster file records the ended job');
      const info = JSON.parse(readFileSync(file, 'utf8')) as { launchers: { engines: { ended?: { id: string; stderrTail?: string }[] }[] } };
      assert.equal(info.launchers.engines[0]!.ended![0]!.id, engineJob);
      assert.match(info.launchers.engines[0]!.ended![0]!.stderrTail ?? '', /CANCELLED/);
    } finally {
      await cluster?.stop();
    }
  });

  it('turns a bad partition into a SchedulerError naming it', async () => {
    await assert.rejects(start('badpart', 1, { partition: 'nosuchpartition' }), (e: unknown) => {
      assert.ok(e instanceof SchedulerError, String(e));
      assert.match(`${e.message}\n${e.output}`, /nosuchpartition|invalid partition/i);
      return true;
    });
  });
});
