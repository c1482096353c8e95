/**
 * A listener that probes its connections (`ListenOptions.probe`, ZMTP heartbeats) against a heart in another real
 * process: while the peer's main thread is blocked, libzmq's I/O thread still answers the probes, so the connection
 * stays open and every ping is routed (the echoes come once the thread is free); while the peer is stopped (SIGSTOP),
 * its whole process is, the connection is closed within the probe timeout, and pings are reported unroutable; once
 * it continues, it reconnects and echoes again. This is what lets the controller tell a busy engine from a dead one
 * without a thread of the engine's own.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import { isAlive, repoRoot, tempDir, waitUntil } from '../support/cluster.js';

const TRANSPORT = pathToFileURL(path.join(repoRoot(), 'dist', 'src', 'transport', 'zeromq.js')).href;
const probe = { everyMs: 100, timeoutMs: 400 };
const transport = new ZeroMqTransport();

/**
 * A process whose heart dials `argv[2]` as `argv[3]`, and that blocks its main thread for N ms on each line `spin N`
 * of its stdin (it says `spun` on stdout after each).
 */
const HEART_PEER = `
const { ZeroMqTransport } = await import(${JSON.stringify(TRANSPORT)});
const heart = await new ZeroMqTransport().startHeart(process.argv[2], { identity: process.argv[3] });
await heart.ready;
process.stdin.setEncoding('utf8').on('data', (text) => {
  for (const line of text.split('\\n')) {
    const ms = Number(line.match(/^spin (\\d+)$/)?.[1] ?? NaN);
    if (!Number.isFinite(ms)) continue;
    const end = Date.now() + ms;
    while (Date.now() < end);
    process.stdout.write('spun\\n');
  }
});
`;

let tmp: Awaited<ReturnType<typeof tempDir>>;
const children: ChildProcess[] = [];
before(async () => {
  tmp = await tempDir('tsparallel-probe-');
  await writeFile(path.join(tmp.dir, 'heart-peer.mjs'), HEART_PEER);
});
after(async () => {
  for (const child of children) if (child.pid && isAlive(child.pid)) child.kill('SIGKILL');
  await tmp?.remove();
});

/** A probing listener pinging one heart peer process every 50 ms, counting echoes and unroutable pings. */
async function probedPeer(identity: string) {
  const listener = await transport.listen('tcp://127.0.0.1:0', { heartbeatsOnly: true, probe });
  let echoes = 0;
  let unroutable = 0;
  listener.setMessageHandler(() => echoes++);
  listener.setUnroutableHandler(() => unroutable++);
  const child = spawn(process.execPath, [path.join(tmp.dir, 'heart-peer.mjs'), listener.address, identity], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  let spun = 0;
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (spun += d.split('spun').length - 1));
  const timer = setInterval(() => listener.send(Buffer.from(identity), [Buffer.from('ping')]), 50);
  await waitUntil(() => echoes > 0, 10_000, 'the heart peer echoes a ping');
  return {
    listener,
    child,
    echoes: () => echoes,
    unroutable: () => unroutable,
    spun: () => spun,
    async close() {
      clearInterval(timer);
      if (child.pid && isAlive(child.pid)) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
      await listener.close();
    },
  };
}

describe('the ZeroMQ transport: probed connections', () => {
  it('a listener says how recent a routed message proves its peer to be; one that does not probe says nothing', async () => {
    const probing = await transport.listen('tcp://127.0.0.1:0', { probe });
    const plain = await transport.listen('tcp://127.0.0.1:0');
    try {
      assert.equal(probing.probeTimeoutMs, probe.timeoutMs + probe.everyMs);
      assert.equal(plain.probeTimeoutMs, undefined);
    } finally {
      await probing.close();
      await plain.close();
    }
  });

  it('a peer whose main thread is blocked for 10 × the probe timeout keeps its connection: no ping unroutable, echoes after', { timeout: 60_000 }, async () => {
    const peer = await probedPeer('blocked-peer');
    try {
      const echoesBefore = peer.echoes();
      const unroutableBefore = peer.unroutable();
      peer.child.stdin!.write('spin 4000\n');
      // Its echoes stop while it spins: the thread that answers pings is blocked.
      await new Promise((r) => setTimeout(r, 1000));
      const echoesDuring = peer.echoes();
      await waitUntil(() => peer.spun() === 1, 20_000, 'the peer finishes its 4 s spin');
      assert.ok(echoesDuring - echoesBefore <= 2, `no echoes while blocked (${echoesDuring - echoesBefore})`);
      assert.equal(peer.unroutable() - unroutableBefore, 0, 'every ping went into the open connection');
      // The pings that waited are echoed now (about 80 of them).
      await waitUntil(() => peer.echoes() - echoesDuring >= 40, 5000, 'the waiting pings are echoed');
    } finally {
      await peer.close();
    }
  });

  it('a stopped peer (SIGSTOP) has its connection closed: pings are unroutable; continued, it echoes again', { timeout: 60_000 }, async () => {
    const peer = await probedPeer('stopped-peer');
    try {
      const stoppedAt = Date.now();
      peer.child.kill('SIGSTOP');
      await waitUntil(() => peer.unroutable() > 0, 10_000, 'a ping to the stopped peer is unroutable');
      const closedMs = Date.now() - stoppedAt;
      // Closed within the probe timeout plus an interval, and a ping's interval and scheduling slack to see it.
      assert.ok(closedMs <= probe.timeoutMs + probe.everyMs + 1500, `connection closed ${closedMs} ms after the stop`);
      peer.child.kill('SIGCONT');
      const echoes = peer.echoes();
      await waitUntil(() => peer.echoes() > echoes + 5, 10_000, 'the continued peer reconnects and echoes again');
    } finally {
      await peer.close();
    }
  });
});
