/**
 * The cost of wire security, CURVE off against CURVE on (every frame signed, buffers included, in both):
 * W2-style round trips (sequential no-op calls on engine 0), a 100 MB push to one engine (straight to its direct
 * endpoint, and through the controller), and the signing cost alone (sign + verify of a message with a 100 MB buffer).
 * A small standalone script until the bench reports the cost of safety (a later issue); figures go in
 * bench/SECURITY.md.
 *
 * Run it compiled: `npm run -s build && node dist/bench/security-cost.js [--calls N] [--pushes N]`.
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createCluster } from '../src/index.js';
import { Channels, Session } from '../src/wire/protocol.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '1000' }, pushes: { type: 'string', default: '5' } } });
const CALLS = Number(values.calls);
const PUSHES = Number(values.pushes);
const MB = 100;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.99) - 1]!;

async function measure(curve: boolean) {
  const dir = await mkdtemp(path.join(tmpdir(), 'tsparallel-security-cost-'));
  const cluster = await createCluster({ n: 1, profileDir: dir, projectDir: null, security: { curve } });
  try {
    const client = await cluster.connect();
    const routed = await cluster.connect({ direct: false });
    const view = client.view(0);
    for (let i = 0; i < 10; i++) await view.apply(() => null);
    const callUs: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = process.hrtime.bigint();
      await view.apply(() => null);
      callUs.push(Number(process.hrtime.bigint() - t0) / 1e3);
    }
    const data = new Uint8Array(MB * 1e6).fill(7);
    const push = async (c: typeof client) => {
      const ms: number[] = [];
      for (let i = 0; i < PUSHES; i++) {
        const t0 = process.hrtime.bigint();
        await c.view(0).push({ data });
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
      }
      return ms;
    };
    const direct = await push(client);
    const viaController = await push(routed);
    await routed.close();
    return { curve, callMedianUs: median(callUs), callP99Us: p99(callUs), pushDirectMs: median(direct), pushViaControllerMs: median(viaController) };
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

function signingCost() {
  const sender = new Session('k'.repeat(64));
  const receiver = new Session('k'.repeat(64));
  const buffer = Buffer.alloc(MB * 1e6, 7);
  const ms: { sign: number; verify: number }[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = process.hrtime.bigint();
    const frames = sender.encode(sender.message('apply_request', {}, { buffers: [buffer] }), Channels.clientToCluster);
    const t1 = process.hrtime.bigint();
    if (!receiver.decode(frames, [Channels.clientToCluster])) throw new Error('the signed message did not verify');
    const t2 = process.hrtime.bigint();
    ms.push({ sign: Number(t1 - t0) / 1e6, verify: Number(t2 - t1) / 1e6 });
  }
  return { signMs: median(ms.map((m) => m.sign)), verifyMs: median(ms.map((m) => m.verify)) };
}

const sign = signingCost();
console.log(`Session signature of a message with a ${MB} MB buffer (its Poly1305 tag in the HMAC, src/wire/protocol.ts): sign ${sign.signMs.toFixed(1)} ms, verify ${sign.verifyMs.toFixed(1)} ms (${(MB / (sign.signMs / 1e3)).toFixed(0)} MB/s)`);
console.log(`load average before: ${loadavg()[0]!.toFixed(2)}; ${CALLS} calls, ${PUSHES} pushes of ${MB} MB per setting (medians)`);
console.log('| curve | call median µs | call p99 µs | push 100 MB direct ms | push 100 MB via controller ms |');
console.log('| --- | --- | --- | --- | --- |');
for (const curve of [false, true]) {
  const r = await measure(curve);
  console.log(`| ${r.curve ? 'on' : 'off'} | ${r.callMedianUs.toFixed(0)} | ${r.callP99Us.toFixed(0)} | ${r.pushDirectMs.toFixed(0)} | ${r.pushViaControllerMs.toFixed(0)} |`);
}
console.log(`load average after: ${loadavg()[0]!.toFixed(2)}`);
