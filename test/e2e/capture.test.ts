/**
 * What an eavesdropper reads: a task's function source and arguments cross the wire in plain text without CURVE, and
 * not at all with it. The cluster's traffic is captured with tcpdump (bounded by a port filter, a packet count and a
 * time limit) while it runs tasks through every route: load-balanced through the controller, direct through the
 * controller, and straight to an engine's direct endpoint. Over loopback here; the capture site and the cluster are
 * parameters, so the same scenario can run between two rig hosts.
 */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Client, range } from '../../src/index.js';
import { startTestCluster, tempDir, type TestCluster } from '../support/cluster.js';
import { captureSkipReason, LOOPBACK_SITE, portOf, startCapture, type CaptureSite } from '../support/capture.js';

const FN_MARKER = 'tsparallel-capture-fn-5d1e';
const ARG_MARKER = 'tsparallel-capture-arg-93b7';

/** Starts the cluster under test: here, local processes; on the rig, a controller and engines on two hosts. */
type StartCluster = (curve: boolean) => Promise<TestCluster>;

const localCluster: StartCluster = (curve) => startTestCluster(2, { security: { curve } });

/** Run tasks carrying both markers over every route of a cluster whose traffic `site` captures; return the capture. */
async function captureTasks(site: CaptureSite, curve: boolean, workDir: string, start: StartCluster = localCluster) {
  const t = await start(curve);
  try {
    const { cluster, client } = t;
    const viaController = await cluster.connect({ direct: false });
    try {
      const ports = [client.info.address, ...[...client.engines.values()].map((e) => e.direct!)].map(portOf);
      const engineInfo = JSON.parse(readFileSync(cluster.engineConnectionFile, 'utf8')) as { address: string; heartbeatAddress: string };
      ports.push(portOf(engineInfo.address), portOf(engineInfo.heartbeatAddress));
      const capture = await startCapture(site, ports, workDir, { name: curve ? 'curve-on' : 'curve-off', maxPackets: 20_000, maxSeconds: 60 });
      // The marker is in the function's source; the argument is a string argument (serialized, in the buffers).
      const task = (s: string) => s.length + 'tsparallel-capture-fn-5d1e'.length;
      const expected = ARG_MARKER.length + FN_MARKER.length;
      assert.deepEqual(await client.loadBalancedView().map(task, [ARG_MARKER, ARG_MARKER]), [expected, expected]);
      assert.equal(await client.view(0).apply(task, ARG_MARKER), expected);
      assert.equal(await viaController.view(1).apply(task, ARG_MARKER), expected);
      const bytes = await capture.stop();
      return { bytes, info: client.info };
    } finally {
      await viaController.close();
    }
  } finally {
    await t.stop();
  }
}

const skip = captureSkipReason();

describe('a capture of the wire', { skip }, () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  before(async () => (work = await tempDir('tsparallel-capture-')));
  after(() => work.remove());

  it("holds the task's function source and arguments in plain text with CURVE off (so this test can fail)", async () => {
    const { bytes } = await captureTasks(LOOPBACK_SITE, false, work.dir);
    assert.ok(bytes.includes(FN_MARKER), 'the function source was captured');
    assert.ok(bytes.includes(ARG_MARKER), 'the argument was captured');
  });

  it('holds neither with CURVE on', async () => {
    const { bytes, info } = await captureTasks(LOOPBACK_SITE, true, work.dir);
    // The capture did see the traffic (a payload-sized amount of it), it just cannot read it.
    assert.ok(bytes.length > 4096, `the capture holds the cluster's traffic (${bytes.length} bytes)`);
    assert.ok(!bytes.includes(FN_MARKER), 'no function source on the wire');
    assert.ok(!bytes.includes(ARG_MARKER), 'no argument on the wire');
    assert.ok(!bytes.includes(Buffer.from('apply_request')), 'not even the message types');
    assert.match(info.curveServerKey ?? '', /^.{40}$/);
  });
});

describe('keys on a running encrypted cluster', () => {
  it('are in 0600 connection files and on no command line of its processes', async () => {
    const t = await startTestCluster(1, { security: { curve: true } });
    try {
      const info = t.client.info;
      assert.match(info.curveServerKey ?? '', /^.{40}$/);
      for (const file of [t.cluster.clientConnectionFile, t.cluster.engineConnectionFile]) {
        assert.equal((await stat(file)).mode & 0o777, 0o600, `${file} is 0600`);
      }
      for (const pid of t.cluster.pids) {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        assert.ok(!cmdline.includes(info.key), `no HMAC key on the command line of ${pid}`);
        assert.ok(!cmdline.includes(info.curveServerKey!), `no CURVE key on the command line of ${pid}`);
      }
      assert.deepEqual(await t.client.view().map((x: number) => x + 1, range(3)), [1, 2, 3]);
      const other = await Client.connect({ connectionFile: t.cluster.clientConnectionFile, timeoutMs: 5000 });
      assert.deepEqual(other.ids, t.client.ids, 'a second client connects with the connection file alone');
      await other.close();
    } finally {
      await t.stop();
    }
  });
});
