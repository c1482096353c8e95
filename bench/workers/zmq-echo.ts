/**
 * One "engine" of the raw ZeroMQ floor: a ROUTER socket on loopback that answers each request with the least work a
 * real engine could do. It prints its endpoint on stdout, then serves until stdin closes or it gets SIGTERM (whose
 * default action, ending the process at once, is what the bench wants).
 *
 * Requests are `[op, ...frames]`: `e` echo nothing (a no-op call), `m` the seed's `x ** 10` over a Float64Array,
 * `s name buffer` store a buffer, `f name` fetch it back.
 * @module
 */
import { Router } from 'zeromq';

// With TSP_BENCH_CURVE_SECRET/PUBLIC (the zeromq-curve floor), a CURVE server holding that key pair.
const secret = process.env.TSP_BENCH_CURVE_SECRET;
const router = new Router({ linger: 0, ...(secret && { curveServer: true, curveSecretKey: secret, curvePublicKey: process.env.TSP_BENCH_CURVE_PUBLIC }) });
await router.bind('tcp://127.0.0.1:*');
process.stdout.write(`${router.lastEndpoint}\n`);

const stored = new Map<string, Buffer>();
process.stdin.on('end', () => process.exit(0)).resume();

function float64View(frame: Buffer): Float64Array {
  // A received frame may start at any offset; a Float64Array view needs 8-byte alignment, else copy.
  if (frame.byteOffset % 8 === 0) return new Float64Array(frame.buffer, frame.byteOffset, frame.byteLength / 8);
  return new Float64Array(new Uint8Array(frame).buffer);
}

for await (const [identity, op, ...rest] of router) {
  switch (op!.toString()) {
    case 'e':
      await router.send([identity!, '']);
      break;
    case 'm': {
      const xs = float64View(rest[0]!);
      const out = new Float64Array(xs.length);
      for (let i = 0; i < xs.length; i++) out[i] = xs[i]! ** 10;
      await router.send([identity!, Buffer.from(out.buffer)]);
      break;
    }
    case 's':
      stored.set(rest[0]!.toString(), rest[1]!);
      await router.send([identity!, '']);
      break;
    case 'f':
      await router.send([identity!, stored.get(rest[0]!.toString()) ?? Buffer.alloc(0)]);
      break;
    default:
      await router.send([identity!, 'unknown op']);
  }
}
