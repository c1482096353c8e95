/**
 * The one driver that runs W1–W6 on every Node-side system through its {@link EngineSession}, so the method (what is
 * timed, what is warmed up, what is checked) is the same for all of them. bench/python/driver.py mirrors it for the
 * Python peers; bench/README.md describes both.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { BenchError, checkNoops, checkPow10, checkSameArray, makePayload } from './checks.js';
import { cpuMicrosBetween, cpuSnapshot } from './cpu.js';
import { measurePeakGrowth, releaseGarbage, settledRssBytes } from './memory.js';
import { median, percentile } from './stats.js';
import type { EngineSession, EngineSystem, Reporter, RunPlan, Sizes, WorkloadId } from './types.js';

/** How long `stop()` may take before the driver gives up on it (the process ledger then kills what is left). */
const STOP_TIMEOUT_MS = 60_000;
/** Untimed calls before W2's timed ones, so first-call costs (compiling the function, JIT) are not measured. */
const W2_WARMUP_CALLS = 10;
/** Untimed tasks through the load balancer before W3/W6's timed batch. */
const W3_WARMUP_TASKS = 20;

/** Reject with the signal's reason as soon as it aborts; otherwise settle as `promise` does. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

async function stopQuietly(session: EngineSession, reporter: Reporter, workload: WorkloadId): Promise<void> {
  try {
    await untilAborted(session.stop(), AbortSignal.timeout(STOP_TIMEOUT_MS));
  } catch (error) {
    reporter.fail(workload, new BenchError(`stopping the cluster failed (leftover processes are killed at the end)`, { cause: error }));
  }
}

function msSince(t0: number): number {
  return performance.now() - t0;
}

/** Run `plan` on `system`, reporting samples, skips and failures to `reporter`. Stops every session it starts. */
export async function runEngineSystem(system: EngineSystem, plan: RunPlan, reporter: Reporter): Promise<void> {
  const { sizes, runs, signal } = plan;
  const wanted = plan.workloads.filter((w) => {
    const why = system.unsupported?.[w];
    if (why) reporter.skip(w, why);
    return !why;
  });
  const step = <T>(p: Promise<T>) => untilAborted(p, signal);

  if (wanted.includes('W1')) {
    try {
      for (let run = 0; run < runs; run++) {
        const t0 = performance.now();
        const session = await step(system.start(2, plan));
        const startMs = msSince(t0);
        reporter.trackDescendants();
        try {
          if (session.engineCount !== 2) throw new BenchError(`W1: client sees ${session.engineCount} engines, expected 2`);
        } catch (error) {
          await stopQuietly(session, reporter, 'W1');
          throw error;
        }
        const t1 = performance.now();
        await step(session.stop());
        reporter.sample({ workload: 'W1', metric: 'start_ms', value: startMs });
        reporter.sample({ workload: 'W1', metric: 'stop_ms', value: msSince(t1) });
      }
    } catch (error) {
      reporter.fail('W1', error);
    }
  }

  const middle = wanted.filter((w) => w === 'W2' || w === 'W3' || w === 'W4' || w === 'W5');
  if (middle.length > 0 && !signal.aborted) {
    let session: EngineSession | undefined;
    try {
      session = await step(system.start(2, plan));
      reporter.trackDescendants();
    } catch (error) {
      for (const w of middle) reporter.fail(w, error);
    }
    if (session) {
      try {
        for (const w of middle) {
          if (signal.aborted) break;
          try {
            for (let run = 0; run < runs; run++) await step(runMiddle(w, session, plan, reporter));
          } catch (error) {
            reporter.fail(w, error);
          }
        }
      } finally {
        await stopQuietly(session, reporter, middle[0]!);
      }
    }
  }

  if (wanted.includes('W6') && !signal.aborted) {
    try {
      for (let run = 0; run < runs; run++) {
        await step(releaseGarbage());
        const t0 = performance.now();
        const session = await step(system.start(sizes.w6Engines, plan));
        const startMs = msSince(t0);
        reporter.trackDescendants();
        try {
          if (session.engineCount !== sizes.w6Engines) {
            throw new BenchError(`W6: client sees ${session.engineCount} engines, expected ${sizes.w6Engines}`);
          }
          reporter.sample({ workload: 'W6', metric: 'start_ms', value: startMs });
          if (session.balancedNoops) {
            reporter.sample({ workload: 'W6', metric: 'tasks_per_s', value: await step(timeBalanced(session, sizes.w6Tasks, 'W6')) });
            reporter.sample({ workload: 'W6', metric: 'warm_tasks_per_s', value: await step(timeWarmBalanced(session, warmupTasks(sizes, sizes.w6Engines), sizes.w6Tasks, 'W6')) });
          } else if (run === 0) {
            reporter.skip('W6', `tasks_per_s: ${session.balancedMissingReason ?? 'no load-balanced view'}`);
          }
        } finally {
          const t1 = performance.now();
          await stopQuietly(session, reporter, 'W6');
          reporter.sample({ workload: 'W6', metric: 'stop_ms', value: msSince(t1) });
        }
      }
    } catch (error) {
      reporter.fail('W6', error);
    }
  }

  if (wanted.includes('W8') && !signal.aborted) {
    if (!system.startScale) reporter.skip('W8', 'no way to start many engines per process');
    else {
      try {
        for (let run = 0; run < runs; run++) await step(runScale(system, plan, reporter));
      } catch (error) {
        reporter.fail('W8', error);
      }
    }
  }
}

