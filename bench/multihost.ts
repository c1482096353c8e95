/**
 * Bench W7 (multi-host, issue 10): W2 (latency), W3 (load-balanced throughput) and W5 (push/pull) with the client on
 * the rig's `head` and 2 engines on `node1`/`node2` (controller on `node1`), beside the same with everything on
 * `head` (one host, loopback), and beside ipyparallel on the same rig (its controller `ipcontroller --ip=*` on node1,
 * `ipengine` on node1 and node2, its client on head). Opt-in: it needs the rig of simulated hosts (scripts/rig, root)
 * and skips with a message when the rig is not up. CURVE is at its default ('auto': off on one host's loopback, on
 * across hosts); a multi-host column with CURVE off shows what the encryption costs. Prints a table and the targets: multi-host W3 ≥ 0.8 × single-host
 * W3 and ≥ 10 × ipyparallel's multi-host W3.
 *
 * Run it compiled: `npm run -s build && node dist/bench/multihost.js [--quick] [--runs N]` (see bench/README.md).
 * @module
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { collect, hostIp, pidsOnAllHosts, RIG_SHARED, rigStatus, runOnHost, runSyncOnHost, stopRigProcesses } from '../test/support/rig.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const dist = path.join(root, 'dist', 'src');

/** What one scenario measured (medians). */
interface W7Figures {
  hosts: string[];
  call_median_us: number;
  tasks_per_s: number;
  push_MBps: number;
  pull_MBps: number;
}

/** The client, run on head: W2, W3, W5 against the cluster of the client file argv[1]; prints one JSON line. */
const TS_CLIENT = `
const { Client, range } = await import(process.argv[2]);
const sizes = JSON.parse(process.argv[3]);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const client = await Client.connect({ connectionFile: process.argv[1], timeoutMs: 20000 });
await client.waitForEngines(2, { timeoutMs: 120000 });
const hosts = [...client.engines.values()].map((e) => e.hostname).sort();
const one = client.view(client.ids[0]);
for (let i = 0; i < 10; i++) await one.apply(() => null);
const lat = [];
for (let i = 0; i < sizes.w2Calls; i++) { const t = performance.now(); await one.apply(() => null); lat.push((performance.now() - t) * 1000); }
const lb = client.loadBalancedView();
await lb.map((_x) => null, range(20), { chunksize: 1 });
const w3 = [];
for (let r = 0; r < sizes.runs; r++) {
  const t = performance.now();
  const out = await lb.map((_x) => null, range(sizes.w3Tasks), { chunksize: 1 });
  w3.push(sizes.w3Tasks / ((performance.now() - t) / 1000));
  if (out.length !== sizes.w3Tasks) throw new Error('W3: ' + out.length + ' results');
}
const data = new Float64Array(sizes.w5PushBytes / 8);
for (let i = 0; i < data.length; i++) data[i] = i;
const all = client.view();
const push = [], pull = [];
for (let r = 0; r < sizes.runs; r++) {
  let t = performance.now();
  await all.push({ d: data });
  push.push((2 * data.byteLength) / 1e6 / ((performance.now() - t) / 1000));
  t = performance.now();
  const back = await all.pull('d');
  pull.push((2 * data.byteLength) / 1e6 / ((performance.now() - t) / 1000));
  for (const b of back) if (b.length !== data.length || b[12345] !== 12345 || b[b.length - 1] !== data.length - 1) throw new Error('W5: wrong data back');
}
console.log(JSON.stringify({ hosts, call_median_us: median(lat), tasks_per_s: median(w3), push_MBps: median(push), pull_MBps: median(pull) }));
await client.close();
process.exit(0);
`;

interface Sizes {
  runs: number;
  w2Calls: number;
  w3Tasks: number;
  w5PushBytes: number;
}

/** The setups, by the name `--only` takes. */
const SETUPS = ['one-host', 'multi-host', 'multi-host-curve-off', 'ipyparallel'] as const;

