/**
 * The `mpi` launcher across the rig: real Open MPI (`mpiexec --host node1:2,node2:2 -n 4`) started on `head` by the
 * cluster's owner (test/support/rig-owner.ts), its daemons (orted) started on node1 and node2 over the rig's sshd
 * (plm_rsh_agent with the rig's ssh config) and its traffic kept on the rig's /24 (scripts/rig/mpi.sh env).
 *
 * Covered: engine ids are the ranks and the ranks' hosts are node1/node2; the connection info reaches the ranks
 * through the environment only (head's profile is on a tmpfs no node sees, and the key is on no command line);
 * the seed's map; a task's process.exit(3) on a rank (EngineDiedError with exitCode 3; Open MPI then ends the job,
 * and the launcher reports that rank's code and mpiexec's reason for the others); stop, and Ctrl-C of
 * `tscluster start`, leave no process on any host (mpiexec, orted, engines: pgrep on every host).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cliEnv } from '../support/cli-run.js';
import { mpiEnv, pidsOnAllHosts, pidsOnHost, requireRig, runSyncOnHost, stopRigProcesses } from '../support/rig.js';
import { startClusterOnHost, writeProfile } from '../support/rig-cluster.js';
import { nothingLeft, ownerReady, rigScratch } from '../support/rig-owner.js';

const skip = requireRig('hosts', 'sshd', 'mpi');
after(stopRigProcesses);

const ENGINE = '^[^ ]*node [^ ]*tsengine\\.js';
/** Every process of an MPI cluster on the rig hosts: engines, controller, mpiexec, Open MPI's daemons, ssh clients. */
const CLUSTER = `${ENGINE}|^[^ ]*node [^ ]*(tscontroller|tscluster)\\.js|^mpiexec|orted|^ssh `;
/** The same and the test's owner process. */
const LEFTOVERS = `${CLUSTER}|rig-owner\\.js`;
const HEARTBEAT = { heartbeatMs: 200, heartbeatTimeoutMs: 6000 } as const;
const HOSTS = ['--host', 'node1:2,node2:2'];

const noLeftovers = (what: string, pattern = LEFTOVERS) => nothingLeft(pattern, what);

function mpiCluster(profileDir: string, n: number) {
  return {
    profileDir,
    projectDir: null,
    n,
    controller: { ...HEARTBEAT },
    engines: { launcher: 'mpi', startTimeoutMs: 120_000 },
    launchers: { mpi: { args: HOSTS, graceMs: 5000 } },
  };
}

const SEED_RESULT = Array.from({ length: 15 }, (_, x) => x ** 10);

