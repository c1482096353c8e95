/**
 * The CURVE capture test (test/e2e/capture.test.ts) between rig hosts: a controller on node1, two engines on node2,
 * a client on head running tasks through every route (load-balanced, direct through the controller, straight to an
 * engine's direct endpoint). tcpdump on the rig's bridge sees every packet between the hosts (bounded: a filter on
 * the rig's /24, a packet count and a time limit). With CURVE off the function source and the argument are on the
 * wire in plain text (so the test can fail); with CURVE on neither is, nor even a message type.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { distEntry, repoRoot, waitUntil } from '../support/cluster.js';
import { captureSkipReason, startCapture } from '../support/capture.js';
import { collect, hostIp, pidsOnAllHosts, requireRig, RIG_SHARED, runOnHost, stopRigProcesses, subnet } from '../support/rig.js';

const FN_MARKER = 'tsparallel-rigcap-fn-41c7';
const ARG_MARKER = 'tsparallel-rigcap-arg-8e02';

/** On head: run tasks carrying both markers over every route; print OK and the engines' hosts. */
const CLIENT = `
const { Client } = await import(process.argv[2]);
const file = process.argv[1];
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(3); }, 60000);
const client = await Client.connect({ connectionFile: file, timeoutMs: 10000 });
await client.waitForEngines(2, { timeoutMs: 30000 });
const via = await Client.connect({ connectionFile: file, timeoutMs: 10000, direct: false });
const task = (s) => s.length + '${FN_MARKER}'.length;
const expected = '${ARG_MARKER}'.length + '${FN_MARKER}'.length;
const [a, b] = client.ids;
const got = [
  ...(await client.loadBalancedView().map(task, ['${ARG_MARKER}', '${ARG_MARKER}'])),
  await client.view(a).apply(task, '${ARG_MARKER}'),
  await via.view(b).apply(task, '${ARG_MARKER}'),
];
console.log('hosts ' + JSON.stringify([...client.engines.values()].map((e) => e.hostname)));
console.log(got.every((x) => x === expected) ? 'OK' : 'WRONG ' + JSON.stringify(got));
clearTimeout(timer);
await via.close();
await client.close();
process.exit(0);
`;

const skip = requireRig('hosts') || captureSkipReason();
after(stopRigProcesses);

async function captureAcrossHosts(curve: boolean, dir: string): Promise<Buffer> {
  const cli = (name: string) => path.join(repoRoot(), 'dist', 'src', 'cli', name);
  const controller = runOnHost('node1', process.execPath, [cli('tscontroller.js'), '--profile-dir', dir, '--ip', hostIp('node1'), '--curve', String(curve)]);
  let out = '';
  controller.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitUntil(() => /controller ready/.test(out) || controller.exitCode !== null, 30_000, 'controller on node1 ready');
  const security = path.join(dir, 'security');
  const files = await readdir(security);
  const clientFile = path.join(security, files.find((f) => f.endsWith('client.json'))!);
  const engineFile = path.join(security, files.find((f) => f.endsWith('engine.json'))!);
  // On the machine's side of the bridge every packet between the hosts passes; only the rig's /24, bounded.
  const capture = await startCapture({ iface: process.env.TSP_RIG_BRIDGE ?? 'tsprig0' }, [], dir, { name: curve ? 'curve-on' : 'curve-off', filter: `tcp and net ${subnet()}`, maxPackets: 20_000, maxSeconds: 60 });
  for (let i = 0; i < 2; i++) runOnHost('node2', process.execPath, [cli('tsengine.js'), '--connection-file', engineFile]);
  const r = await collect(runOnHost('head', process.execPath, ['--input-type=module', '-e', CLIENT, clientFile, distEntry()]));
  const bytes = await capture.stop();
  assert.match(r.stdout, /^OK$/m, `client on head: ${r.stdout}\n${r.stderr.slice(-1000)}`);
  assert.match(r.stdout, /hosts \["node2","node2"\]/);
  await stopRigProcesses();
  await waitUntil(() => Object.keys(pidsOnAllHosts('tscontroller|tsengine')).length === 0, 15_000, 'nothing left on any host');
  return bytes;
}

test('between rig hosts, with CURVE off the function source and arguments cross the bridge in plain text (so the test can fail)', { skip, timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(RIG_SHARED, 'rig-capture-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bytes = await captureAcrossHosts(false, dir);
  assert.ok(bytes.includes(FN_MARKER), 'the function source was captured on the bridge');
  assert.ok(bytes.includes(ARG_MARKER), 'the argument was captured on the bridge');
});

test('between rig hosts, with CURVE on neither crosses the bridge', { skip, timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(path.join(RIG_SHARED, 'rig-capture-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bytes = await captureAcrossHosts(true, dir);
  assert.ok(bytes.length > 4096, `the capture holds the cluster's traffic (${bytes.length} bytes)`);
  assert.ok(!bytes.includes(FN_MARKER), 'no function source on the wire');
  assert.ok(!bytes.includes(ARG_MARKER), 'no argument on the wire');
  assert.ok(!bytes.includes(Buffer.from('apply_request')), 'not even the message types');
});
