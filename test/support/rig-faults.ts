/**
 * Network faults on the rig (test/support/rig.ts), run once and measured here, so that the rig-faults test asserts on
 * the same runs the fault-injection report (`npm run faults`) tabulates:
 * - {@link cutNodeDuringWork}: node2's cable cut while load-balanced tasks with retries run on node1 and node2 (the
 *   controller and the client on head), then plugged back in;
 * - {@link cutControllerHost}: the controller's host (node1) cut off while the client on head waits on engines on node2.
 * Each returns what happened (who was declared dead and when, what the client got, exit codes) and the figures the
 * report states: tasks lost, tasks run twice without a report, time to detect, processes left on any host.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { distEntry, repoRoot, waitUntil } from './cluster.js';
import { collect, hostIp, pidsOnAllHosts, pidsOnHost, RIG_SHARED, runOnHost, setLink, stopRigProcesses } from './rig.js';

/** How often the controller pings its engines in these runs, in ms. */
export const HEARTBEAT_MS = 100;
/** How long an engine may be silent before it is declared dead (and an engine waits for pings), in ms. */
export const HEARTBEAT_TIMEOUT_MS = 1500;

/** Every process of a cluster, on every host (what must be gone at the end). */
const CLUSTER_PROCESSES = 'tscontroller|tsengine';

/**
 * On head: wait for argv[3] engines, run argv[5] load-balanced tasks of 250 ms with retries (each run appends its item
 * to the file argv[6], a file of the shared directory every host writes to), report engines declared dead or
 * registered, the results and each task's retries; then wait for the file argv[4] (the cable is back), wait 3 ×
 * the heartbeat timeout, and report the engines, an apply on all of them and the late replies reported.
 */
const LB_CLIENT = `
const { Client, range } = await import(process.argv[2]);
const [file, , n, linkup, count, runs] = process.argv.slice(1);
const timer = setTimeout(() => { console.log('TIMEOUT'); process.exit(3); }, 120000);
const client = await Client.connect({ connectionFile: file, timeoutMs: 10000 });
await client.waitForEngines(Number(n), { timeoutMs: 30000 });
const hosts = {};
for (const e of client.engines.values()) hosts[e.id] = e.hostname;
console.log('hosts ' + JSON.stringify(hosts));
let late = 0;
client.onEngineEvent((e) => { if (e.event === 'late_reply') late++; });
client.onEngineChange((e) => { if (e.type === 'unregistered') console.log('unregistered ' + Date.now() + ' ' + e.id + ' ' + hosts[e.id] + ' ' + JSON.stringify(e.reason ?? '')); if (e.type === 'registered') console.log('registered ' + Date.now() + ' ' + e.id); });
const task = new Function('x', "process.getBuiltinModule('node:fs').appendFileSync(" + JSON.stringify(runs) + ", x + '\\\\n'); const end = Date.now() + 250; while (Date.now() < end); return x * 3;");
const work = client.loadBalancedView().with({ retries: 3 }).map(task, range(Number(count)));
console.log('running ' + Date.now());
const result = await work.catch((e) => e.name + ': ' + e.message);
console.log('result ' + JSON.stringify(result));
const records = new Map((await client.taskRecords()).map((r) => [r.msgId, r.retries]));
console.log('retries ' + JSON.stringify(work.msgIds.map((id) => records.get(id) ?? 0)));
while (!(await import('node:fs')).existsSync(linkup)) await new Promise((r) => setTimeout(r, 100));
await new Promise((r) => setTimeout(r, 3 * ${HEARTBEAT_TIMEOUT_MS}));
const after = await (async () => client.view().apply(() => 1))().catch((e) => e.name);
console.log('after ' + JSON.stringify({ ids: client.ids, apply: after, late }));
clearTimeout(timer);
await client.close();
process.exit(0);
`;

/**
 * On head: one long task per engine (a direct view over all) and a load-balanced one, each run noted in the file
 * argv[4]; print how each request ends and when.
 */
