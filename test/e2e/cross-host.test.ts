/**
 * The first cluster across hosts, with today's code: `tscontroller` on node1 bound to its rig address, one
 * `tsengine` on node2 reading the engine connection file from the shared directory, and a client on head running
 * the seed's map (x => x ** 10 over range(15)). With `--ip` set to the host's rig address, today's code does it; the
 * launcher-level pieces of issue 10 (advertised address) are tested elsewhere. The second test is the lifetime
 * without cross-host pids: a controller on node1 owned through the lease by a process on head.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { distEntry, repoRoot, waitUntil } from '../support/cluster.js';
import { collect, hostIp, pidsOnAllHosts, pidsOnHost, requireRig, RIG_SHARED, runOnHost, stopRigProcesses } from '../support/rig.js';
import { signalOnHost } from '../support/rig-cluster.js';

/** On head: connect with argv[1] (client file), wait for an engine, run the seed's map, print its JSON. */
const CLIENT = `
const { Client, range } = await import(process.argv[2]);
const file = process.argv[1];
const deadline = Date.now() + 20000;
let client;
for (;;) {
  client = await Client.connect({ connectionFile: file, timeoutMs: 10000 });
  if (client.ids.length > 0 || Date.now() > deadline) break;
  await client.close();
  await new Promise((r) => setTimeout(r, 300));
}
console.log('engines ' + JSON.stringify(client.ids));
const result = await Promise.race([
  client.view().map((x) => x ** 10, range(15)),
  new Promise((_, rej) => setTimeout(() => rej(new Error('map did not finish within 20 s')), 20000)),
]);
console.log('result ' + JSON.stringify(result));
await client.close();
process.exit(0);
`;

const skip = requireRig('hosts');
after(stopRigProcesses);

