/**
 * Fault injection (issue 13): kill -9 and SIGSTOP of engines, the controller and clients during direct and
 * load-balanced work on one host, and, on the multi-host rig (test/support/rig.ts), a node's link cut during
 * load-balanced work and restored, and the controller's host cut off (the runs of test/e2e/rig-faults.test.ts, from
 * test/support/rig-faults.ts). Each row states the figures that must hold: tasks lost (0), tasks run twice without
 * a report (0), time to detect, processes left on any host (0). Writes `docs/faults.md` (or the path given with
 * `--out`) and prints it; exit status 1 when a figure that must hold did not. Without the rig, its rows say they were
 * not run and why; under CI=true (where .ci/run brings the rig up) that is a failure.
 *
 * Run compiled: `npm run -s build && node dist/test/faults/run.js`.
 * @module
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ControllerLostError, type EngineChange, type EngineEvent } from '../../src/index.js';
import { FAST_HEARTBEAT, distEntry, isAlive, repoRoot, startTestCluster, waitUntil } from '../support/cluster.js';
import { requireRig } from '../support/rig.js';
import { cutControllerHost, cutNodeDuringWork, HEARTBEAT_TIMEOUT_MS } from '../support/rig-faults.js';

interface Row {
  /** Where it ran: one host, or the rig's hosts. */
  where: 'one host' | 'rig';
  fault: string;
  work: string;
  tasks: number;
  lost: number;
  twiceUnreported: number;
  detectMs: number | string;
  left: number;
  note: string;
  /** What else did not hold (reported as failures, beside the figures that must be 0). */
  problems?: string[];
}

/** A task that notes each run of item x in `log` (one line per run), then sleeps `ms` and returns x. */
const sleepTask = (ms: number, log?: string) =>
  new Function('x', `${log ? `process.getBuiltinModule('node:fs').appendFileSync(${JSON.stringify(log)}, x + '\\n');` : ''} return new Promise((r) => setTimeout(() => r(x), ${ms}))`) as (x: number) => Promise<number>;

/** Runs of each item beyond the first that no retry count or engine event accounts for. */
function unreportedReruns(log: string, reported: number): number {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return 0;
  }
  const runs = new Map<string, number>();
  for (const line of text.split('\n').filter(Boolean)) runs.set(line, (runs.get(line) ?? 0) + 1);
  let extra = 0;
  for (const n of runs.values()) extra += n - 1;
  return Math.max(0, extra - reported);
}

async function killEngine(signal: 'SIGKILL'): Promise<Row> {
  const tc = await startTestCluster(3); // default heartbeat: 10 s timeout
  const pids = tc.cluster.pids;
  try {
    const { client } = tc;
    let goneAt = 0;
    client.onEngineChange((e: EngineChange) => e.type === 'unregistered' && !goneAt && (goneAt = Date.now()));
    const items = Array.from({ length: 60 }, (_, i) => i);
    const log = path.join(tc.dir, 'runs.log');
    const result = client.loadBalancedView(undefined, { retries: 2 }).map(sleepTask(100, log), items);
    await new Promise((r) => setTimeout(r, 300));
    const victim = client.engines.get(0)!.pid;
    const killedAt = Date.now();
    process.kill(victim, signal);
    const values = await result;
    await waitUntil(() => goneAt > 0, 15_000, 'engine reported gone');
    const lost = items.filter((i) => values[i] !== i).length;
    const records = await client.taskRecords();
    const retried = records.reduce((n, r) => n + r.retries, 0);
    return { where: 'one host', fault: 'kill -9 engine', work: 'load-balanced map, retries 2', tasks: items.length, lost, twiceUnreported: unreportedReruns(log, retried), detectMs: goneAt - killedAt, left: 0, note: `${records.filter((r) => r.retries > 0).length} tasks retried` };
  } finally {
    await tc.stop();
    void pids;
  }
}

async function killEngineDirect(): Promise<Row> {
  const tc = await startTestCluster(2);
  try {
    const { client } = tc;
    const victim = client.engines.get(1)!.pid;
    const pending = client.view(1).apply(sleepTask(5000), 1);
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    const err = await Promise.resolve(pending).then(() => undefined, (e: Error) => e);
    const detect = Date.now() - killedAt;
    // The task died with its engine: it is not lost if the client was told so.
    return { where: 'one host', fault: 'kill -9 engine', work: 'direct apply (straight to the engine)', tasks: 1, lost: err?.name === 'EngineDiedError' ? 0 : 1, twiceUnreported: 0, detectMs: detect, left: 0, note: `rejected with ${err?.name ?? 'nothing (!)'}` };
  } finally {
    await tc.stop();
  }
}