describe('mpi launcher across the rig (mpiexec on head, ranks on node1/node2)', { skip }, () => {
  test('4 ranks over node1:2,node2:2: ids are ranks, connection info only in the environment, seed map, stop leaves nothing', { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-mpi-');
    // A profile the nodes cannot see: the ranks can only get their connection info from their environment.
    const profileDir = path.join(await scratch.privateDir('head'), 'profile_rigmpi');
    const owner = await scratch.owner(mpiCluster(profileDir, 4), mpiEnv());
    const { engines, engineConnectionFile } = await ownerReady(owner);
    const ranks = await owner.call<{ id: number; rank: number; size: number; env: string; host: string }[]>(
      `async ({ client }) => client.view().apply(() => ({ rank: globalThis.rank, size: globalThis.size, env: process.env.OMPI_COMM_WORLD_RANK, host: process.getBuiltinModule('os').hostname() }))`,
      60_000,
    );
    const ids = await owner.call<number[]>(`async ({ client }) => client.ids`, 10_000);
    assert.deepEqual(ids, [0, 1, 2, 3]);
    assert.deepEqual(ranks.map((r) => [r.rank, r.size, r.env]), [[0, 4, '0'], [1, 4, '1'], [2, 4, '2'], [3, 4, '3']], 'engine i is rank i');
    assert.deepEqual(ranks.map((r) => r.host), ['node1', 'node1', 'node2', 'node2'], 'ranks by slot: two on node1, two on node2');
    assert.deepEqual(engines.map((e) => e.hostname).sort(), ['node1', 'node1', 'node2', 'node2']);
    assert.deepEqual(pidsOnHost('head', ENGINE), [], 'no rank on head');
    for (const host of ['node1', 'node2']) assert.ok(pidsOnHost(host, 'orted').length >= 1, `Open MPI's daemon runs on ${host}`);

    // No shared file: the nodes cannot see head's profile, so the connection info came in the ranks' environment.
    for (const host of ['node1', 'node2']) assert.notEqual(runSyncOnHost(host, 'test', ['-e', engineConnectionFile]).status, 0, `${host} cannot see ${engineConnectionFile}`);
    const key = await owner.call<string>(`async ({ cluster }) => JSON.parse(process.getBuiltinModule('fs').readFileSync(cluster.engineConnectionFile, 'utf8')).key`, 10_000);
    const mpiexec = runSyncOnHost('head', 'pgrep', ['-af', '^mpiexec']).stdout;
    assert.match(mpiexec, /-x TSPARALLEL_CONNECTION_INFO/, `mpiexec forwards the variable by name: ${mpiexec}`);
    for (const host of ['head', 'node1', 'node2']) {
      const ps = runSyncOnHost(host, 'ps', ['-eo', 'args', '--no-headers']).stdout;
      assert.ok(ps.includes('tsengine.js') || host === 'head', `ps on ${host} lists the engines`);
      assert.ok(!ps.includes(key), `the key is on a command line on ${host}`);
      assert.doesNotMatch(ps, /--connection-file/, `no connection file on ${host}'s command lines`);
    }
    assert.deepEqual(await owner.call(`async ({ client, tsp }) => client.view().map((x) => x ** 10, tsp.range(15))`, 60_000), SEED_RESULT);

    const live = pidsOnAllHosts(CLUSTER);
    assert.ok(live.head?.length && live.node1?.length && live.node2?.length, `the leftover check sees the live cluster on every host: ${JSON.stringify(live)}`);
    await owner.call(`async ({ cluster }) => cluster.stop()`, 120_000);
    await noLeftovers('after cluster.stop()', CLUSTER);
    await owner.close();
    await noLeftovers('after the owner exited');
  });

  test("process.exit(3) in rank 2's task: EngineDiedError with exitCode 3, Open MPI ends the job, the launcher says which rank, nothing left", { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-mpi-');
    const root = scratch.root;
    const owner = await scratch.owner(mpiCluster(path.join(root, 'profile_exit'), 4), mpiEnv());
    await ownerReady(owner);
    const died = await owner.callError(`async ({ client }) => client.view(2).apply(() => process.exit(3))`, 60_000);
    assert.equal(died.name, 'EngineDiedError', JSON.stringify(died));
    assert.equal(died.exitCode, 3, died.message);
    await owner.waitForEvent(() => owner.events.filter((e) => e.type === 'exit').length >= 4, 60_000, 'the launcher reports every rank');
    const exits = owner.events.filter((e) => e.type === 'exit') as unknown as { id: string; code: number | null; signal: string | null; stderrTail?: string }[];
    const rank2 = exits.find((e) => e.id.startsWith('rank 2 '));
    assert.deepEqual({ code: rank2?.code, signal: rank2?.signal }, { code: 3, signal: null }, JSON.stringify(exits));
    for (const other of exits.filter((e) => !e.id.startsWith('rank 2 '))) {
      assert.match(other.stderrTail ?? '', /rank 2 exited with code 3/, `rank ${other.id} says why it ended: ${JSON.stringify(other)}`);
    }
    assert.doesNotMatch(JSON.stringify(exits), /Napi::Error|terminate called/);
    await owner.close();
    await noLeftovers('after the job ended');
  });

  test('tscluster start with the mpi launcher on head, then Ctrl-C: no mpiexec, orted or engine left on any host', { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-mpi-');
    const root = scratch.root;
    await writeProfile(root, 'rigmpistart', {
      controller: { ...HEARTBEAT },
      engines: { launcher: 'mpi', startTimeoutMs: 120_000 },
      launchers: { mpi: { args: HOSTS } },
    });
    const start = await startClusterOnHost('head', ['--profile', 'rigmpistart', '-n', '4'], cliEnv(root, mpiEnv()), 180_000);
    assert.equal(pidsOnHost('node1', ENGINE).length, 2, 'two ranks on node1');
    assert.equal(pidsOnHost('node2', ENGINE).length, 2, 'two ranks on node2');
    assert.ok(pidsOnHost('node1', 'orted').length >= 1 && pidsOnHost('node2', 'orted').length >= 1, 'orted on both nodes');
    const r = await start.interrupt(90_000);
    assert.equal(r.code, 0, start.output().slice(-1500));
    await noLeftovers('after Ctrl-C');
  });
});
