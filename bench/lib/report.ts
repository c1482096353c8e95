/**
 * Collecting samples and printing them: the table of medians with ours/peer ratio columns, or one JSON object per
 * line (`{"workload","system","metric","median","min","max","runs"}`).
 * @module
 */
import { summarize, type Summary } from './stats.js';
import { WORKLOADS, type Sample, type Sizes, type WorkloadId } from './types.js';

/** One summarized metric of one system. */
export interface ResultRow extends Summary {
  workload: WorkloadId;
  system: string;
  metric: string;
}

/** A workload a system skipped or failed, with why. */
export interface Note {
  system: string;
  workload: WorkloadId | '*';
  text: string;
}

/** Everything one bench run measured and noted. */
export class Results {
  readonly #values = new Map<string, { workload: WorkloadId; system: string; metric: string; values: number[] }>();
  /** Workloads skipped, with the reason. */
  readonly skips: Note[] = [];
  /** Workloads that failed (wrong result, crash, time limit, leaked process). */
  readonly failures: Note[] = [];

  /** Record one sample of `system`. */
  add(system: string, sample: Sample): void {
    const key = `${sample.workload}\0${sample.metric}\0${system}`;
    const entry = this.#values.get(key) ?? { workload: sample.workload, system, metric: sample.metric, values: [] };
    entry.values.push(sample.value);
    this.#values.set(key, entry);
  }

