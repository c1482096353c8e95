/**
 * One bench run: every selected system in turn, each under a time limit, with every process it started recorded and
 * checked by pid afterwards (survivors are killed and reported as failures).
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runEngineSystem } from './driver.js';
import type { BenchOptions, SystemName } from './options.js';
import { ProcessLedger, readProcess } from './procs.js';
import { Results } from './report.js';
import type { BenchSystem, EngineSystem, Reporter, RunPlan } from './types.js';
import { daskSystem, ipyparallelSystem } from '../systems/python-peers.js';
import { piscinaSystem } from '../systems/piscina.js';
import { tsparallelCurveSystem, tsparallelSystem } from '../systems/tsparallel.js';
import { workerpoolSystem } from '../systems/workerpool.js';
import { zeromqCurveSystem, zeromqSystem } from '../systems/zeromq.js';

/** Adapt a Node-side {@link EngineSystem} to the harness's {@link BenchSystem} through the shared driver. */
export function engineBench(system: EngineSystem): BenchSystem {
  return {
    name: system.name,
    unavailableReason: () => system.unavailableReason(),
    run: (plan, reporter) => runEngineSystem(system, plan, reporter),
  };
}

/** Where a run reports progress (one line per sample, skip or failure); the CLI sends these to stderr. */
export type ProgressSink = (line: string) => void;

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
  return `${error.name}: ${error.message}${cause}`;
}

/**
 * Run the selected systems' workloads and return what was measured. Never throws for a system's failure: that is a
 * note in the results. Removes its scratch directory and kills any process a system left behind.
 */
export async function runBench(options: BenchOptions, progress: ProgressSink = () => {}, signal?: AbortSignal): Promise<Results> {
  const results = new Results();
  const ledger = new ProcessLedger();
  const pythonOptions = (owner: string) => ({
    python: options.python,
    install: options.install,
    onProcesses: (processes: Parameters<ProcessLedger['add']>[1]) => ledger.add(owner, processes),
    onPythonProcess: (pid: number) => ledger.add(owner, [readProcess(pid)].filter((p) => p !== undefined)),
  });
  const factories: Record<SystemName, () => BenchSystem> = {
    tsparallel: () => engineBench(tsparallelSystem),
    'tsparallel-curve': () => engineBench(tsparallelCurveSystem),
    ipyparallel: () => ipyparallelSystem(pythonOptions('ipyparallel')),
    dask: () => daskSystem(pythonOptions('dask')),
    piscina: () => engineBench(piscinaSystem),
    workerpool: () => engineBench(workerpoolSystem),
    zeromq: () => engineBench(zeromqSystem),
    'zeromq-curve': () => engineBench(zeromqCurveSystem),
  };
  const tmpDir = await mkdtemp(path.join(tmpdir(), 'tsparallel-bench-'));
  try {
    for (const name of options.systems) {
      if (signal?.aborted) break;
      const system = factories[name]();
      const unavailable = await system.unavailableReason();
      if (unavailable) {
        results.skips.push({ system: name, workload: '*', text: unavailable });
        progress(`[${name}] skipped: ${unavailable}`);
        continue;
      }
      // Whatever runs below us already (a previous system's survivors were killed) is not this system's.
      ledger.ignoreExisting();
      const limit = AbortSignal.timeout(options.timeoutMs);
      const plan: RunPlan = {
        workloads: options.workloads,
        runs: options.runs,
        sizes: options.sizes,
        tmpDir,
        signal: signal ? AbortSignal.any([signal, limit]) : limit,
      };
      const reporter: Reporter = {
        sample(sample) {
          results.add(name, sample);
          progress(`[${name}] ${sample.workload} ${sample.metric} = ${sample.value.toFixed(2)}`);
        },
        skip(workload, reason) {
          results.skips.push({ system: name, workload, text: reason });
          progress(`[${name}] ${workload} skipped: ${reason}`);
        },
        fail(workload, error) {
          results.failures.push({ system: name, workload, text: errorText(error) });
          progress(`[${name}] ${workload} FAILED: ${errorText(error)}`);
        },
        trackDescendants(rootPid) {
          ledger.addDescendants(name, rootPid);
        },
      };
      progress(`[${name}] running ${options.workloads.join(',')} × ${options.runs}`);
      try {
        await system.run(plan, reporter);
      } catch (error) {
        reporter.fail('W1', error);
      }
      const leaked = await ledger.killSurvivors(name);
      if (leaked.length > 0) {
        const list = leaked.map((p) => `${p.pid} (${p.command.slice(0, 100)})`).join('; ');
        results.failures.push({ system: name, workload: '*', text: `left ${leaked.length} process(es) running, killed now: ${list}` });
        progress(`[${name}] LEAKED processes, killed: ${list}`);
      }
    }
  } finally {
    // Anything still alive from any system (e.g. after an interrupt) goes now.
    for (const p of await ledger.killSurvivors()) {
      results.failures.push({ system: p.owner, workload: '*', text: `process ${p.pid} (${p.command.slice(0, 100)}) survived; killed` });
    }
    await rm(tmpDir, { recursive: true, force: true });
  }
  return results;
}
