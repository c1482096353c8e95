/**
 * The dispatcher's cost per task must not grow with the number of unfinished tasks (issue 13, defect 3): submit N
 * load-balanced tasks at once to a dispatcher with 8 engines (hwm 16, the default; `--engines N` for more), then answer them all, and
 * compare the time per task at 10,000 and 200,000. The dispatcher runs alone, its I/O a recorder (no sockets), so
 * the figure is its own bookkeeping. Also reports the heap before, after the run, and after `purge()`.
 *
 * `node --expose-gc dist/bench/dispatcher-scale.js [--small 10000] [--large 200000] [--engines 8] [--steady 400000]
 * [--death-engines 200] [--pinned-small 2000] [--pinned-large 50000]`; exit status 1 when the large run's time per task
 * is more than 1.5 × the small run's, when, in a long run of tasks submitted and answered one at a time (`--steady`),
 * the last 50,000 cost more than 1.5 × the first, when engines dying with `--large` tasks queued cost more per engine
 * than 1.5 × with `--small` queued, or when tasks pinned to one busy engine, or queued behind a retry that waits for
 * one, cost more per task at `--pinned-large` than 1.5 × at `--pinned-small`.
 * @module
 */
import { Channels, Session } from '../src/wire/protocol.js';
import { TASK_POLICIES } from '../src/controller/policies/index.js';
import { TaskDispatcher, type DispatcherIO } from '../src/controller/task-dispatcher.js';

const session = new Session('k'.repeat(64));

/** The dispatcher's world as a recorder: what it sends to engines goes into `onEngine` (when given), the rest nowhere. */
function recordingIO(onEngine?: { id: number; msgId: string }[]): DispatcherIO {
  return {
    toEngine: (id, frames) => void onEngine?.push({ id, msgId: Session.peekHeader(frames)!.msg_id }),
    toClient: () => {},
    toClientBatched: () => {},
    replyError: () => {},
    reencode: (msg, id) => session.encode({ ...msg, header: { ...msg.header, msg_id: id ?? msg.header.msg_id } }, Channels.controllerToEngine),
    abortOnEngine: () => {},
  };
}

function run(n: number, engines: number): { perTaskUs: number; heapMB: { before: number; loaded: number; purged: number } } {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  gc();
  const before = process.memoryUsage().heapUsed;
  const onEngine: { id: number; msgId: string }[] = [];
  const io = recordingIO(onEngine);
  const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 16);
  for (let e = 0; e < engines; e++) d.engineAdded(e);
  const client = Buffer.from('client');
  // Made before the clock starts: the figure is the dispatcher's, not the signing's.
  const requests = Array.from({ length: n }, () => {
    const msg = session.message('apply_request', { fn: { source: 'x=>x' } }, { metadata: { balanced: true }, buffers: [Buffer.alloc(16)] });
    return { msg, frames: session.encode(msg, Channels.clientToCluster) };
  });
  const ok = session.message('apply_reply', { status: 'ok' });
  const okFrames = session.encode(ok, Channels.engineToCluster);
  const start = process.hrtime.bigint();
  for (const r of requests) d.submit(client, r.msg, r.frames);
  let done = 0;
  while (done < onEngine.length) {
    const { id, msgId } = onEngine[done++]!;
    d.complete(id, msgId, { ...ok, parent: { msg_id: msgId } }, okFrames);
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1000;
  if (done !== n) throw new Error(`only ${done} of ${n} tasks ran`);
  requests.length = 0;
  gc();
  const loaded = process.memoryUsage().heapUsed;
  d.purge();
  onEngine.length = 0;
  gc();
  const purged = process.memoryUsage().heapUsed;
  const mb = (b: number) => Math.round(b / 1e5) / 10;
  return { perTaskUs: elapsed / n, heapMB: { before: mb(before), loaded: mb(loaded), purged: mb(purged) } };
}

/**
 * A long-running cluster: `n` tasks submitted and answered one at a time, so that the bounds on held requests
 * (64 MiB), kept replies and records (100,000) are reached and the oldest finished tasks give theirs up at every new
 * one. Returns the µs per task of the first and of the last `window` tasks: the second must not grow (it grew from 5
 * to 25–70 µs while finished tasks were kept in Sets looked at from the front; see src/util/fifo.ts).
 */
