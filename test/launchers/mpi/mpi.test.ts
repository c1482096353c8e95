/**
 * The `mpi` launcher with the real `mpiexec` (Debian's openmpi-bin): 4 engines on this host whose ids are their
 * ranks, `rank`/`size` in their namespaces, the seed's map, per-engine control of one rank, mpiexec's own error block
 * in the LauncherError, and stop and Ctrl-C leaving no process (checked by pid). Running as root, these tests set
 * OMPI_ALLOW_RUN_AS_ROOT=1 and OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 for themselves (the launcher never does silently).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createCluster, range, type Cluster } from '../../../src/index.js';
import type { ExitInfo } from '../../../src/core/launcher.js';
import { EngineDiedError, LauncherError } from '../../../src/core/errors.js';
import { mpiErrorBlocks, mpiFailedRank, forwardEnvArgs } from '../../../src/launchers/mpi/launcher.js';
import { mpiStaggerMs, mpiWorld } from '../../../src/engine/main.js';
import { isAlive, tempDir, waitUntil } from '../../support/cluster.js';
import { cliEnv, startCli } from '../../support/cli-run.js';
import { requireTool } from '../../support/requirements.js';

function hasMpiexec(): boolean {
  try {
    execFileSync('mpiexec', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const skip = requireTool('mpiexec', hasMpiexec(), 'apt-get install openmpi-bin');
const ROOT_ENV = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
const isRoot = process.getuid?.() === 0;

/** Cluster options for N ranks on this host (2 cores here: --oversubscribe). */
function mpiConfig(profileDir: string) {
  return {
    profileDir,
    projectDir: null,
    // Not FAST_HEARTBEAT's 1.5 s: four oversubscribed ranks on a loaded 2-core machine can start their hearts
    // later than that and then give up on the controller. Nothing here waits for a heartbeat timeout: a local
    // rank's death is seen by its pid.
    controller: { ip: '127.0.0.1', heartbeatMs: 200, heartbeatTimeoutMs: 6000 },
    engines: { launcher: 'mpi', startTimeoutMs: 60_000 },
    launchers: { mpi: { args: ['--oversubscribe'] } },
  };
}

describe('mpi launcher: pure parts', () => {
  it('takes the rank and size from Open MPI, PMI or PMIx variables, and staggers above 100 ranks', () => {
    assert.deepEqual(mpiWorld({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '4' }), { rank: 3, size: 4 });
    assert.deepEqual(mpiWorld({ PMI_RANK: '1', PMI_SIZE: '2' }), { rank: 1, size: 2 });
    assert.deepEqual(mpiWorld({ PMIX_RANK: '0', SLURM_NTASKS: '8' }), { rank: 0, size: 8 });
    assert.throws(() => mpiWorld({}), /no MPI rank.*mpiexec or srun/);
    assert.equal(mpiStaggerMs({ rank: 99, size: 100 }), 0);
    assert.equal(mpiStaggerMs({ rank: 50, size: 1000 }), 0);
    assert.equal(mpiStaggerMs({ rank: 250, size: 1000 }), 500);
  });

  it('forwards variables by name only: -x for Open MPI, -genvlist for MPICH, nothing for srun', () => {
    assert.deepEqual(forwardEnvArgs('openmpi', ['A', 'B']), ['-x', 'A', '-x', 'B']);
    assert.deepEqual(forwardEnvArgs('mpich', ['A', 'B']), ['-genvlist', 'A,B']);
    assert.deepEqual(forwardEnvArgs('srun', ['A']), []);
  });

  it('finds Open MPI and MPICH error blocks in mpiexec output', () => {
    const ompi = 'noise\n' + '-'.repeat(74) + '\nThere are not enough slots available\nin the system.\n' + '-'.repeat(74) + '\n';
    assert.equal(mpiErrorBlocks(ompi), 'There are not enough slots available\nin the system.');
    const mpich = 'x\n[mpiexec@host] HYDU_create_process (utils/launch/launch.c:74): execvp error on file foo (No such file or directory)\n';
    assert.match(mpiErrorBlocks(mpich), /^\[mpiexec@host\] HYDU_create_process/);
  });

  it("finds the rank that made Open MPI end the job, by exit code or signal", () => {
    const exited = 'mpiexec detected that one or more processes exited with non-zero status, thus causing\nthe job to be terminated. The first process to do so was:\n\n  Process name: [[776,1],2]\n  Exit code:    3\n';
    assert.deepEqual(mpiFailedRank(exited), { rank: 2, code: 3, signal: null });
    const killed = 'mpiexec noticed that process rank 1 with PID 4242 on node node1 exited on signal 9 (Killed).\n';
    assert.deepEqual(mpiFailedRank(killed), { rank: 1, code: null, signal: 'SIGKILL' });
    assert.equal(mpiFailedRank('[mpiexec@host] something else\n'), undefined);
  });
});