const LOST_CLIENT = `
const { Client } = await import(process.argv[2]);
const [file, , n, runs] = process.argv.slice(1);
const timer = setTimeout(() => { console.log('HANG'); process.exit(3); }, 60000);
const client = await Client.connect({ connectionFile: file, timeoutMs: 10000 });
await client.waitForEngines(Number(n), { timeoutMs: 30000 });
const slow = new Function("process.getBuiltinModule('node:fs').appendFileSync(" + JSON.stringify(runs) + ", 'run\\\\n'); return new Promise((r) => setTimeout(() => r('done'), 20000));");
const outcome = (p) => p.then(() => 'resolved', (e) => (e.name === 'CompositeError' ? [...new Set(e.errors.map((x) => x.name))].join('+') : e.name));
const pending = [outcome(client.view().apply(slow)), outcome(client.loadBalancedView().apply(slow))];
console.log('running ' + Date.now());
const names = await Promise.all(pending);
console.log('ended ' + Date.now() + ' ' + JSON.stringify(names));
clearTimeout(timer);
await client.close().catch(() => {});
process.exit(0);
`;

const cli = (name: string) => path.join(repoRoot(), 'dist', 'src', 'cli', name);

/** A controller on `host` bound to its rig address, fast heartbeats; resolves once ready, with its connection files. */
async function controllerOn(host: string, dir: string) {
  const controller = runOnHost(host, process.execPath, [
    cli('tscontroller.js'), '--profile-dir', dir, '--ip', hostIp(host),
    '--heartbeat-ms', String(HEARTBEAT_MS), '--heartbeat-timeout-ms', String(HEARTBEAT_TIMEOUT_MS),
  ]);
  let out = '';
  controller.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  controller.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitUntil(() => /controller ready/.test(out) || controller.exitCode !== null, 30_000, `controller on ${host} ready`);
  if (controller.exitCode !== null) throw new Error(`the controller on ${host} exited: ${out.slice(-1000)}`);
  const security = path.join(dir, 'security');
  const files = await readdir(security);
  return {
    output: () => out,
    clientFile: path.join(security, files.find((f) => f.endsWith('client.json'))!),
    engineFile: path.join(security, files.find((f) => f.endsWith('engine.json'))!),
  };
}

/** The words after `word ` on each line of `text` that starts with it. */
function lines(text: string, word: string): string[][] {
  return text.split('\n').filter((l) => l.startsWith(word + ' ')).map((l) => l.split(' ').slice(1));
}

/** Stop every process these runs started (by pid) and wait, bounded, until no cluster process is left on any host. */
async function stopAndCount(): Promise<Record<string, number[]>> {
  await stopRigProcesses();
  await waitUntil(() => Object.keys(pidsOnAllHosts(CLUSTER_PROCESSES)).length === 0, 15_000, 'nothing left on any host').catch(() => {});
  return pidsOnAllHosts(CLUSTER_PROCESSES);
}

/** An engine the controller declared dead, as the client on head saw it. */
export interface Unregistration {
  /** When the client heard of it (ms since the epoch). */
  at: number;
  /** The engine's id. */
  id: number;
  /** The host it ran on. */
  host: string;
  /** The controller's reason. */
  reason: string;
}

/** What {@link cutNodeDuringWork} saw. */
export interface NodeCutRun {
  /** How many load-balanced tasks ran. */
  tasks: number;
  /** When the cable was cut and plugged back in (ms since the epoch, as the rig script saw it). */
  cutAt: number;
  linkUpAt: number;
  /** Engine ids by host. */
  node1Ids: number[];
  node2Ids: number[];
  /** Every engine declared dead, in order. */
  unregistered: Unregistration[];
  /** Engines that registered after the start (none is expected: node2's exit). */
  registeredAgain: number[];
  /** The map's results (or its error, as text). */
  result: unknown;
  /** After the cable came back (and 3 × the heartbeat timeout): registered ids, an apply on all, late replies. */
  after: { ids: number[]; apply: unknown; late: number };
  /** How long node2's engines took to exit while cut off, in ms from the cut. */
  node2ExitedMs: number;
  /** node2's engines' exit codes and the ends of their stderr. */
  node2Exits: { code: number | null; stderr: string }[];
  /** tsengine processes on node1 and node2 once the client had finished, before the cleanup. */
  enginesBeforeStop: { node1: number; node2: number };
  /** The client's exit code and output (for messages). */
  client: { code: number | null; stdout: string; stderr: string };
  /** The end of the controller's output. */
  controllerOutput: string;
  /** The report's figures. */
  figures: { lost: number; twiceUnreported: number; detectMs: number; retried: number; left: Record<string, number[]> };
}

