/**
 * `npm run bench`: run tsparallel's workloads and the same workloads on the peers (ipyparallel, Dask, piscina,
 * workerpool, raw ZeroMQ) in one run, then print a table of medians with ours/peer ratios, or with `--json` one JSON
 * object per line. Progress goes to stderr. Exit status 1 when a workload failed or a process leaked, 2 on bad flags.
 *
 * Run it compiled: `npm run -s build && node --expose-gc dist/bench/run.js [flags]` (see bench/README.md).
 * @module
 */
import { availableParallelism, loadavg } from 'node:os';
import { runBench } from './lib/bench.js';
import { recordRun } from './lib/history.js';
import { parseBenchArgs } from './lib/options.js';
import { profileIntervalUs, startProfiling } from './lib/profile.js';
import { describeSizes, jsonLines, notes, table, targetChecks, targetLines } from './lib/report.js';

async function main(): Promise<number> {
  let options;
  try {
    options = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const interrupt = new AbortController();
  process.once('SIGINT', () => interrupt.abort(new Error('interrupted (SIGINT)')));
  process.once('SIGTERM', () => interrupt.abort(new Error('terminated (SIGTERM)')));

  // The load average shows whether something else shared the CPUs during the run (on 2 cores it matters).
  const load = () => loadavg()[0]!.toFixed(2);
  const loadBefore = load();
  const profiling = options.profile ? await startProfiling(profileIntervalUs(options.profile)) : undefined;
  if (profiling) console.error(`profiling ${options.profile} on tsparallel: CPU profiles go to ${profiling.dir}`);
  const results = await runBench(options, (line) => console.error(line), interrupt.signal);
  if (profiling) {
    console.log(`CPU profiles of ${options.profile} (client, controller, engines) in ${profiling.dir}:`);
    for (const line of await profiling.finish()) console.log(line);
  }
  const header =
    `tsparallel bench · ${availableParallelism()} cores · node ${process.version} · runs ${options.runs} · ` +
    `load (1 min) ${loadBefore} before, ${load()} after · ${describeSizes(options.sizes)}`;
  console.error(header);

  if (options.json) {
    for (const line of jsonLines(results)) console.log(line);
    for (const line of [...notes(results), ...targetLines(targetChecks(results))]) console.error(line);
  } else {
    console.log(header);
    console.log(table(results, options.systems));
    const lines = notes(results);
    if (lines.length > 0) console.log(`\n${lines.join('\n')}`);
    const targets = targetLines(targetChecks(results));
    if (targets.length > 0) console.log(`\ntargets of issues 6 and 16 (ratios of this run's medians):\n${targets.join('\n')}`);
  }
  if (options.record) {
    const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.replace(/ -- $/, '');
    const file = await recordRun({ command, header, table: table(results, options.systems), notes: notes(results), targets: targetLines(targetChecks(results)) });
    console.error(`recorded in ${file}`);
  }
  return results.failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