/** Broadcasts timed per W8 run (after one untimed); the sample is their median. */
const W8_BROADCASTS = 5;

/**
 * The CPU the processes below this one (a cluster's controller and engine processes) use over `ms` while no task
 * runs, in percent of one core: what heartbeats and their probes cost. Watched after a tenth as long (at most a
 * second) for the last work's leftovers: replies in flight, V8 compiling what it ran.
 */
async function idleCpuPercent(ms: number): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, Math.min(1000, ms / 10)));
  const before = cpuSnapshot();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = cpuSnapshot();
  const childrenMicros = cpuMicrosBetween(before, after) - (after.self - before.self);
  return (100 * childrenMicros) / (ms * 1000);
}

/**
 * W8: a cluster with `w8Engines` engines added (several per process), then a broadcast no-op `apply` to all of them,
 * the CPU the idle cluster uses, then W3 across them, and the controller's memory.
 */
async function runScale(system: EngineSystem, plan: RunPlan, reporter: Reporter): Promise<void> {
  const { sizes } = plan;
  await releaseGarbage();
  const session = await system.startScale!(sizes.w8Engines, plan);
  reporter.trackDescendants();
  try {
    if (session.engineCount < sizes.w8Engines) {
      throw new BenchError(`W8: client sees ${session.engineCount} engines, expected at least ${sizes.w8Engines}`);
    }
    reporter.sample({ workload: 'W8', metric: 'engines', value: session.engineCount });
    reporter.sample({ workload: 'W8', metric: 'register_ms', value: session.registerMs });
    checkNoops(await session.broadcastNoop(), session.engineCount, 'W8 broadcast warm-up');
    const broadcastMs: number[] = [];
    for (let i = 0; i < W8_BROADCASTS; i++) {
      const t0 = performance.now();
      const results = await session.broadcastNoop();
      broadcastMs.push(msSince(t0));
      checkNoops(results, session.engineCount, 'W8 broadcast');
    }
    reporter.sample({ workload: 'W8', metric: 'broadcast_ms', value: median(broadcastMs) });
    reporter.sample({ workload: 'W8', metric: 'idle_cpu_pct', value: await idleCpuPercent(sizes.w8IdleMs) });
    reporter.sample({ workload: 'W8', metric: 'tasks_per_s', value: await timeBalanced(session, sizes.w8Tasks, 'W8') });
    const rss = session.controllerRssBytes?.();
    if (rss !== undefined) reporter.sample({ workload: 'W8', metric: 'controller_rss_MB', value: rss / 1e6 });
    // The engine processes: the first engine's own and those of `w8PerProcess` engines each.
    const processes = 1 + Math.ceil(sizes.w8Engines / sizes.w8PerProcess);
    reporter.sample({ workload: 'W8', metric: 'warm_tasks_per_s', value: await timeWarmBalanced(session, warmupTasks(sizes, processes), sizes.w8Tasks, 'W8') });
    if (session.loseProcess) {
      const lost = await session.loseProcess();
      if (lost.engines < 1) throw new BenchError('W8: the killed engine process took no engine with it');
      reporter.sample({ workload: 'W8', metric: 'lose_process_ms', value: lost.ms });
    }
  } finally {
    await untilAborted(session.stop(), AbortSignal.timeout(STOP_TIMEOUT_MS)).catch((error: unknown) =>
      reporter.fail('W8', new BenchError('stopping the W8 cluster failed (leftover processes are killed at the end)', { cause: error })),
    );
  }
}

async function timeBalanced(session: Pick<EngineSession, 'balancedNoops'>, count: number, what: WorkloadId, cpu?: (microsPerTask: number) => void): Promise<number> {
  checkNoops(await session.balancedNoops!(W3_WARMUP_TASKS), W3_WARMUP_TASKS, `${what} warm-up`);
  const before = cpu ? cpuSnapshot() : undefined;
  const t0 = performance.now();
  const results = await session.balancedNoops!(count);
  const seconds = msSince(t0) / 1000;
  if (before) cpu!(cpuMicrosBetween(before, cpuSnapshot()) / count);
  checkNoops(results, count, what);
  return count / seconds;
}

/**
 * Untimed tasks before a `warm_tasks_per_s` (W6, W8): as many per engine process as each of W3's two engine processes
 * runs in one W3 map (W3's later runs, its median among them, follow such a map). A JIT warms per process, and W6's
 * and W8's processes each run a fraction of a map, so their first map (`tasks_per_s`) measures a cold cluster where
 * W3 measures a warm one.
 */
function warmupTasks(sizes: Pick<Sizes, 'w3Tasks'>, processes: number): number {
  return Math.ceil((processes * sizes.w3Tasks) / 2);
}

