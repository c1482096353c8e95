/**
 * The `ssh` launcher across the rig (test/support/rig.ts): the rig's real sshd on every host, key login with the
 * rig's generated keys and its ssh config file. The cluster's owner runs on `head` (test/support/rig-owner.ts, started
 * through `hosts.sh exec head`), as a user's program on a login node would; the engines run on `node1` and `node2`.
 *
 * Covered: the seed's map with the profile on the shared directory; the key on no command line of any host; a
 * task's process.exit(3) on a remote engine (EngineDiedError with exitCode 3, the wrapper's real exit code in the
 * launcher's report); kill -9 of a remote engine (reported with SIGKILL, then dropped by the controller); no shared
 * file system at all (head's profile and each node's profile directory on a tmpfs only that host sees); the
 * controller placed on node1 with controllerHost (engines on node2, owner on head); a refused host as a
 * LauncherError naming it and ssh's message; `tscluster doctor` on head checking the hosts and their Node version;
 * `tscluster start` with the ssh launcher and Ctrl-C; the owner killed with SIGKILL (no ssh master connection may
 * outlive it). After each test nothing is left on any host (checked by
 * pgrep on every host).
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cliEnv, tsclusterCommand } from '../support/cli-run.js';
import { collect, hostIp, pidsOnAllHosts, pidsOnHost, requireRig, runOnHost, runSyncOnHost, sshConfigPath, stopRigProcesses } from '../support/rig.js';
import { startClusterOnHost, writeProfile } from '../support/rig-cluster.js';
import { nothingLeft, ownerReady, rigScratch, type OwnerEvent } from '../support/rig-owner.js';

const skip = requireRig('hosts', 'sshd');
after(stopRigProcesses);

/** Engine processes (`node …/tsengine.js …`), not the ssh sessions whose remote command names tsengine.js. */
const ENGINE = '^[^ ]*node [^ ]*tsengine\\.js';
/**
 * What a test leaves running on the rig hosts, when nothing should be: engines, controllers, tscluster, the owner,
 * ssh clients (masters and sessions), the launcher's remote wrapper shells and the masters' remote commands.
 */
const LEFTOVERS = `${ENGINE}|^[^ ]*node [^ ]*(tscontroller|tscluster|rig-owner)\\.js|^ssh |TSPARALLEL_STARTED|tsparallel-ssh-master`;

/** Heartbeats quick enough to see a dead remote engine in a test, slack enough for a loaded machine. */
const HEARTBEAT = { heartbeatMs: 200, heartbeatTimeoutMs: 6000 } as const;

const noLeftovers = (what: string) => nothingLeft(LEFTOVERS, what);

/** Cluster options for the owner: engines through ssh with the rig's config file. */
function sshCluster(profileDir: string, n: number, ssh: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    profileDir,
    projectDir: null,
    n,
    // No controller.ip: the ssh launcher places engines elsewhere, so the controller binds every interface and
    // advertises head's rig address.
    controller: { ...HEARTBEAT },
    engines: { launcher: 'ssh', startTimeoutMs: 120_000 },
    launchers: { ssh: { sshConfig: sshConfigPath(), graceMs: 3000, ...ssh } },
    ...extra,
  };
}

/** Whether an owner event is the client hearing that engine `id` was `kind`. */
function isChange(e: OwnerEvent, kind: 'registered' | 'unregistered', id: number): boolean {
  const change = e.change as { type?: string; id?: number } | undefined;
  return e.type === 'engine' && change?.type === kind && change.id === id;
}

const SEED = `async ({ client, tsp }) => client.view().map((x) => x ** 10, tsp.range(15))`;
const SEED_RESULT = Array.from({ length: 15 }, (_, x) => x ** 10);

