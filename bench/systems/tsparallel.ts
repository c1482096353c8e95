/**
 * Our system, driven only through the public API (`src/index.ts`), the way a user's program would: `createCluster`
 * with local engine processes over ZeroMQ on 127.0.0.1, `cluster.connect()`, a single-engine view for W2, the
 * all-engines view for W4/W5, and the load-balanced view for W3/W6. `tsparallel-curve` is the same with
 * `security.curve: true` (every socket encrypted), for the cost of safety (W2, W3, W5 only). W8 adds engines to a
 * running cluster with `tsengine --count K` processes (several engines per process, for this workload only).
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createCluster, range, type ClusterOptions } from '../../src/index.js';
import { BenchError } from '../lib/checks.js';
import { SAFETY_WORKLOADS_ONLY, type EngineSession, type EngineSystem, type RunPlan, type ScaleSession } from '../lib/types.js';

/** Engines on this 2-core machine start slowly when there are 16 of them: give them more than the default minute. */
const ENGINE_START_TIMEOUT_MS = 300_000;
/** W8: how long 1,000 engines may take to register before the workload fails (the target is 10 s). */
const SCALE_REGISTER_TIMEOUT_MS = 120_000;

async function startCluster(engines: number, plan: RunPlan, extra: ClusterOptions = {}) {
  const profileDir = await mkdtemp(path.join(plan.tmpDir, 'tsparallel-'));
  return createCluster({
    n: engines,
    profileDir,
    projectDir: null,
    ...extra,
    engines: { startTimeoutMs: ENGINE_START_TIMEOUT_MS, ...extra.engines },
  });
}

function makeSystem(name: string, extra: ClusterOptions, unsupported?: EngineSystem['unsupported']): EngineSystem {
  return {
    name,
    unsupported,
    async unavailableReason() {
      return undefined;
    },
    async start(engines, plan) {
      const cluster = await startCluster(engines, plan, extra);
      try {
        const client = await cluster.connect();
        await client.waitForEngines(engines, { timeoutMs: ENGINE_START_TIMEOUT_MS });
        const one = client.view(client.ids[0]!);
        const all = client.view();
        const balanced = client.loadBalancedView();
        const session: EngineSession = {
          engineCount: client.ids.length,
          callNoop: () => one.apply(() => null),
          balancedNoops: (count) => balanced.map((_x: number) => null, range(count), { chunksize: 1 }),
          mapPow10: (length) => all.map((x: number) => x ** 10, range(length)),
          async push(name, data) {
            await all.push({ [name]: data });
          },
          pull: (name) => all.pull<Float64Array>(name),
          async scatter(name, data) {
            await all.scatter(name, data);
          },
          gather: (name) => all.gather<Float64Array>(name),
          async stop() {
            // Closes the clients too; harmless when called twice.
            await cluster.stop();
          },
        };
        return session;
      } catch (error) {
        await cluster.stop();
        throw error;
      }
    },
  };
}

/** The compiled (or, from source, the TypeScript) `tsengine` command, as the cluster's own launcher runs it. */
function tsengineCommand(): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`../../src/cli/tsengine.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return fromSource ? [process.execPath, '--import', import.meta.resolve('tsx'), script] : [process.execPath, script];
}

function rssBytes(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

/** Wait for `child` to exit, at most `ms`; then SIGKILL it. */
async function reap(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

/** W8: a cluster of one engine, then `engines` more from `tsengine --count K` processes. */
async function startScale(engines: number, plan: RunPlan): Promise<ScaleSession> {
  const cluster = await startCluster(1, plan);
  const children: ChildProcess[] = [];
  const failures: string[] = [];
  const stop = async () => {
    await cluster.stop();
    // The controller's shutdown stops every engine it knows; a process whose engines never registered is told here.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.all(children.map((c) => reap(c, 15_000)));
  };
  try {
    const client = await cluster.connect({ direct: false });
    await client.waitForEngines(1, { timeoutMs: ENGINE_START_TIMEOUT_MS });
    const [node, ...args] = tsengineCommand();
    const t0 = performance.now();
    for (let left = engines; left > 0; left -= plan.sizes.w8PerProcess) {
      const count = Math.min(left, plan.sizes.w8PerProcess);
      const child = spawn(node!, [...args, '--connection-file', cluster.engineConnectionFile, '--count', String(count)], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr = (stderr + chunk).slice(-2000)));
      child.once('exit', (code, signal) => {
        if (code !== 0) failures.push(`tsengine --count ${count} (pid ${child.pid}) exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
      });
      children.push(child);
    }
    const abort = new AbortController();
    const watch = setInterval(() => failures.length > 0 && abort.abort(new BenchError(`W8: an engine process failed: ${failures[0]}`)), 100);
    try {
      await client.waitForEngines(engines + 1, { timeoutMs: SCALE_REGISTER_TIMEOUT_MS, signal: abort.signal });
    } finally {
      clearInterval(watch);
    }
    if (failures.length > 0) throw new BenchError(`W8: ${failures.length} engine process(es) failed: ${failures.join('; ')}`);
    const registerMs = performance.now() - t0;
    const all = client.view();
    const balanced = client.loadBalancedView();
    // The cluster lists the controller's pid first.
    const controllerPid = cluster.pids[0];
    return {
      engineCount: client.ids.length,
      registerMs,
      broadcastNoop: () => all.apply(() => null),
      balancedNoops: (count) => balanced.map((_x: number) => null, range(count), { chunksize: 1 }),
      controllerRssBytes: () => (controllerPid === undefined ? undefined : rssBytes(controllerPid)),
      async loseProcess() {
        // The heartbeat timeout (10 s) is far off: only the controller's look at local processes sees this sooner.
        const before = client.ids.length;
        const lost = Math.min(plan.sizes.w8PerProcess, engines);
        const t0 = performance.now();
        children[0]!.kill('SIGKILL');
        while (client.ids.length > before - lost) {
          if (performance.now() - t0 > SCALE_REGISTER_TIMEOUT_MS) throw new BenchError(`W8: ${client.ids.length - (before - lost)} of ${lost} engines of the killed process still registered`);
          await new Promise((r) => setTimeout(r, 2));
        }
        return { engines: before - client.ids.length, ms: performance.now() - t0 };
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** tsparallel: a controller and N engine processes started by `createCluster`. */
export const tsparallelSystem: EngineSystem = { ...makeSystem('tsparallel', {}), startScale };

/** tsparallel with every socket encrypted (`security.curve: true`): the cost of safety, on W2, W3 and W5. */
export const tsparallelCurveSystem: EngineSystem = makeSystem(
  'tsparallel-curve',
  { security: { curve: true } },
  SAFETY_WORKLOADS_ONLY,
);