async function stopEngine(): Promise<Row> {
  const tc = await startTestCluster(2, { controller: FAST_HEARTBEAT });
  let pid: number | undefined;
  try {
    const { client } = tc;
    const events: EngineEvent[] = [];
    client.onEngineEvent((e) => events.push(e));
    let goneAt = 0;
    client.onEngineChange((e) => e.type === 'unregistered' && !goneAt && (goneAt = Date.now()));
    const items = Array.from({ length: 20 }, (_, i) => i);
    const log = path.join(tc.dir, 'runs.log');
    const result = client.loadBalancedView(undefined, { retries: 1 }).map(sleepTask(200, log), items);
    await new Promise((r) => setTimeout(r, 300));
    pid = client.engines.get(0)!.pid;
    const stoppedAt = Date.now();
    process.kill(pid, 'SIGSTOP');
    const values = await result;
    await waitUntil(() => goneAt > 0, 15_000, 'engine reported gone');
    process.kill(pid, 'SIGCONT');
    await waitUntil(() => !isAlive(pid!), 15_000, 'the woken engine exits');
    await new Promise((r) => setTimeout(r, 300));
    const lost = items.filter((i) => values[i] !== i).length;
    const late = events.filter((e) => e.event === 'late_reply').length;
    const retried = (await client.taskRecords()).reduce((n, r) => n + r.retries, 0);
    return { where: 'one host', fault: 'SIGSTOP engine, SIGCONT after it was declared dead', work: 'load-balanced map, retries 1', tasks: items.length, lost, twiceUnreported: unreportedReruns(log, retried + late), detectMs: goneAt - stoppedAt, left: 0, note: `heartbeat timeout ${FAST_HEARTBEAT.heartbeatTimeoutMs} ms; ${events.length} engine events (${late} late replies reported)` };
  } finally {
    if (pid && isAlive(pid)) process.kill(pid, 'SIGCONT');
    await tc.stop();
  }
}

async function killController(): Promise<Row> {
  const tc = await startTestCluster(2);
  const pids = tc.cluster.pids;
  try {
    const client = await tc.cluster.connect({ heartbeatMs: 200, heartbeatTimeoutMs: 1000 });
    const pending = [client.view(0).apply(sleepTask(30_000), 0), client.loadBalancedView().apply(sleepTask(30_000), 1)];
    const outcomes = pending.map((p) => Promise.resolve(p).then(() => undefined, (e: Error) => e));
    await new Promise((r) => setTimeout(r, 300));
    const killedAt = Date.now();
    process.kill(pids[0]!, 'SIGKILL');
    const errors = await Promise.all(outcomes);
    const detect = Date.now() - killedAt;
    const lostUnreported = errors.filter((e) => !(e instanceof ControllerLostError)).length;
    await client.close();
    return { where: 'one host', fault: 'kill -9 controller', work: 'direct and load-balanced applies pending', tasks: 2, lost: lostUnreported, twiceUnreported: 0, detectMs: detect, left: 0, note: 'every pending result rejected with ControllerLostError (client heartbeat timeout 1000 ms)' };
  } finally {
    await tc.stop();
  }
}

async function killClient(): Promise<Row> {
  const tc = await startTestCluster(2);
  try {
    const { client } = tc;
    // Another client, in its own process, floods load-balanced work and is killed mid-way.
    const script = `
      const { Client } = await import(${JSON.stringify(distEntry())});
      const c = await Client.connect({ connectionFile: ${JSON.stringify(tc.cluster.clientConnectionFile)} });
      c.loadBalancedView().map(new Function('x', 'return new Promise((r) => setTimeout(() => r(x), 50))'), Array.from({ length: 200 }, (_, i) => i));
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((r) => child.once('exit', r));
    const items = Array.from({ length: 40 }, (_, i) => i);
    const values = await client.loadBalancedView().map((x: number) => x, items);
    const lost = items.filter((i) => values[i] !== i).length;
    return { where: 'one host', fault: 'kill -9 client', work: "another client's load-balanced map", tasks: items.length, lost, twiceUnreported: 0, detectMs: `n/a (served in ${Date.now() - killedAt} ms)`, left: isAlive(child.pid!) ? 1 : 0, note: "the dead client's queued tasks run and their replies are dropped; this client is served" };
  } finally {
    await tc.stop();
  }
}

/** node2's link cut during a load-balanced map over node1 and node2, restored once the map is done. */
async function cutNode(): Promise<Row> {
  const run = await cutNodeDuringWork(80);
  const node1Stayed = [...run.after.ids].sort().join() === run.node1Ids.join() && JSON.stringify(run.after.apply) === '[1,1]';
  const node2Clean = run.node2Exits.every((e) => e.code === 0) && run.registeredAgain.length === 0;
  const left = Object.values(run.figures.left).reduce((n, pids) => n + pids.length, 0);
  const problems = [
    ...(node1Stayed ? [] : [`with node2's link back, node1's engines were not all registered and answering: ${JSON.stringify(run.after)}`]),
    ...(node2Clean ? [] : [`node2's engines did not exit cleanly: ${JSON.stringify(run.node2Exits)}, re-registered: ${run.registeredAgain.join(', ')}`]),
    ...(Number.isFinite(run.figures.detectMs) ? [] : ["node2's engines were not all declared dead while it was cut off"]),
  ];
  return {
    problems,
    where: 'rig', fault: "node2's link cut (2 of 4 engines), restored after the work", work: 'load-balanced map of 250 ms tasks from head, retries 3',
    tasks: run.tasks, lost: run.figures.lost, twiceUnreported: run.figures.twiceUnreported, detectMs: run.figures.detectMs, left,
    note: `heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms; ${run.figures.retried} tasks retried on node1; node2's engines exited by themselves (code 0) ${run.node2ExitedMs} ms after the cut; with the link back, ${run.after.late} late replies reported, node1's engines still registered and answering, none re-registered`,
  };
}