describe('ssh launcher across the rig (owner on head, engines on node1/node2)', { skip }, () => {
  test('shared profile: seed map on node1/node2, no key on a command line, process.exit(3) and kill -9 of remote engines reported, stop leaves nothing', { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-ssh-');
    const root = scratch.root;
    const owner = await scratch.owner(sshCluster(path.join(root, 'profile_rigssh'), 4, { hosts: { node1: 2, node2: 2 }, sharedFilesystem: true }));
    const { engines } = await ownerReady(owner);
    assert.deepEqual(engines.map((e) => e.hostname).sort(), ['node1', 'node1', 'node2', 'node2'], 'two engines on each node, filled in order');
    assert.deepEqual(pidsOnHost('head', ENGINE), [], 'no engine on head');
    assert.deepEqual(await owner.call(SEED, 60_000), SEED_RESULT);
    const where = await owner.call<{ host: string; cwd: string }[]>(`async ({ client }) => client.view().apply(() => ({ host: process.getBuiltinModule('os').hostname(), cwd: process.cwd() }))`, 30_000);
    assert.ok(where.every((w) => w.cwd === path.join(root, 'profile_rigssh')), `engines work in the shared profile directory: ${JSON.stringify(where)}`);

    // The key is on no command line on any host (it travelled on each ssh session's stdin).
    const key = await owner.call<string>(`async ({ cluster }) => JSON.parse(process.getBuiltinModule('fs').readFileSync(cluster.engineConnectionFile, 'utf8')).key`, 10_000);
    for (const host of ['head', 'node1', 'node2']) {
      const ps = runSyncOnHost(host, 'ps', ['-eo', 'args', '--no-headers']);
      assert.ok(ps.stdout.length > 0, `ps on ${host}`);
      assert.ok(!ps.stdout.includes(key), `the key is on a command line on ${host}`);
    }

    // A task calling process.exit(3) on node1: the task's error carries 3, the launcher reports the real code.
    const onNode1 = engines.find((e) => e.hostname === 'node1')!;
    const died = await owner.callError(`async ({ client }) => client.view(${onNode1.id}).apply(() => process.exit(3))`, 60_000);
    assert.equal(died.name, 'EngineDiedError', JSON.stringify(died));
    assert.equal(died.exitCode, 3, died.message);
    const exit3 = await owner.waitForEvent((e) => e.type === 'exit' && e.id === `node1:${onNode1.pid}`, 30_000, `the ssh launcher reports engine ${onNode1.id} on node1`);
    assert.deepEqual({ code: exit3.code, signal: exit3.signal }, { code: 3, signal: null }, JSON.stringify(exit3));
    assert.doesNotMatch(String(exit3.stderrTail ?? ''), /Napi::Error|terminate called/);

    // kill -9 of an engine on node2, from node2 itself: reported with SIGKILL, then dropped by the controller.
    const onNode2 = engines.find((e) => e.hostname === 'node2')!;
    assert.equal(runSyncOnHost('node2', 'kill', ['-9', String(onNode2.pid)]).status, 0, `kill -9 ${onNode2.pid} on node2`);
    const killed = await owner.waitForEvent((e) => e.type === 'exit' && e.id === `node2:${onNode2.pid}`, 30_000, 'the killed engine reported');
    assert.deepEqual({ code: killed.code, signal: killed.signal }, { code: null, signal: 'SIGKILL' }, JSON.stringify(killed));
    await owner.waitForEvent((e) => isChange(e, 'unregistered', onNode2.id), 30_000, 'the controller drops the killed engine');
    const left = await owner.call<number[]>(`async ({ client }) => client.ids`, 10_000);
    assert.deepEqual(left.sort(), engines.map((e) => e.id).filter((id) => id !== onNode1.id && id !== onNode2.id).sort());
    assert.deepEqual(await owner.call(`async ({ client }) => client.view().apply(() => 1)`, 30_000), [1, 1], 'the two other engines go on');

    const live = pidsOnAllHosts(LEFTOVERS);
    assert.ok(live.head?.length && live.node1?.length && live.node2?.length, `the leftover check sees the live cluster on every host: ${JSON.stringify(live)}`);
    await owner.close();
    await noLeftovers('after stop');
  });

  test('no shared file system: head\'s profile and each node\'s profile directory on disks only that host sees', { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-ssh-');
    const headDir = await scratch.privateDir('head');
    // The same path on both nodes, a different disk on each.
    const nodeDir = await scratch.privateDir('node1');
    await scratch.privateDir('node2', nodeDir);
    const nodeProfile = path.join(nodeDir, 'profile_private');
    const owner = await scratch.owner(sshCluster(path.join(headDir, 'profile_private'), 2, {
      hosts: { node1: { n: 1, profileDir: nodeProfile }, node2: { n: 1, profileDir: nodeProfile } },
      sharedFilesystem: false,
    }));
    const { engines, engineConnectionFile } = await ownerReady(owner);
    assert.deepEqual(engines.map((e) => e.hostname).sort(), ['node1', 'node2']);
    assert.equal(runSyncOnHost('head', 'test', ['-f', engineConnectionFile]).status, 0, 'head has the engine connection file');
    for (const host of ['node1', 'node2']) {
      assert.notEqual(runSyncOnHost(host, 'test', ['-e', engineConnectionFile]).status, 0, `${host} cannot see head's profile (${engineConnectionFile})`);
      const args = runSyncOnHost(host, 'pgrep', ['-af', ENGINE]).stdout;
      assert.match(args, /tsengine\.js/, `the engine on ${host}: ${args}`);
      assert.doesNotMatch(args, /--connection-file/, 'its connection info came through the session, not a file');
    }
    assert.deepEqual(await owner.call(SEED, 60_000), SEED_RESULT);
    const cwd = await owner.call<string[]>(`async ({ client }) => client.view().apply(() => process.cwd())`, 30_000);
    assert.deepEqual(cwd, [nodeProfile, nodeProfile], 'each engine works in its host\'s own profile directory');

    // process.exit(3) on node2: the code reaches the task's error, the launcher, and node2's own exit file.
    const onNode2 = engines.find((e) => e.hostname === 'node2')!;
    const died = await owner.callError(`async ({ client }) => client.view(${onNode2.id}).apply(() => process.exit(3))`, 60_000);
    assert.equal(died.name, 'EngineDiedError', JSON.stringify(died));
    assert.equal(died.exitCode, 3, died.message);
    const exit3 = await owner.waitForEvent((e) => e.type === 'exit' && e.id === `node2:${onNode2.pid}`, 30_000, 'the engine on node2 reported');
    assert.equal(exit3.code, 3, JSON.stringify(exit3));
    const recorded = runSyncOnHost('node2', 'sh', ['-c', `cat ${path.join(nodeProfile, 'log')}/*.exit`]);
    assert.equal(recorded.stdout.trim(), '3', `the wrapper's exit file on node2: ${recorded.stdout}${recorded.stderr}`);
    assert.notEqual(runSyncOnHost('node1', 'sh', ['-c', `cat ${path.join(nodeProfile, 'log')}/*.exit`]).status, 0, 'node1 has no exit file yet: its engine runs');

    await owner.close();
    await noLeftovers('after stop');
  });

  test('controllerHost: the controller on node1, engines on node2, the owner and its client on head', { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-ssh-');
    const root = scratch.root;
    const owner = await scratch.owner({
      ...sshCluster(path.join(root, 'profile_ctl'), 2, { hosts: { node2: 2 }, controllerHost: 'node1', sharedFilesystem: true }),
      controller: { launcher: 'ssh', ...HEARTBEAT },
    });
    const { engines, controllerPid, engineConnectionFile } = await ownerReady(owner);
    const CONTROLLER = '^[^ ]*node [^ ]*tscontroller\\.js';
    assert.deepEqual(pidsOnHost('node1', CONTROLLER), [controllerPid], 'the controller runs on node1 (its pid there)');
    assert.deepEqual(pidsOnHost('head', CONTROLLER), [], 'no controller on head');
    assert.deepEqual(engines.map((e) => e.hostname), ['node2', 'node2']);
    const address = await owner.call<string>(`async ({ cluster }) => JSON.parse(process.getBuiltinModule('fs').readFileSync(${JSON.stringify(engineConnectionFile)}, 'utf8')).address`, 10_000);
    assert.match(address, new RegExp(`^tcp://${hostIp('node1').replaceAll('.', '\\.')}:\\d+$`), 'the controller advertises node1\'s rig address');
    assert.deepEqual(await owner.call(SEED, 60_000), SEED_RESULT);
    await owner.close();
    await noLeftovers('after stop');
  });

  test('a refused host is a LauncherError naming it and what ssh said', { timeout: 120_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-ssh-');
    const root = scratch.root;
    // Port 2222 of node2: the host is up, nothing listens there.
    const owner = await scratch.owner(sshCluster(path.join(root, 'profile_refused'), 2, { hosts: { node1: 1, 'node2:2222': 1 } }));
    const failed = await owner.waitForEvent((e) => e.type === 'start-failed' || e.type === 'ready', 120_000, 'the start to fail');
    assert.equal(failed.type, 'start-failed');
    const error = failed.error as { name: string; message: string };
    assert.equal(error.name, 'LauncherError', error.message);
    assert.match(error.message, /ssh host 'node2:2222'/);
    assert.match(error.message, /Connection refused/);
    await owner.close();
    await noLeftovers('after the failed start');
  });

  test('tscluster doctor on head: each ssh host answers with its host name and Node version; refused and old-Node hosts are problems', { timeout: 120_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-ssh-');
    const root = scratch.root;
    // A stand-in `node` that answers the probe as Node 18 would (the rig's hosts have Node 20).
    const oldNode = path.join(root, 'old-node', 'node');
    await mkdir(path.dirname(oldNode), { recursive: true });
    await writeFile(oldNode, '#!/bin/sh\nprintf "NODE=18.19.1\\nHOST=%s\\n" "$(hostname)"\n', { mode: 0o755 });
    await writeProfile(root, 'rigdoctor', {
      engines: { launcher: 'ssh' },
      launchers: { ssh: { sshConfig: sshConfigPath(), hosts: { node1: 1, node2: 1, 'node2:2222': 1, 'root@node1': { n: 1, command: [oldNode, '/nowhere/tsengine.js'] } } } },
    });
    const [cmd, ...rest] = tsclusterCommand();
    const r = await collect(runOnHost('head', cmd!, [...rest, 'doctor', '--profile', 'rigdoctor'], { env: cliEnv(root) }));
    t.diagnostic(r.stdout.trim());
    assert.equal(r.code, 1, `doctor reports the problems in its exit code:\n${r.stdout}\n${r.stderr}`);
    const version = process.versions.node.replaceAll('.', '\\.');
    assert.match(r.stdout, new RegExp(`ok\\s+ssh host 'node1' answers \\(host name node1\\), Node ${version} there`));
    assert.match(r.stdout, new RegExp(`ok\\s+ssh host 'node2' answers \\(host name node2\\), Node ${version} there`));
    assert.match(r.stdout, /PROBLEM\s+cannot connect to ssh host 'node2:2222': .*Connection refused/);
    assert.match(r.stdout, /PROBLEM\s+host 'root@node1' runs Node 18\.19\.1/);
  });

  test('the owner killed with SIGKILL: its engines, controller and ssh master connections all go by themselves', { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-ssh-');
    const root = scratch.root;
    const owner = await scratch.owner(sshCluster(path.join(root, 'profile_killed'), 2, { hosts: { node1: 1, node2: 1 }, sharedFilesystem: true }));
    await ownerReady(owner);
    assert.equal(pidsOnHost('head', '^ssh .*ControlMaster=yes').length, 2, 'one master connection per host');
    // The launcher cannot remove its (0700, by then empty) socket directory when killed: the test does.
    const controlDir = /ControlPath=(\S+)\/\d+ /.exec(runSyncOnHost('head', 'pgrep', ['-af', '^ssh .*ControlMaster=yes']).stdout)?.[1];
    assert.ok(controlDir?.startsWith('/tmp/tsp-ssh-'), `the masters' socket directory: ${controlDir}`);
    t.after(() => rm(controlDir!, { recursive: true, force: true }));
    for (const host of ['node1', 'node2']) assert.equal(pidsOnHost(host, 'tsparallel-ssh-master').length, 1, `the master's remote command on ${host}`);
    const ownerPid = pidsOnHost('head', '^[^ ]*node [^ ]*rig-owner\\.js');
    assert.equal(ownerPid.length, 1, 'the owner on head');
    // No stop, no signal it can catch: every ssh session's and master's standard input closes with it.
    assert.equal(runSyncOnHost('head', 'kill', ['-KILL', String(ownerPid[0])]).status, 0);
    await noLeftovers('after the owner was killed');
  });

  test('tscluster start with the ssh launcher on head, then Ctrl-C: nothing left on any host', { timeout: 300_000 }, async (t) => {
    const scratch = await rigScratch(t, 'rig-ssh-');
    const root = scratch.root;
    await writeProfile(root, 'rigstart', {
      controller: { ...HEARTBEAT },
      engines: { launcher: 'ssh', startTimeoutMs: 120_000 },
      launchers: { ssh: { sshConfig: sshConfigPath(), hosts: { node1: 1, node2: 1 }, sharedFilesystem: true, graceMs: 3000 } },
    });
    const start = await startClusterOnHost('head', ['--profile', 'rigstart', '-n', '2'], cliEnv(root), 180_000);
    assert.doesNotMatch(start.output(), /advertises a loopback address/);
    assert.equal(pidsOnHost('node1', ENGINE).length, 1, 'an engine on node1');
    assert.equal(pidsOnHost('node2', ENGINE).length, 1, 'an engine on node2');
    const r = await start.interrupt(60_000);
    assert.equal(r.code, 0, start.output().slice(-1500));
    await noLeftovers('after Ctrl-C');
  });
});
