/**
 * The seed across hosts, on the rig (test/support/rig.ts): `tscluster start --profile mycluster -n 4` through the
 * `windows-hpc` launcher, run on `head`. The HPC `job` simulator's scheduler service runs each task on the node its
 * job gets (round robin over node1, node2): the controller job's task on node1, the four engine tasks on node1 and
 * node2. A client on head connects, runs the seed's map, pushes and pulls 100 MB, runs a load-balanced map; Ctrl-C
 * to tscluster cancels both jobs and no process is left on any host.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { cliEnv } from '../support/cli-run.js';
import { distEntry, FAST_HEARTBEAT, waitUntil } from '../support/cluster.js';
import { needsXmllint, simJobs, simPids, simulatorCommand, survivors } from '../support/hpc-sim.js';
import { collect, pidsOnAllHosts, pidsOnHost, requireRig, RIG_SHARED, runOnHost, stopRigProcesses } from '../support/rig.js';
import { startClusterOnHost, startHpcService, writeProfile, type HpcService } from '../support/rig-cluster.js';

/** On a rig host: connect with argv[1], wait for argv[3] engines, run the seed's work, print one JSON line. */
export const SEED_CLIENT = `
const { Client, range } = await import(process.argv[2]);
const n = Number(process.argv[3]);
const timer = setTimeout(() => { console.error('client: not done within 150 s'); process.exit(3); }, 150000);
const client = await Client.connect({ connectionFile: process.argv[1], timeoutMs: 20000 });
await client.waitForEngines(n, { timeoutMs: 60000 });
const hosts = {};
for (const e of client.engines.values()) hosts[e.id] = e.hostname;
const seed = await client.view().map((x) => x ** 10, range(15));
const one = {};
for (const [id, h] of Object.entries(hosts)) one[h] ??= Number(id);
const targets = Object.values(one);
const big = new Float64Array((100 * 1024 * 1024) / 8);
for (let i = 0; i < big.length; i += 4096) big[i] = i;
big[big.length - 1] = 42;
const t0 = Date.now();
await client.view(targets).push({ big });
const pulled = await client.view(targets).pull('big');
const pushPullMs = Date.now() - t0;
const pulledOk = pulled.every((a) => a.length === big.length && a[4096 * 7] === 4096 * 7 && a[a.length - 1] === 42);
const remoteLen = await client.view(targets).apply(() => globalThis.big?.length ?? -1);
const lb = await client.loadBalancedView().map((x) => x * 2, range(40));
console.log('RESULT ' + JSON.stringify({ hosts, seed, pushPullMs, pulledOk, remoteLen, lb }));
clearTimeout(timer);
await client.close();
process.exit(0);
`;

const skip = requireRig('hosts') || needsXmllint;
after(stopRigProcesses);

test('tscluster start --profile mycluster -n 4 through windows-hpc on head: controller on node1, engines on node1 and node2', { skip, timeout: 300_000 }, async (t) => {
  const root = await mkdtemp(path.join(RIG_SHARED, 'rig-hpc-'));
  const simDir = path.join(root, 'sim');
  let service: HpcService | undefined;
  t.after(async () => {
    await stopRigProcesses();
    await service?.stop();
    await rm(root, { recursive: true, force: true });
  });
  service = await startHpcService(simDir, ['node1', 'node2']);
  const profileDir = await writeProfile(root, 'mycluster', {
    // No controller.ip: a launcher that places roles on other hosts makes the controller bind every interface and
    // advertise its host's address.
    controller: { launcher: 'windows-hpc', leaseMs: 3000, ...FAST_HEARTBEAT },
    engines: { launcher: 'windows-hpc', startTimeoutMs: 90_000 },
    launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: simulatorCommand(), pollIntervalMs: 250 } },
  });
  const start = await startClusterOnHost('head', ['--profile', 'mycluster', '-n', '4'], cliEnv(root, { HPC_SIM_SERVICE: service.address }), 120_000);
  assert.doesNotMatch(start.output(), /advertises a loopback address/, 'no loopback warning: the controller advertises a rig address');

  // Where the simulator ran each task, and what each host really runs.
  const jobs = simJobs(simDir) as unknown as { name: string; state: string; tasks: { host?: string; state: string }[] }[];
  assert.equal(jobs.length, 2, JSON.stringify(jobs));
  assert.deepEqual(jobs[0]!.tasks.map((x) => x.host), ['node1'], 'the controller job runs on node1');
  assert.deepEqual(jobs[1]!.tasks.map((x) => x.host), ['node1', 'node2', 'node1', 'node2'], 'engine tasks round robin over node1, node2');
  assert.equal(pidsOnHost('node1', 'tscontroller').length, 1, 'the controller runs on node1');
  assert.deepEqual(pidsOnHost('head', 'tscontroller|tsengine'), [], 'nothing of the cluster runs on head but tscluster');

  const security = path.join(profileDir, 'security');
  const clientFile = (await readdir(security)).find((f) => f.endsWith('client.json'));
  assert.ok(clientFile, `a client connection file in ${security}`);
  const client = await collect(runOnHost('head', process.execPath, ['--input-type=module', '-e', SEED_CLIENT, path.join(security, clientFile!), distEntry(), '4']));
  const line = client.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `client on head: exit ${client.code}\n${client.stderr.slice(-1500)}\n${client.stdout.slice(-500)}\ntscluster: ${start.output().slice(-800)}`);
  const r = JSON.parse(line!.slice(7)) as { hosts: Record<string, string>; seed: number[]; pushPullMs: number; pulledOk: boolean; remoteLen: number[]; lb: number[] };
  assert.deepEqual(Object.values(r.hosts).sort(), ['node1', 'node1', 'node2', 'node2'], 'two engines on each node');
  assert.deepEqual(r.seed, Array.from({ length: 15 }, (_, x) => x ** 10));
  assert.ok(r.pulledOk, '100 MB came back intact from node1 and node2');
  assert.deepEqual(r.remoteLen, [(100 * 1024 * 1024) / 8, (100 * 1024 * 1024) / 8]);
  assert.deepEqual(r.lb, Array.from({ length: 40 }, (_, x) => x * 2));
  t.diagnostic(`push+pull 100 MB to one engine on node1 and one on node2: ${r.pushPullMs} ms`);

  // Ctrl-C to tscluster on head (by its pid there): both jobs are cancelled, nothing is left anywhere.
  const runnerPids = simPids(simDir);
  await start.interrupt(60_000);
  const states = simJobs(simDir).map((j) => j.state);
  assert.deepEqual(states, ['Canceled', 'Canceled'], `both jobs cancelled: ${JSON.stringify(states)}`);
  await waitUntil(() => Object.keys(pidsOnAllHosts('tscontroller|tsengine|tscluster')).length === 0, 15_000, 'no controller, engine or tscluster left on any host');
  assert.deepEqual(await survivors(runnerPids, 10_000), [], 'no runner or task left on the machine');
});