describe('mpi launcher with real mpiexec', { skip }, () => {
  const saved = { ...process.env };
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let cluster: Cluster | undefined;
  const seen = new Set<number>();

  before(async () => {
    tmp = await tempDir();
    if (isRoot) Object.assign(process.env, ROOT_ENV);
  });
  after(async () => {
    await cluster?.stop();
    for (const k of Object.keys(ROOT_ENV)) if (saved[k] === undefined) delete process.env[k];
    for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await tmp.remove();
  });

  it('runs 4 ranks whose engine ids are their ranks, with rank and size in their namespaces', async () => {
    cluster = await createCluster({ ...mpiConfig(path.join(tmp.dir, 'p1')), n: 4 });
    cluster.pids.forEach((p) => seen.add(p));
    const client = await cluster.connect();
    client.engines.forEach((e) => seen.add(e.pid));
    assert.deepEqual(client.ids, [0, 1, 2, 3]);
    const ranks = await client.view().apply(() => [(globalThis as any).rank, (globalThis as any).size, process.env.OMPI_COMM_WORLD_RANK]);
    assert.deepEqual(ranks, [[0, 4, '0'], [1, 4, '1'], [2, 4, '2'], [3, 4, '3']]);
    assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), range(15).map((x) => x ** 10));
    // The key reached the ranks through the environment: not on mpiexec's command line.
    const mpiexecPid = cluster.pids.at(-1)!;
    const cmdline = execFileSync('cat', [`/proc/${mpiexecPid}/cmdline`]).toString().split('\0');
    assert.ok(cmdline.includes('-x') && cmdline.includes('TSPARALLEL_CONNECTION_INFO'), cmdline.join(' '));
    assert.ok(!cmdline.some((a) => a.includes('"key"')), 'no connection info on the command line');
  });

  it('stops, signals and restarts one rank while the others keep running', async () => {
    const client = await cluster!.connect();
    const before2 = client.engines.get(2)!.pid;
    await cluster!.stopEngine(2);
    // The cluster waited until the controller dropped it; this client hears it a moment later.
    await waitUntil(() => !client.engines.has(2), 10_000, 'the client hears that engine 2 is gone');
    assert.deepEqual(client.ids, [0, 1, 3]);
    await waitUntil(() => !isAlive(before2), 10_000, 'rank 2 has exited');
    assert.deepEqual(await client.view().apply(() => (globalThis as any).rank), [0, 1, 3], 'the other ranks still answer');
    await cluster!.restartEngine(2);
    await waitUntil(() => client.engines.has(2), 10_000, 'the client hears that engine 2 is back');
    assert.deepEqual(client.ids, [0, 1, 2, 3]);
    const fresh = client.engines.get(2)!.pid;
    seen.add(fresh);
    assert.notEqual(fresh, before2);
    assert.equal(await client.view(2).apply(() => 2 + 2), 4);
    // A signal reaches that one process: SIGKILL is a crash the controller then notices by heartbeat.
    await cluster!.signalEngine(2, 'SIGKILL');
    await waitUntil(() => !isAlive(fresh), 10_000, 'the killed rank is gone');
    await waitUntil(() => !client.engines.has(2), 10_000, 'the controller notices the dead rank');
    assert.deepEqual(await client.view().apply(() => 1), [1, 1, 1]);
  });

  it('stop leaves no process behind (mpiexec and every rank, by pid)', async () => {
    const client = await cluster!.connect();
    const pids = [...cluster!.pids, ...[...client.engines.values()].map((e) => e.pid)];
    pids.forEach((p) => seen.add(p));
    await cluster!.stop();
    cluster = undefined;
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
  });

  it("surfaces mpiexec's own error block in the LauncherError", { skip: isRoot ? false : 'needs root to see the run-as-root refusal' }, async () => {
    for (const k of Object.keys(ROOT_ENV)) delete process.env[k];
    try {
      await assert.rejects(createCluster({ ...mpiConfig(path.join(tmp.dir, 'p2')), n: 2 }), (err: unknown) => {
        assert.ok(err instanceof LauncherError, String(err));
        assert.match(err.message, /mpiexec has detected an attempt to run as root/);
        assert.match(err.message, /--allow-run-as-root/);
        return true;
      });
    } finally {
      Object.assign(process.env, ROOT_ENV);
    }
  });

  it('with allowRunAsRoot it passes --allow-run-as-root itself', { skip: isRoot ? false : 'only meaningful as root' }, async () => {
    for (const k of Object.keys(ROOT_ENV)) delete process.env[k];
    try {
      const config = mpiConfig(path.join(tmp.dir, 'p3'));
      const c = await createCluster({ ...config, n: 2, launchers: { mpi: { args: ['--oversubscribe'], allowRunAsRoot: true } } });
      c.pids.forEach((p) => seen.add(p));
      const client = await c.connect();
      assert.deepEqual(client.ids, [0, 1]);
      await c.stop();
    } finally {
      Object.assign(process.env, ROOT_ENV);
    }
  });

  it("a task's process.exit(3) on a rank: EngineDiedError with exitCode 3; Open MPI ends the job and the launcher says which rank", async () => {
    const c = await createCluster({ ...mpiConfig(path.join(tmp.dir, 'p4')), n: 3 });
    c.pids.forEach((p) => seen.add(p));
    const exits: ExitInfo[] = [];
    c.onEngineExit((e) => exits.push(e));
    const client = await c.connect();
    client.engines.forEach((e) => seen.add(e.pid));
    await new Promise((r) => setTimeout(r, 1000)); // the ranks' hearts are up (process.exit used to abort then)
    await assert.rejects(client.view(1).apply(() => process.exit(3)), (err: unknown) => {
      assert.ok(err instanceof EngineDiedError, String(err));
      assert.equal(err.exitCode, 3, err.message);
      return true;
    });
    await waitUntil(() => exits.length === 3, 30_000, 'mpiexec ends the job and every rank is reported');
    assert.deepEqual(exits.map((e) => [e.id.split(' ')[1], e.code, e.signal]).sort(), [['0', null, null], ['1', 3, null], ['2', null, null]], JSON.stringify(exits));
    for (const e of exits.filter((x) => !x.id.startsWith('rank 1 '))) assert.match(e.stderrTail ?? '', /ended by mpiexec: rank 1 exited with code 3/);
    const pids = [...c.pids, ...[...client.engines.values()].map((e) => e.pid)];
    await c.stop();
    for (const pid of pids) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
  });

  it('Ctrl-C on `tscluster start` ends mpiexec and every rank', async () => {
    const profileDir = path.join(tmp.dir, 'profile_mpi');
    await mkdir(profileDir, { recursive: true });
    const { profileDir: _p, projectDir: _q, ...config } = mpiConfig(profileDir);
    await writeFile(path.join(profileDir, 'tsparallel.config.json'), JSON.stringify(config));
    const env = cliEnv(tmp.dir, isRoot ? ROOT_ENV : {});
    const start = startCli(['start', '-n', '3', '--profile', 'mpi'], env);
    seen.add(start.pid);
    await start.waitForOutput(/is running/, 60_000);
    const file = JSON.parse(execFileSync('cat', [path.join(profileDir, 'security', 'cluster.json')]).toString()) as { launchers: { engines: { pids: number[] }[] } };
    const mpiexec = file.launchers.engines[0]!.pids[0]!;
    const ranks = execFileSync('pgrep', ['-P', String(mpiexec)]).toString().trim().split('\n').map(Number);
    assert.equal(ranks.length, 3, 'three ranks under mpiexec');
    [mpiexec, ...ranks].forEach((p) => seen.add(p));
    start.child.kill('SIGINT');
    const { code } = await start.exited;
    assert.equal(code, 0, start.output());
    for (const pid of [mpiexec, ...ranks]) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
  });
});