/**
 * node2's cable cut while `tasks` load-balanced tasks of 250 ms with retries run on two engines on each node (the
 * controller and the client on head); its engines must be declared dead within the heartbeat timeout, exit by
 * themselves, and the tasks finish on node1. The cable is plugged back in once the work is done, and the state of
 * the cluster read 3 × the heartbeat timeout later. Every process is stopped before it returns.
 */
export async function cutNodeDuringWork(tasks = 80): Promise<NodeCutRun> {
  const dir = await mkdtemp(path.join(RIG_SHARED, 'rig-faults-'));
  try {
    const c = await controllerOn('head', dir);
    const engines = ['node1', 'node1', 'node2', 'node2'].map((h) => ({ host: h, child: runOnHost(h, process.execPath, [cli('tsengine.js'), '--connection-file', c.engineFile]) }));
    const node2Exits = engines.filter((e) => e.host === 'node2').map((e) => collect(e.child));
    const linkup = path.join(dir, 'linkup');
    const runs = path.join(dir, 'runs.log');
    const client = runOnHost('head', process.execPath, ['--input-type=module', '-e', LB_CLIENT, c.clientFile, distEntry(), '4', linkup, String(tasks), runs]);
    const done = collect(client);
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil(() => /running \d+/.test(out) || client.exitCode !== null, 60_000, 'the client starts the tasks');
    await new Promise((r) => setTimeout(r, 800));
    let cutAt = 0;
    let linkUpAt = 0;
    let node2ExitedMs = 0;
    try {
      cutAt = setLink('node2', 'down');
      // node2's engines hear no heartbeat from the controller: they exit by themselves, still cut off.
      await waitUntil(() => pidsOnHost('node2', 'tsengine').length === 0, 15_000, 'node2 engines exit while cut off');
      node2ExitedMs = Date.now() - cutAt;
      await waitUntil(() => /^result /m.test(out) || client.exitCode !== null, 60_000, 'the load-balanced map finishes');
    } finally {
      linkUpAt = setLink('node2', 'up');
    }
    await writeFile(linkup, '');
    const r = await done;
    const enginesBeforeStop = { node1: pidsOnHost('node1', 'tsengine').length, node2: pidsOnHost('node2', 'tsengine').length };
    const hostLine = lines(r.stdout, 'hosts')[0];
    if (r.code !== 0 || !hostLine) throw new Error(`the client on head failed (${r.code}): ${r.stdout.slice(-1000)}\n${r.stderr.slice(-1500)}\ncontroller: ${c.output().slice(-500)}`);
    const hosts = JSON.parse(hostLine[0]!) as Record<string, string>;
    const idsOn = (host: string) => Object.entries(hosts).filter(([, h]) => h === host).map(([id]) => Number(id)).sort();
    const unregistered = lines(r.stdout, 'unregistered').map(([at, id, host, ...why]) => ({ at: Number(at), id: Number(id), host: host!, reason: JSON.parse(why.join(' ')) as string }));
    const result = JSON.parse(lines(r.stdout, 'result')[0]?.[0] ?? 'null') as unknown;
    const retries = JSON.parse(lines(r.stdout, 'retries')[0]?.[0] ?? '[]') as number[];
    const after = JSON.parse(lines(r.stdout, 'after')[0]?.[0] ?? '{}') as NodeCutRun['after'];
    const node2Ids = idsOn('node2');
    const declared = unregistered.filter((u) => u.at < linkUpAt && node2Ids.includes(u.id));
    const values = Array.isArray(result) ? (result as unknown[]) : [];
    const exits = (await Promise.all(node2Exits)).map((e) => ({ code: e.code, stderr: e.stderr.slice(-500) }));
    return {
      tasks,
      cutAt,
      linkUpAt,
      node1Ids: idsOn('node1'),
      node2Ids,
      unregistered,
      registeredAgain: lines(r.stdout, 'registered').map(([, id]) => Number(id)),
      result,
      after,
      node2ExitedMs,
      node2Exits: exits,
      enginesBeforeStop,
      client: { code: r.code, stdout: r.stdout, stderr: r.stderr },
      controllerOutput: c.output().slice(-1000),
      figures: {
        lost: Array.from({ length: tasks }, (_, x) => x).filter((x) => values[x] !== x * 3).length,
        twiceUnreported: unreportedRuns(runs, retries),
        detectMs: declared.length === node2Ids.length ? Math.max(...declared.map((u) => u.at)) - cutAt : NaN,
        retried: retries.filter((n) => n > 0).length,
        left: await stopAndCount(),
      },
    };
  } finally {
    await stopRigProcesses();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Runs of a task beyond its first that its retry count does not account for, summed over the tasks: `runs` holds one
 * line per run (the item), `retries[x]` is the retry count of item x's task.
 */
function unreportedRuns(runs: string, retries: number[]): number {
  let text = '';
  try {
    text = readFileSync(runs, 'utf8');
  } catch {
    return 0;
  }
  const count = new Map<number, number>();
  for (const line of text.split('\n').filter(Boolean)) count.set(Number(line), (count.get(Number(line)) ?? 0) + 1);
  let extra = 0;
  for (const [x, n] of count) extra += Math.max(0, n - 1 - (retries[x] ?? 0));
  return extra;
}

/** What {@link cutControllerHost} saw. */
export interface ControllerCutRun {
  /** When the cable was cut (ms since the epoch). */
  cutAt: number;
  /** The engines on node2: whether they exited within 20 s of the cut, their exit codes, and when. */
  enginesExited: boolean;
  engineExits: { code: number | null; stderr: string }[];
  enginesMs: number;
  /** The client's pending requests: how each ended (error names), and when, in ms from the cut; undefined if never. */
  errorNames?: string[];
  clientMs?: number;
  /** The client's output (for messages). */
  client: { code: number | null; stdout: string; stderr: string };
  /** How many times a task started, on any engine (3 tasks: one per engine and a load-balanced one; none is retried). */
  taskRuns: number;
  /** Processes left on any host after the cleanup. */
  left: Record<string, number[]>;
}

/**
 * The controller's host (node1) cut off while the client on head waits on one long task per engine (direct) and a
 * load-balanced one, with two engines on node2: the engines must exit within a bounded time and the client's requests
 * fail with a clear error. The cable is plugged back in and every process stopped before it returns.
 */
export async function cutControllerHost(): Promise<ControllerCutRun> {
  const dir = await mkdtemp(path.join(RIG_SHARED, 'rig-faults-'));
  try {
    const c = await controllerOn('node1', dir);
    const engines = ['node2', 'node2'].map((h) => collect(runOnHost(h, process.execPath, [cli('tsengine.js'), '--connection-file', c.engineFile])));
    const runs = path.join(dir, 'runs.log');
    const client = runOnHost('head', process.execPath, ['--input-type=module', '-e', LOST_CLIENT, c.clientFile, distEntry(), '2', runs]);
    const done = collect(client);
    let out = '';
    client.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil(() => /running \d+/.test(out) || client.exitCode !== null, 60_000, 'the client starts its tasks');
    await new Promise((r) => setTimeout(r, 500));
    let cutAt = 0;
    let exits: Awaited<typeof engines[number]>[] | null = null;
    let enginesMs = 0;
    let r: Awaited<typeof done>;
    try {
      cutAt = setLink('node1', 'down');
      exits = await Promise.race([Promise.all(engines), new Promise<null>((res) => setTimeout(() => res(null), 20_000).unref())]);
      enginesMs = Date.now() - cutAt;
      r = await done;
    } finally {
      setLink('node1', 'up');
    }
    const ended = lines(r.stdout, 'ended')[0];
    return {
      cutAt,
      enginesExited: exits !== null,
      engineExits: (exits ?? []).map((e) => ({ code: e.code, stderr: e.stderr.slice(-400) })),
      enginesMs,
      ...(ended ? { clientMs: Number(ended[0]) - cutAt, errorNames: JSON.parse(ended[1]!) as string[] } : {}),
      client: { code: r.code, stdout: r.stdout, stderr: r.stderr.slice(-1000) },
      // (no file: no task had started when the cable was cut)
      taskRuns: existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean).length : 0,
      left: await stopAndCount(),
    };
  } finally {
    await stopRigProcesses();
    await rm(dir, { recursive: true, force: true });
  }
}