/** The controller's host (node1) cut off while the client on head waits on engines on node2. */
async function cutController(): Promise<Row> {
  const run = await cutControllerHost();
  const names = run.errorNames ?? [];
  // A task is lost unless its request failed with a clear error: [the direct view over both engines (2 tasks), the
  // load-balanced apply (1)].
  const clear = (name: string | undefined) => name !== undefined && name.split('+').every((part) => part === 'ControllerLostError' || part === 'EngineDiedError');
  const lost = (clear(names[0]) ? 0 : 2) + (clear(names[1]) ? 0 : 1);
  return {
    problems: run.enginesExited ? [] : ["node2's engines did not exit within 20 s of losing their controller"],
    where: 'rig', fault: "the controller's host (node1) cut off", work: "a direct apply on each of node2's 2 engines and a load-balanced one, from head",
    tasks: 3, lost, twiceUnreported: Math.max(0, run.taskRuns - 3),
    detectMs: run.clientMs ?? 'never', left: Object.values(run.left).reduce((n, pids) => n + pids.length, 0),
    note: `rejected with ${names.join(', ') || 'nothing (!)'} (client heartbeat timeout 10 s); node2's engines exited (codes ${run.engineExits.map((e) => e.code).join(', ')}) ${run.enginesMs} ms after the cut`,
  };
}

async function main(): Promise<number> {
  const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1]! : path.join(repoRoot(), 'docs', 'faults.md');
  const rows: Row[] = [];
  const failures: string[] = [];
  const run = async (scenario: () => Promise<Row>) => {
    try {
      const row = await scenario();
      rows.push(row);
      if (row.lost || row.twiceUnreported || row.left) failures.push(`${row.fault} (${row.work}): a figure that must be 0 is not`);
      for (const problem of row.problems ?? []) failures.push(`${row.fault}: ${problem}`);
    } catch (err) {
      failures.push(`${scenario.name}: ${(err as Error).message}`);
    }
  };
  for (const scenario of [killEngine.bind(null, 'SIGKILL'), killEngineDirect, stopEngine, killController, killClient]) await run(scenario);
  // The network faults need the rig; without it (and not under CI, where requireRig throws) their rows say why not.
  let rigMissing: string | false;
  try {
    rigMissing = requireRig('hosts');
  } catch (err) {
    rigMissing = (err as Error).message;
    failures.push(`network faults: ${rigMissing}`);
  }
  if (rigMissing === false) for (const scenario of [cutNode, cutController]) await run(scenario);
  const notRun = rigMissing === false ? [] : [
    `| rig | node2's link cut, restored after the work | load-balanced map from head | not run: ${rigMissing} | | | | | |`,
    `| rig | the controller's host cut off | applies from head pending | not run: ${rigMissing} | | | | | |`,
  ];
  const table = [
    '| where | fault | work | tasks | lost | run twice unreported | time to detect (ms) | processes left | note |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.where} | ${r.fault} | ${r.work} | ${r.tasks} | ${r.lost} | ${r.twiceUnreported} | ${r.detectMs} | ${r.left} | ${r.note} |`),
    ...notRun,
  ].join('\n');
  const text = `# Fault injection report\n\nGenerated by \`node dist/test/faults/run.js\` on ${new Date().toISOString()} (Node ${process.version}, ${process.platform}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}).\n` +
    `Real processes: rows "one host" run on this machine, rows "rig" on the multi-host test rig (hosts head, node1, node2 as namespaces with real TCP between them; scripts/rig). ` +
    `Every cluster is stopped and checked by pid afterwards, on every host ("processes left").\n` +
    `Must hold: tasks lost 0, run twice without a report 0, processes left 0. "Time to detect" is from the fault (signal, or the link going down) to the client seeing it (engine unregistered, or its results rejected).\n\n${table}\n\n` +
    (failures.length ? `## Failures\n\n${failures.map((f) => `- ${f}`).join('\n')}\n` : `Every figure that must hold, held${rigMissing === false ? '' : ' in the rows that ran (the rig\'s were not run)'}.\n`);
  await writeFile(out, text);
  console.log(text);
  return failures.length ? 1 : 0;
}

process.exitCode = await main();