function parseArgs(argv: string[]): { sizes: Sizes; only: readonly string[] } {
  const quick = argv.includes('--quick');
  const runsAt = argv.indexOf('--runs');
  const runs = runsAt >= 0 ? Number(argv[runsAt + 1]) : quick ? 1 : 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs takes a positive whole number, got '${argv[runsAt + 1]}'`);
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? (argv[onlyAt + 1] ?? '').split(',').filter(Boolean) : [...SETUPS];
  const unknown = only.filter((n) => !(SETUPS as readonly string[]).includes(n));
  if (only.length === 0 || unknown.length > 0) throw new Error(`--only takes a comma-separated list of ${SETUPS.join(', ')}; got '${argv[onlyAt + 1] ?? ''}'`);
  const sizes = quick ? { runs, w2Calls: 200, w3Tasks: 2000, w5PushBytes: 20e6 } : { runs, w2Calls: 1000, w3Tasks: 10_000, w5PushBytes: 100e6 };
  return { sizes, only };
}

async function waitFor(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** tsparallel: `tscontroller` on `controllerHost`, one `tsengine` on each of `engineHosts`, the client on head. */
async function tsparallelScenario(controllerHost: string, engineHosts: string[], sizes: Sizes, loopback: boolean, curve: 'auto' | 'false' = 'auto'): Promise<W7Figures> {
  const dir = await mkdtemp(path.join(RIG_SHARED, 'bench-w7-'));
  try {
    const cli = (name: string) => path.join(dist, 'cli', name);
    const ip = loopback ? '127.0.0.1' : hostIp(controllerHost);
    const controller = runOnHost(controllerHost, process.execPath, [cli('tscontroller.js'), '--profile-dir', dir, '--ip', ip, '--curve', curve]);
    let out = '';
    controller.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    controller.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => /controller ready/.test(out) || controller.exitCode !== null, 30_000, `the controller on ${controllerHost}`);
    if (controller.exitCode !== null) throw new Error(`the controller on ${controllerHost} exited: ${out}`);
    const security = path.join(dir, 'security');
    const files = await readdir(security);
    const engineFile = path.join(security, files.find((f) => f.endsWith('engine.json'))!);
    const clientFile = path.join(security, files.find((f) => f.endsWith('client.json'))!);
    for (const h of engineHosts) drain(runOnHost(h, process.execPath, [cli('tsengine.js'), '--connection-file', engineFile]));
    const r = await collect(runOnHost('head', process.execPath, ['--input-type=module', '-e', TS_CLIENT, clientFile, path.join(dist, 'index.js'), JSON.stringify(sizes)]));
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) throw new Error(`the client on head failed (exit ${r.code}): ${r.stderr.slice(-1500)}`);
    return JSON.parse(line) as W7Figures;
  } finally {
    await stopRigProcesses();
    await rm(dir, { recursive: true, force: true });
  }
}

/** ipyparallel: `ipcontroller --ip=*` on node1, `ipengine` on node1 and node2, its client on head. */
async function ipyparallelScenario(sizes: Sizes): Promise<W7Figures> {
  const dir = await mkdtemp(path.join(RIG_SHARED, 'bench-w7-ipp-'));
  try {
    const controller = runOnHost('node1', '/usr/bin/ipcontroller', ['--ip=*', `--location=${hostIp('node1')}`, `--profile-dir=${dir}`, '--log-level=WARN']);
    const out = drain(controller);
    const engineFile = path.join(dir, 'security', 'ipcontroller-engine.json');
    const clientFile = path.join(dir, 'security', 'ipcontroller-client.json');
    await waitFor(() => (existsSync(engineFile) && existsSync(clientFile)) || controller.exitCode !== null, 60_000, 'ipcontroller on node1');
    if (controller.exitCode !== null) throw new Error(`ipcontroller on node1 exited: ${out()}`);
    const engines = ['node1', 'node2'].map((h) => [h, drain(runOnHost(h, '/usr/bin/ipengine', [`--profile-dir=${dir}`, `--file=${engineFile}`, '--log-level=WARN']))] as const);
    const script = path.join(root, 'bench', 'python', 'w7_ipyparallel_client.py');
    const limitS = ippClientLimitS(sizes);
    const r = await collect(runOnHost('head', 'timeout', ['--signal=KILL', String(limitS), '/usr/bin/python3', script, path.join(dir, 'security', 'ipcontroller-client.json'), JSON.stringify(sizes)]));
    const line = r.stdout.split('\n').find((l) => l.startsWith('{'));
    if (!line) {
      const logs = engines.map(([h, tail]) => `ipengine on ${h}: …${tail().slice(-500)}`).join('\n');
      throw new Error(`ipyparallel's client on head failed (exit ${r.code}${r.code === null ? `, killed after ${limitS} s` : ''}): ${r.stderr.slice(-1500)}\nipcontroller: …${out().slice(-500)}\n${logs}`);
    }
    return JSON.parse(line) as W7Figures;
  } finally {
    await stopRigProcesses();
    // ipcontroller's schedulers and ipengine's nannies are their children: stop what is left, by pid, on each host.
    for (const signal of ['TERM', 'KILL']) {
      await new Promise((r) => setTimeout(r, 1500));
      for (const [host, pids] of Object.entries(pidsOnAllHosts("ipcontroller|ipengine|ipyparallel"))) {
        runSyncOnHost(host, 'kill', [`-${signal}`, ...pids.map(String)]);
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Read a child's output as it comes and keep its end (for error messages). A pipe nobody reads stops its writer once
 * the pipe is full (64 kB): ipengine 7.1 logs every request at debug level whatever `--log-level` says, so an
 * undrained engine blocked in write(2) within its first hundred calls, and ipyparallel's client waited on it until
 * the harness killed it (the "stall" of the first W7 runs).
 */
function drain(child: ChildProcess): () => string {
  let tail = '';
  const keep = (d: Buffer) => void (tail = (tail + d.toString()).slice(-2000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => tail;
}

/** How long ipyparallel's client may run on head before it is killed: its W3 runs at ~50 tasks/s on the rig. */
const ippClientLimitS = (sizes: Sizes) => 120 + Math.ceil((sizes.runs * sizes.w3Tasks) / 20);

const fmt = (x: number | undefined) => (x === undefined ? '–' : x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toFixed(2));

async function main(): Promise<number> {
  const status = rigStatus();
  if (!status.up) {
    console.log(`skipped  W7 (multi-host): ${status.reason ?? 'the rig is not up'}; bring it up with \`npm run rig -- up\` (root)`);
    return 0;
  }
  let sizes: Sizes;
  let only: readonly string[];
  try {
    ({ sizes, only } = parseArgs(process.argv.slice(2)));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const loadBefore = loadavg()[0]!.toFixed(2);
  const results: Record<string, W7Figures | string> = {};
  const setups: Record<(typeof SETUPS)[number], [string, () => Promise<W7Figures>]> = {
    'one-host': ['tsparallel one host (head)', () => tsparallelScenario('head', ['head', 'head'], sizes, true)],
    'multi-host': ['tsparallel multi-host', () => tsparallelScenario('node1', ['node1', 'node2'], sizes, false)],
    'multi-host-curve-off': ['tsparallel multi-host CURVE off', () => tsparallelScenario('node1', ['node1', 'node2'], sizes, false, 'false')],
    ipyparallel: ['ipyparallel multi-host', () => ipyparallelScenario(sizes)],
  };
  const scenarios = SETUPS.filter((k) => only.includes(k)).map((k) => setups[k]);
  for (const [name, run] of scenarios) {
    console.error(`[W7] ${name} …`);
    try {
      results[name] = await run();
      console.error(`[W7] ${name}: ${JSON.stringify(results[name])}`);
    } catch (err) {
      results[name] = `FAILED: ${(err as Error).message}`;
      console.error(`[W7] ${name} ${results[name]}`);
    }
  }
  const left = pidsOnAllHosts('tscontroller|tsengine|ipcontroller|ipengine');
  const metrics: [string, keyof W7Figures, string][] = [
    ['W2', 'call_median_us', 'lower'],
    ['W3', 'tasks_per_s', 'higher'],
    ['W5', 'push_MBps', 'higher'],
    ['W5', 'pull_MBps', 'higher'],
  ];
  const names = scenarios.map(([n]) => n);
  const fig = (n: string) => (typeof results[n] === 'object' ? (results[n] as W7Figures) : undefined);
  console.log(`tsparallel bench W7 (multi-host, rig: client on head; multi-host: controller on node1, engines on node1 + node2) · runs ${sizes.runs} · W2 ${sizes.w2Calls} calls, W3 ${sizes.w3Tasks} tasks, W5 ${sizes.w5PushBytes / 1e6} MB per engine · load (1 min) ${loadBefore} before, ${loadavg()[0]!.toFixed(2)} after`);
  const header = ['workload', 'metric', 'better', ...names];
  const rows = metrics.map(([w, m, b]) => [w, m, b, ...names.map((n) => fmt(fig(n)?.[m] as number | undefined))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2);
  for (const r of [header, ...rows]) console.log(r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(''));
  console.log(`engine hosts: ${names.map((n) => `${n}: ${fig(n)?.hosts.join(',') ?? '–'}`).join('; ')}`);
  for (const n of names) if (typeof results[n] === 'string') console.log(`${n}: ${results[n]}`);
  const single = fig(setups['one-host'][0])?.tasks_per_s;
  const multi = fig(setups['multi-host'][0])?.tasks_per_s;
  const ipp = fig(setups.ipyparallel[0])?.tasks_per_s;
  const target = (label: string, ratio: number | undefined, min: number) =>
    console.log(`${ratio === undefined ? 'n/a ' : ratio >= min ? 'met ' : 'MISSED'}  ${label} = ${ratio === undefined ? '–' : ratio.toFixed(2)} (target ≥ ${min})`);
  console.log('\nissue 10 targets (ratios of this run\'s medians):');
  target('W7 W3 tasks_per_s tsparallel multi-host / tsparallel one host', multi && single ? multi / single : undefined, 0.8);
  target('W7 W3 tasks_per_s tsparallel multi-host / ipyparallel multi-host', multi && ipp ? multi / ipp : undefined, 10);
  if (Object.keys(left).length > 0) {
    console.log(`LEFT on the rig hosts: ${JSON.stringify(left)}`);
    return 1;
  }
  return Object.values(results).some((r) => typeof r === 'string') ? 1 : 0;
}

process.exitCode = await main();
