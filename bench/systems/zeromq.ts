/**
 * The transport floor: raw ZeroMQ (zeromq@6) DEALER → ROUTER round trips on loopback between this process and N
 * node processes running bench/workers/zmq-echo. No protocol, no signing, no serialization beyond raw buffers: what
 * any system built on ZeroMQ in Node pays at least. No load balancer either: "W3" sends the tasks round-robin.
 * `zeromq-curve` is the same with every socket encrypted by CURVE: the floor of the cost of safety (W2, W3, W5).
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { curveKeyPair, Dealer } from 'zeromq';
import { BenchError } from '../lib/checks.js';
import { siblingModule } from '../lib/paths.js';
import { SAFETY_WORKLOADS_ONLY, type EngineSession, type EngineSystem } from '../lib/types.js';

const SERVER_FILE = siblingModule(import.meta.url, '../workers/zmq-echo');
const SERVER_START_TIMEOUT_MS = 30_000;

/** One DEALER connected to one echo server: requests are answered in order, so replies resolve a FIFO of waiters. */
class EchoClient {
  readonly #dealer: Dealer;
  readonly #waiting: { resolve(frames: Buffer[]): void; reject(e: unknown): void }[] = [];
  #sending: Promise<void> = Promise.resolve();

  /** @param serverKey the server's CURVE public key, to encrypt (none: plain). */
  constructor(endpoint: string, serverKey?: string) {
    const own = serverKey ? curveKeyPair() : undefined;
    this.#dealer = new Dealer({ linger: 0, ...(own && { curveServerKey: serverKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey }) });
    this.#dealer.connect(endpoint);
    void this.#readLoop();
  }

  async #readLoop(): Promise<void> {
    try {
      for await (const frames of this.#dealer) this.#waiting.shift()?.resolve(frames);
    } catch (error) {
      for (const w of this.#waiting.splice(0)) w.reject(error);
    }
  }

  /** Send one request and resolve with its reply frames. Sends are serialized: zeromq allows one send at a time. */
  request(frames: (string | Buffer)[]): Promise<Buffer[]> {
    const reply = new Promise<Buffer[]>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#sending = this.#sending.then(() => this.#dealer.send(frames));
    return this.#sending.then(() => reply);
  }

  close(): void {
    this.#dealer.close();
  }
}

function float64From(frame: Buffer): Float64Array {
  if (frame.byteOffset % 8 === 0) return new Float64Array(frame.buffer, frame.byteOffset, frame.byteLength / 8);
  return new Float64Array(new Uint8Array(frame).buffer);
}

function bytesOf(data: Float64Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

async function startServer(signal: AbortSignal, keys?: { publicKey: string; secretKey: string }): Promise<{ child: ChildProcess; endpoint: string }> {
  const env = keys ? { ...process.env, TSP_BENCH_CURVE_SECRET: keys.secretKey, TSP_BENCH_CURVE_PUBLIC: keys.publicKey } : process.env;
  const child = spawn(process.execPath, [...process.execArgv, SERVER_FILE], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout! });
  const timeout = AbortSignal.any([signal, AbortSignal.timeout(SERVER_START_TIMEOUT_MS)]);
  try {
    const [endpoint] = (await once(lines, 'line', { signal: timeout })) as [string];
    return { child, endpoint };
  } catch (error) {
    child.kill('SIGKILL');
    throw new BenchError(`the ZeroMQ echo server ${SERVER_FILE} printed no endpoint (pid ${child.pid})`, { cause: error });
  }
}

/** N echo-server processes, one DEALER per server; every socket a CURVE one when `curve`. */
function makeZeromqSystem(name: string, curve: boolean): EngineSystem {
  return {
    name,
    ...(curve && { unsupported: SAFETY_WORKLOADS_ONLY }),
    async unavailableReason() {
      return undefined;
    },
    async start(engines, plan) {
      const keys = curve ? curveKeyPair() : undefined;
      const servers: { child: ChildProcess; endpoint: string }[] = [];
      const clients: EchoClient[] = [];
      let stopped = false;
      const stop = async () => {
        if (stopped) return;
        stopped = true;
        for (const c of clients) c.close();
        await Promise.all(
          servers.map(async ({ child }) => {
            if (child.exitCode !== null || child.signalCode !== null) return;
            const exited = once(child, 'exit');
            child.kill('SIGTERM');
            const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
            await exited;
            clearTimeout(timer);
          }),
        );
      };
      try {
        servers.push(...(await Promise.all(Array.from({ length: engines }, () => startServer(plan.signal, keys)))));
        clients.push(...servers.map((s) => new EchoClient(s.endpoint, keys?.publicKey)));
        await Promise.all(clients.map((c) => c.request(['e'])));
      } catch (error) {
        await stop();
        throw error;
      }
      const session: EngineSession = {
        engineCount: engines,
        callNoop: async () => {
          await clients[0]!.request(['e']);
          return null;
        },
        async balancedNoops(count) {
          await Promise.all(Array.from({ length: count }, (_, i) => clients[i % engines]!.request(['e'])));
          return new Array<null>(count).fill(null);
        },
        async mapPow10(length) {
          const xs = Float64Array.from({ length }, (_, i) => i);
          const bounds = Array.from({ length: engines + 1 }, (_, p) => Math.floor((p * length) / engines));
          const parts = await Promise.all(
            clients.map((c, p) => c.request(['m', bytesOf(xs.subarray(bounds[p], bounds[p + 1]))])),
          );
          const out = new Float64Array(length);
          parts.forEach(([frame], p) => out.set(float64From(frame!), bounds[p]));
          return out;
        },
        async push(name, data) {
          await Promise.all(clients.map((c) => c.request(['s', name, bytesOf(data)])));
        },
        async pull(name) {
          return (await Promise.all(clients.map((c) => c.request(['f', name])))).map(([frame]) => float64From(frame!));
        },
        async scatter(name, data) {
          const bounds = Array.from({ length: engines + 1 }, (_, p) => Math.floor((p * data.length) / engines));
          await Promise.all(clients.map((c, p) => c.request(['s', name, bytesOf(data.subarray(bounds[p], bounds[p + 1]))])));
        },
        async gather(name) {
          const parts = (await Promise.all(clients.map((c) => c.request(['f', name])))).map(([f]) => float64From(f!));
          const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
          let offset = 0;
          for (const p of parts) {
            out.set(p, offset);
            offset += p.length;
          }
          return out;
        },
        stop,
      };
      return session;
    },
  };
}

/** The transport floor. */
export const zeromqSystem: EngineSystem = makeZeromqSystem('zeromq', false);

/** The transport floor with CURVE on every socket: what encryption costs ZeroMQ itself. */
export const zeromqCurveSystem: EngineSystem = makeZeromqSystem('zeromq-curve', true);