  /** Every metric of every system, summarized, in workload order then first-seen order. */
  rows(): ResultRow[] {
    const rows = [...this.#values.values()].map(({ values, ...id }) => ({ ...id, ...summarize(values) }));
    return rows.sort((a, b) => WORKLOADS.indexOf(a.workload) - WORKLOADS.indexOf(b.workload));
  }
}

/** Whether a bigger value of `metric` is better (throughputs) or worse (times, latencies, memory). */
export function higherIsBetter(metric: string): boolean {
  return metric.endsWith('_per_s') || metric.endsWith('_MBps') || metric === 'engines';
}

/** The JSON lines of `results`, one per system and metric. */
export function jsonLines(results: Results): string[] {
  return results.rows().map(({ workload, system, metric, median, min, max, runs }) => JSON.stringify({ workload, system, metric, median, min, max, runs }));
}

function formatNumber(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

function formatRatio(ours: number | undefined, peer: number | undefined): string {
  if (ours === undefined || peer === undefined || peer === 0) return '–';
  const r = ours / peer;
  return r >= 10 ? r.toFixed(1) : r >= 0.1 ? r.toFixed(2) : r.toPrecision(2);
}

/** A human-readable description of the sizes, for the table's header. */
export function describeSizes(sizes: Sizes): string {
  return [
    `W2 ${sizes.w2Calls} calls`,
    `W3 ${sizes.w3Tasks} tasks`,
    `W4 range(${sizes.w4Lengths.join('), range(')})`,
    `W5 ${sizes.w5PushBytes / 1e6} MB per engine, scatter ${sizes.w5ScatterLength.toLocaleString('en-US')} float64`,
    `W6 ${sizes.w6Engines} engines, ${sizes.w6Tasks} tasks`,
    `W8 ${sizes.w8Engines} engines (${sizes.w8PerProcess} per process), ${sizes.w8Tasks} tasks, peers ${sizes.w8PeerLimitS} s`,
  ].join('; ');
}

/**
 * The table: one row per workload and metric, one column of medians per system, then one column per peer with the
 * ratio ours / peer. `better` says which way is good, so a ratio reads at a glance (`lower`: below 1 is a win).
 */
export function table(results: Results, systems: readonly string[], ours = 'tsparallel'): string {
  const rows = results.rows();
  const metrics: { workload: WorkloadId; metric: string }[] = [];
  for (const r of rows) {
    if (!metrics.some((m) => m.workload === r.workload && m.metric === r.metric)) metrics.push({ workload: r.workload, metric: r.metric });
  }
  const medianOf = (workload: WorkloadId, metric: string, system: string) =>
    rows.find((r) => r.workload === workload && r.metric === metric && r.system === system)?.median;
  const peers = systems.filter((s) => s !== ours);
  const header = ['workload', 'metric', 'better', ...systems, ...(systems.includes(ours) ? peers.map((p) => `${ours}/${p}`) : [])];
  const body = metrics.map(({ workload, metric }) => [
    workload,
    metric,
    higherIsBetter(metric) ? 'higher' : 'lower',
    ...systems.map((s) => formatNumber(medianOf(workload, metric, s))),
    ...(systems.includes(ours) ? peers.map((p) => formatRatio(medianOf(workload, metric, ours), medianOf(workload, metric, p))) : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The skipped and failed workloads, one line each. */
export function notes(results: Results): string[] {
  return [
    ...results.skips.map((n) => `skipped  ${n.system} ${n.workload}: ${n.text}`),
    ...results.failures.map((n) => `FAILED   ${n.system} ${n.workload}: ${n.text}`),
  ];
}

/** One of issue 6's targets: a ratio measured in this run and the bound it must meet. */
export interface TargetCheck {
  /** What is compared, e.g. `W2 call_median_us tsparallel/ipyparallel`. */
  label: string;
  /** The measured ratio. */
  value: number;
  /** The bound, with its direction. */
  bound: { atMost: number } | { atLeast: number } | { below: number };
  /** Whether the measured ratio meets the bound. */
  met: boolean;
}

/**
 * Issue 6's targets, evaluated on this run's medians (those whose systems ran). Printed after the table; never
 * asserted anywhere: a missed target is a reason to profile, not a failing test.
 */
export function targetChecks(results: Results, ours = 'tsparallel'): TargetCheck[] {
  const rows = results.rows();
  const med = (workload: WorkloadId, metric: string, system: string) =>
    rows.find((r) => r.workload === workload && r.metric === metric && r.system === system)?.median;
  const checks: TargetCheck[] = [];
  const add = (label: string, a: number | undefined, b: number | undefined, bound: TargetCheck['bound']) => {
    if (a === undefined || b === undefined || b === 0) return;
    const value = a / b;
    const met = 'atMost' in bound ? value <= bound.atMost : 'atLeast' in bound ? value >= bound.atLeast : value < bound.below;
    checks.push({ label, value, bound, met });
  };
  const ratio = (w: WorkloadId, metric: string, peer: string, bound: TargetCheck['bound']) =>
    add(`${w} ${metric} ${ours}/${peer}`, med(w, metric, ours), med(w, metric, peer), bound);
  ratio('W2', 'call_median_us', 'ipyparallel', { atMost: 0.2 });
  ratio('W2', 'call_median_us', 'zeromq', { atMost: 3 });
  ratio('W3', 'tasks_per_s', 'ipyparallel', { atLeast: 10 });
  ratio('W3', 'tasks_per_s', 'dask', { atLeast: 5 });
  ratio('W1', 'start_ms', 'ipyparallel', { atMost: 0.15 });
  ratio('W1', 'start_ms', 'dask', { below: 1 });
  ratio('W5', 'push_MBps', 'ipyparallel', { atLeast: 1 });
  ratio('W5', 'pull_MBps', 'ipyparallel', { atLeast: 1 });
  add(`W5 peak_mem_ratio ${ours} (client peak / payload)`, med('W5', 'peak_mem_ratio', ours), 1, { below: 3 });
  add(`W6 tasks_per_s / W3 tasks_per_s, ${ours}`, med('W6', 'tasks_per_s', ours), med('W3', 'tasks_per_s', ours), { atLeast: 0.5 });
  // Issue 16.
  ratio('W3', 'tasks_per_s', 'piscina', { atLeast: 0.8 });
  ratio('W3', 'tasks_per_s', 'ipyparallel', { atLeast: 40 });
  add(`W2 call_p99_us / call_median_us, ${ours}`, med('W2', 'call_p99_us', ours), med('W2', 'call_median_us', ours), { atMost: 3 });
  ratio('W2', 'call_median_us', 'zeromq', { atMost: 2 });
  ratio('W5', 'scatter_MBps', 'ipyparallel', { atLeast: 2 });
  ratio('W5', 'gather_MBps', 'ipyparallel', { atLeast: 2 });
  add(`W5 rss_after_pull_ratio ${ours} (client RSS, pull dropped / before push)`, med('W5', 'rss_after_pull_ratio', ours), 1, { atMost: 1.2 });
  ratio('W5', 'scatter_MBps', 'zeromq', { atLeast: 0.6 });
  ratio('W5', 'gather_MBps', 'zeromq', { atLeast: 0.6 });
  add(`W6 start_ms ${ours} / 1 s`, med('W6', 'start_ms', ours), 1000, { atMost: 1 });
  // Warm against warm: W3's median is a warm 2-engine cluster's (see warmupTasks in driver.ts).
  add(`W6 warm_tasks_per_s / W3 tasks_per_s, ${ours}`, med('W6', 'warm_tasks_per_s', ours), med('W3', 'tasks_per_s', ours), { atLeast: 0.8 });
  add(`W8 register_ms ${ours} / 10 s`, med('W8', 'register_ms', ours), 10_000, { atMost: 1 });
  add(`W8 broadcast_ms ${ours} / 0.5 s`, med('W8', 'broadcast_ms', ours), 500, { atMost: 1 });
  add(`W8 warm_tasks_per_s / W3 tasks_per_s, ${ours}`, med('W8', 'warm_tasks_per_s', ours), med('W3', 'tasks_per_s', ours), { atLeast: 0.5 });
  const safety = (w: WorkloadId, metric: string, system = ours) => {
    const on = med(w, metric, `${system}-curve`);
    const off = med(w, metric, system);
    const who = system === ours ? '' : `, ${system} itself (the floor)`;
    // Cost as a slowdown factor: time on / off, or throughput off / on.
    if (higherIsBetter(metric)) add(`${w} ${metric} cost of CURVE (off/on)${who}`, off, on, { atMost: 1.3 });
    else add(`${w} ${metric} cost of CURVE (on/off)${who}`, on, off, { atMost: 1.3 });
  };
  safety('W2', 'call_median_us');
  safety('W3', 'tasks_per_s');
  safety('W5', 'push_MBps');
  safety('W5', 'pull_MBps');
  // The same cost in raw ZeroMQ: what no system on ZeroMQ's CURVE can go below.
  safety('W5', 'push_MBps', 'zeromq');
  safety('W5', 'pull_MBps', 'zeromq');
  return checks;
}

/** The target checks as lines: `met    W3 tasks_per_s tsparallel/dask = 15.2 (target ≥ 5)`. */
export function targetLines(checks: readonly TargetCheck[]): string[] {
  return checks.map((c) => {
    const target = 'atMost' in c.bound ? `≤ ${c.bound.atMost}` : 'atLeast' in c.bound ? `≥ ${c.bound.atLeast}` : `< ${c.bound.below}`;
    return `${c.met ? 'met   ' : 'MISSED'} ${c.label} = ${formatRatio(c.value, 1)} (target ${target})`;
  });
}