/** A cluster's warm pace: `warmup` untimed tasks in maps of `count`, then one timed map of `count` as W3 times its own. */
async function timeWarmBalanced(session: Pick<EngineSession, 'balancedNoops'>, warmup: number, count: number, what: WorkloadId): Promise<number> {
  for (let left = warmup; left > 0; left -= count) {
    const n = Math.min(left, count);
    checkNoops(await session.balancedNoops!(n), n, `${what} warm-up`);
  }
  return timeBalanced(session, count, what);
}

const skippedOnce = new WeakMap<EngineSession, Set<string>>();
function skipOnce(session: EngineSession, reporter: Reporter, w: WorkloadId, reason: string): void {
  const seen = skippedOnce.get(session) ?? new Set<string>();
  skippedOnce.set(session, seen);
  if (!seen.has(w)) reporter.skip(w, reason);
  seen.add(w);
}

async function runMiddle(w: WorkloadId, session: EngineSession, plan: RunPlan, reporter: Reporter): Promise<void> {
  const { sizes } = plan;
  switch (w) {
    case 'W2': {
      for (let i = 0; i < W2_WARMUP_CALLS; i++) checkNoops([await session.callNoop()], 1, 'W2 warm-up');
      const perCallUs: number[] = [];
      const results: unknown[] = [];
      for (let i = 0; i < sizes.w2Calls; i++) {
        const t0 = performance.now();
        results.push(await session.callNoop());
        perCallUs.push(msSince(t0) * 1000);
      }
      checkNoops(results, sizes.w2Calls, 'W2');
      reporter.sample({ workload: 'W2', metric: 'call_median_us', value: median(perCallUs) });
      reporter.sample({ workload: 'W2', metric: 'call_p99_us', value: percentile(perCallUs, 99) });
      return;
    }
    case 'W3': {
      if (!session.balancedNoops) return skipOnce(session, reporter, 'W3', session.balancedMissingReason ?? 'no load-balanced view');
      let cpuPerTask = NaN;
      const perSecond = await timeBalanced(session, sizes.w3Tasks, 'W3', (micros) => (cpuPerTask = micros));
      reporter.sample({ workload: 'W3', metric: 'tasks_per_s', value: perSecond });
      reporter.sample({ workload: 'W3', metric: 'cpu_us_per_task', value: cpuPerTask });
      return;
    }
    case 'W4': {
      for (const length of sizes.w4Lengths) {
        const t0 = performance.now();
        const results = await session.mapPow10(length);
        const ms = msSince(t0);
        checkPow10(results, length);
        reporter.sample({ workload: 'W4', metric: `map_${length}_ms`, value: ms });
      }
      return;
    }
    case 'W5': {
      const { push, pull, scatter, gather } = session;
      if (!push || !pull || !scatter || !gather) return skipOnce(session, reporter, 'W5', session.dataMissingReason ?? 'no push/pull');
      const payload = makePayload(sizes.w5PushBytes / 8);
      const engines = session.engineCount;
      let pushMs = 0;
      let pullMs = 0;
      let pulled: readonly ArrayLike<number>[] = [];
      const { growth, startBytes } = await measurePeakGrowth(async () => {
        const t0 = performance.now();
        await push.call(session, 'a', payload);
        pushMs = msSince(t0);
        const t1 = performance.now();
        pulled = await pull.call(session, 'a');
        pullMs = msSince(t1);
      });
      if (pulled.length !== engines) throw new BenchError(`W5: pull returned ${pulled.length} values, expected one per engine (${engines})`);
      pulled.forEach((value, i) => checkSameArray(value, payload, `W5 pull from engine ${i}`));
      pulled = [];
      const afterBytes = await settledRssBytes();
      const megabytes = (engines * sizes.w5PushBytes) / 1e6;
      reporter.sample({ workload: 'W5', metric: 'push_MBps', value: megabytes / (pushMs / 1000) });
      reporter.sample({ workload: 'W5', metric: 'pull_MBps', value: megabytes / (pullMs / 1000) });
      reporter.sample({ workload: 'W5', metric: 'peak_mem_ratio', value: growth / sizes.w5PushBytes });
      reporter.sample({ workload: 'W5', metric: 'rss_after_pull_ratio', value: afterBytes / startBytes });

      const whole = makePayload(sizes.w5ScatterLength, 1);
      const t2 = performance.now();
      await scatter.call(session, 'part', whole);
      const scatterMs = msSince(t2);
      const t3 = performance.now();
      const gathered = await gather.call(session, 'part');
      const gatherMs = msSince(t3);
      checkSameArray(gathered, whole, 'W5 gather');
      const scatterMB = (sizes.w5ScatterLength * 8) / 1e6;
      reporter.sample({ workload: 'W5', metric: 'scatter_MBps', value: scatterMB / (scatterMs / 1000) });
      reporter.sample({ workload: 'W5', metric: 'gather_MBps', value: scatterMB / (gatherMs / 1000) });
      return;
    }
    default:
      throw new BenchError(`${w} is not run on a 2-engine session`);
  }
}