test(
  'controller on node1, engine on node2, client on head: the seed map',
  {
    skip,
  },
  async (t) => {
    const dir = await mkdtemp(path.join(RIG_SHARED, 'cross-host-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cli = (name: string) => path.join(repoRoot(), 'dist', 'src', 'cli', name);
    const controller = runOnHost('node1', process.execPath, [cli('tscontroller.js'), '--profile-dir', dir, '--ip', hostIp('node1')]);
    const ctl = collect(controller);
    let ctlOut = '';
    controller.stdout!.on('data', (d: Buffer) => (ctlOut += d.toString()));
    await waitUntil(() => /controller ready/.test(ctlOut) || controller.exitCode !== null, 30_000, 'controller on node1 ready');
    if (controller.exitCode !== null) assert.fail(`controller on node1 exited ${controller.exitCode}: ${(await ctl).stderr}`);
    const security = path.join(dir, 'security');
    const files = await readdir(security);
    const engineFile = files.find((f) => f.endsWith('-engine.json') || f === 'engine.json');
    const clientFile = files.find((f) => f.endsWith('-client.json') || f === 'client.json');
    assert.ok(engineFile && clientFile, `connection files in ${security}: ${files.join(', ')}`);

    const engine = runOnHost('node2', process.execPath, [cli('tsengine.js'), '--connection-file', path.join(security, engineFile)]);
    const eng = collect(engine);
    const client = runOnHost('head', process.execPath, ['--input-type=module', '-e', CLIENT, path.join(security, clientFile), distEntry()]);
    const r = await collect(client);
    // (await eng only once the engine has exited: it resolves at exit)
    const engineState = engine.exitCode === null ? 'running' : `exited ${engine.exitCode}: ${(await eng).stderr.slice(-500)}`;
    try {
      assert.equal(
        r.code,
        0,
        `client on head failed (exit ${r.code}): ${(r.stderr || r.stdout).slice(-800)}\nengine on node2: ${engineState}\ncontroller on node1 stderr: ${ctlOut.slice(-300)}`,
      );
      assert.match(r.stdout, /engines \[\d+\]/, `no engine registered from node2; engine: ${engineState}`);
      const expected = Array.from({ length: 15 }, (_, x) => x ** 10);
      assert.match(r.stdout, new RegExp(`result ${JSON.stringify(expected).replace(/[[\]]/g, '\\$&')}`), r.stdout);
    } finally {
      await stopRigProcesses();
      await waitUntil(() => Object.keys(pidsOnAllHosts('tscontroller|tsengine')).length === 0, 15_000, 'no controller or engine left on any host');
    }
  },
);

/** On head: claim the owner lease of the controller in argv[1] and hold it until killed. */
const OWNER = `
const [file, dist] = process.argv.slice(1);
const { OwnerSession } = await import(dist + '/cluster/lease.js');
const { ZeroMqTransport } = await import(dist + '/launchers/index.js');
const { readConnectionFile } = await import(dist + '/wire/connection.js');
const owner = await OwnerSession.open(new ZeroMqTransport(), await readConnectionFile(file));
console.log('owned ' + owner.leaseMs);
setInterval(() => {}, 1000);
`;

/** On head: wait for argv[3] engines of the cluster in argv[1]; print their hosts. */
const WAIT_ENGINES = `
const { Client } = await import(process.argv[2]);
const client = await Client.connect({ connectionFile: process.argv[1], timeoutMs: 10000 });
await client.waitForEngines(Number(process.argv[3]), { timeoutMs: 30000 });
console.log('hosts ' + JSON.stringify([...client.engines.values()].map((e) => e.hostname).sort()));
await client.close();
process.exit(0);
`;

test(
  'a controller on node1 owned through the lease by a process on head: up while the owner lives, gone with its engines when it is killed',
  { skip, timeout: 120_000 },
  async (t) => {
    const dir = await mkdtemp(path.join(RIG_SHARED, 'cross-host-'));
    t.after(async () => {
      await stopRigProcesses();
      await rm(dir, { recursive: true, force: true });
    });
    const leaseMs = 3000;
    const heartbeatTimeoutMs = 1500;
    const cli = (name: string) => path.join(repoRoot(), 'dist', 'src', 'cli', name);
    const controller = runOnHost('node1', process.execPath, [
      cli('tscontroller.js'), '--profile-dir', dir, '--ip', hostIp('node1'),
      '--lease-ms', String(leaseMs), '--heartbeat-ms', '100', '--heartbeat-timeout-ms', String(heartbeatTimeoutMs),
    ]);
    const ctl = collect(controller);
    let ctlOut = '';
    controller.stdout!.on('data', (d: Buffer) => (ctlOut += d.toString()));
    await waitUntil(() => /controller ready/.test(ctlOut) || controller.exitCode !== null, 30_000, 'controller on node1 ready');
    const security = path.join(dir, 'security');
    const files = await readdir(security);
    const clientFile = path.join(security, files.find((f) => f.endsWith('client.json'))!);
    const engineFile = path.join(security, files.find((f) => f.endsWith('engine.json'))!);

    // The owner: a process on head, which node1 cannot see by pid; it holds the lease over the wire.
    const owner = runOnHost('head', process.execPath, ['--input-type=module', '-e', OWNER, clientFile, path.join(repoRoot(), 'dist', 'src'), 'rig-lease-owner']);
    let ownerOut = '';
    owner.stdout!.on('data', (d: Buffer) => (ownerOut += d.toString()));
    owner.stderr!.on('data', (d: Buffer) => (ownerOut += d.toString()));
    await waitUntil(() => /owned \d+/.test(ownerOut) || owner.exitCode !== null, 20_000, 'the owner on head claims the lease');
    assert.match(ownerOut, new RegExp(`owned ${leaseMs}`), ownerOut);
    for (const host of ['node1', 'node2']) runOnHost(host, process.execPath, [cli('tsengine.js'), '--connection-file', engineFile]);
    const waited = await collect(runOnHost('head', process.execPath, ['--input-type=module', '-e', WAIT_ENGINES, clientFile, distEntry(), '2']));
    assert.match(waited.stdout, /hosts \["node1","node2"\]/, `engines on node1 and node2 registered: ${waited.stderr.slice(-800)}`);

    // Several lease times with the owner alive: everything stays up.
    await new Promise((r) => setTimeout(r, 2 * leaseMs));
    assert.equal(controller.exitCode, null, `the controller on node1 stays up while its owner on head lives: ${ctlOut.slice(-500)}`);
    assert.equal(pidsOnHost('node1', 'tscontroller').length, 1);
    assert.deepEqual(Object.keys(pidsOnAllHosts('tsengine')).sort(), ['node1', 'node2'], 'both engines still run');

    // Kill the owner (SIGKILL: it says nothing): the lease runs out, the controller stops, and its engines with it.
    const killedAt = Date.now();
    assert.equal(signalOnHost('head', 'rig-lease-owner', 'KILL').length, 1);
    await waitUntil(() => Object.keys(pidsOnAllHosts('tscontroller|tsengine')).length === 0, 30_000, 'the controller and its engines stop on every host');
    const tookMs = Date.now() - killedAt;
    const bound = leaseMs + heartbeatTimeoutMs + 2000;
    t.diagnostic(`owner killed → controller on node1 and engines on node1/node2 gone in ${tookMs} ms (lease ${leaseMs} ms, heartbeat timeout ${heartbeatTimeoutMs} ms)`);
    assert.ok(tookMs <= bound, `gone within lease + heartbeat timeout (+2 s for exits and polling): ${tookMs} ms > ${bound} ms`);
    assert.equal((await ctl).code, 0, 'the controller stopped cleanly');
    assert.deepEqual(pidsOnAllHosts('tscontroller|tsengine|rig-lease-owner'), {}, 'nothing left on any host');
  },
);