function steady(n: number, window: number): { firstUs: number; lastUs: number } {
  const io = recordingIO();
  const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 16);
  d.engineAdded(0);
  const client = Buffer.from('client');
  const okFrames = session.encode(session.message('apply_reply', { status: 'ok' }), Channels.engineToCluster);
  const timeWindow = () => {
    // Made before the clock starts, a window at a time (all n at once would be the heap's figure, not the dispatcher's).
    const requests = Array.from({ length: window }, () => {
      const msg = session.message('apply_request', { fn: { source: 'x=>x' } }, { metadata: { balanced: true }, buffers: [Buffer.alloc(512)] });
      return { msg, frames: session.encode(msg, Channels.clientToCluster) };
    });
    const start = process.hrtime.bigint();
    for (const r of requests) {
      d.submit(client, r.msg, r.frames);
      const msgId = r.msg.header.msg_id;
      d.complete(0, msgId, { header: { ...r.msg.header, msg_type: 'apply_reply' }, parent: { msg_id: msgId }, metadata: {}, content: { status: 'ok' }, buffers: [] }, okFrames);
    }
    return Math.round(Number(process.hrtime.bigint() - start) / 1000 / window * 100) / 100;
  };
  const firstUs = timeWindow();
  for (let done = 2 * window; done < n; done += window) timeWindow();
  return { firstUs, lastUs: timeWindow() };
}

/**
 * Engines dying with `queued` tasks waiting (every other one pinned to the engine that stays, `targets`): `engines`
 * engines each holding `hwm` tasks that may run again, all but one removed. Returns the median µs per engine removed,
 * which must not grow with the queue (engineRemoved scanned every record, the whole queue, then every pinned task, and each
 * retry was a splice at the queue's head: losing 1,000 engines with 84,000 tasks queued blocked the controller for
 * ~4-6 s).
 */
function deaths(queued: number, engines: number): number {
  const io = recordingIO();
  const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 16);
  for (let e = 0; e < engines; e++) d.engineAdded(e);
  const client = Buffer.from('client');
  for (let i = 0; i < queued + 16 * engines; i++) {
    const metadata = { balanced: true, retries: 1, ...(i % 2 === 1 && { targets: [engines - 1] }) };
    const msg = session.message('apply_request', { fn: { source: 'x=>x' } }, { metadata });
    d.submit(client, msg, session.encode(msg, Channels.clientToCluster));
  }
  const each: number[] = [];
  for (let e = 0; e < engines - 1; e++) {
    const start = process.hrtime.bigint();
    d.engineRemoved(e, 'its process exited');
    each.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  if (d.loadOf(engines - 1) !== 16) throw new Error(`the last engine holds ${d.loadOf(engines - 1)} tasks, not 16`);
  // The median: a collection, or the one copy that makes room ahead of a long queue, falls on one death of the 200.
  return Math.round(each.sort((a, b) => a - b)[each.length >> 1]! * 100) / 100;
}

/**
 * `n` tasks pinned to one of four engines (`targets: [0]`) while the other three are idle, answered one at a time.
 * Returns the µs per task, which must not grow with `n` (every pass walked the whole queue of tasks waiting for
 * engine 0 while the others had room: 4 ms a task at 20,000).
 */
function pinned(n: number): number {
  const onEngine: { id: number; msgId: string }[] = [];
  const io = recordingIO(onEngine);
  const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 16);
  for (let e = 0; e < 4; e++) d.engineAdded(e);
  const client = Buffer.from('client');
  const ok = session.message('apply_reply', { status: 'ok' });
  const okFrames = session.encode(ok, Channels.engineToCluster);
  for (let i = 0; i < n; i++) {
    const msg = session.message('apply_request', { fn: { source: 'x=>x' } }, { metadata: { balanced: true, targets: [0] } });
    d.submit(client, msg, session.encode(msg, Channels.clientToCluster));
  }
  const start = process.hrtime.bigint();
  let done = 0;
  while (done < onEngine.length) {
    const { id, msgId } = onEngine[done++]!;
    d.complete(id, msgId, { ...ok, parent: { msg_id: msgId } }, okFrames);
  }
  if (done !== n) throw new Error(`only ${done} of ${n} pinned tasks ran`);
  return Math.round(Number(process.hrtime.bigint() - start) / 1000 / n * 100) / 100;
}

/**
 * `n` tasks queued behind a retry that waits for the one engine it has not tried, which stays full; the other engine
 * runs them one at a time. Returns the µs per task, which must not grow with `n` (every pass rebuilt the queue around
 * the waiting task: 21 µs a task at 10,000, 475 at 50,000).
 */
function blocked(n: number): number {
  const onEngine: { id: number; msgId: string }[] = [];
  const io = recordingIO(onEngine);
  const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 1);
  d.engineAdded(0);
  d.engineAdded(1);
  const client = Buffer.from('client');
  const submit = (metadata: Record<string, unknown>) => {
    const msg = session.message('apply_request', { fn: { source: 'x=>x' } }, { metadata: { balanced: true, ...metadata } });
    d.submit(client, msg, session.encode(msg, Channels.clientToCluster));
    return msg.header.msg_id;
  };
  const again = submit({ retries: 1 }); // engine 0
  submit({ targets: [1] }); // engine 1, never answered
  for (let i = 0; i < n; i++) submit({});
  const failed = session.message('apply_reply', { status: 'error', error: { name: 'Error', message: 'once' } });
  d.complete(0, again, { ...failed, parent: { msg_id: again } });
  const ok = session.message('apply_reply', { status: 'ok' });
  const okFrames = session.encode(ok, Channels.engineToCluster);
  const start = process.hrtime.bigint();
  let done = 0;
  for (let i = 0; i < onEngine.length; i++) {
    const { id, msgId } = onEngine[i]!;
    if (id !== 0 || msgId === again) continue;
    d.complete(0, msgId, { ...ok, parent: { msg_id: msgId } }, okFrames);
    done++;
  }
  if (done !== n) throw new Error(`only ${done} of ${n} tasks ran behind the waiting retry`);
  return Math.round(Number(process.hrtime.bigint() - start) / 1000 / n * 100) / 100;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const engines = arg('engines', 8);
const small = run(arg('small', 10_000), engines);
const large = run(arg('large', 200_000), engines);
const ratio = large.perTaskUs / small.perTaskUs;
const longRun = steady(arg('steady', 400_000), 50_000);
const steadyRatio = longRun.lastUs / longRun.firstUs;
const deathEngines = arg('death-engines', 200);
deaths(arg('small', 10_000), deathEngines); // untimed: the first run is mostly V8 compiling
const death = { smallUs: deaths(arg('small', 10_000), deathEngines), largeUs: deaths(arg('large', 200_000), deathEngines) };
const deathRatio = death.largeUs / death.smallUs;
pinned(arg('pinned-small', 2_000)); // untimed: V8 compiling
const pin = { smallUs: pinned(arg('pinned-small', 2_000)), largeUs: pinned(arg('pinned-large', 50_000)) };
const pinnedRatio = pin.largeUs / pin.smallUs;
blocked(arg('pinned-small', 2_000)); // untimed: V8 compiling
const behind = { smallUs: blocked(arg('pinned-small', 2_000)), largeUs: blocked(arg('pinned-large', 50_000)) };
const blockedRatio = behind.largeUs / behind.smallUs;
console.log(JSON.stringify({
  engines, small, large, ratio: Math.round(ratio * 100) / 100,
  steady: { ...longRun, ratio: Math.round(steadyRatio * 100) / 100 },
  deaths: { engines: deathEngines, perEngineUs: death, ratio: Math.round(deathRatio * 100) / 100 },
  pinned: { perTaskUs: pin, ratio: Math.round(pinnedRatio * 100) / 100 },
  blocked: { perTaskUs: behind, ratio: Math.round(blockedRatio * 100) / 100 }, target: 1.5,
}));
process.exitCode = [ratio, steadyRatio, deathRatio, pinnedRatio, blockedRatio].every((r) => r <= 1.5) ? 0 : 1;
