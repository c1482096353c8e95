/**
 * The dispatcher's cost per task must not grow with the number of unfinished tasks (issue 13, defect 3): submit N
 * load-balanced tasks at once to a dispatcher with 8 engines (hwm 16, the default; `--engines N` for more), then answer them all, and
 * compare the time per task at 10,000 and 200,000. The dispatcher runs alone, its I/O a recorder (no sockets), so
 * the figure is its own bookkeeping. Also reports the heap before, after the run, and after `purge()`.
 *
 * `node --expose-gc dist/bench/dispatcher-scale.js [--small 10000] [--large 200000] [--engines 8]`; exit status 1 when the large
 * run's time per task is more than 1.5 × the small run's.
 * @module
 */
import { Channels, Session } from '../src/wire/protocol.js';
import { TASK_POLICIES } from '../src/controller/policies/index.js';
import { TaskDispatcher, type DispatcherIO } from '../src/controller/task-dispatcher.js';

const session = new Session('k'.repeat(64));

function run(n: number, engines: number): { perTaskUs: number; heapMB: { before: number; loaded: number; purged: number } } {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  gc();
  const before = process.memoryUsage().heapUsed;
  const onEngine: { id: number; msgId: string }[] = [];
  const io: DispatcherIO = {
    toEngine: (id, frames) => onEngine.push({ id, msgId: Session.peekHeader(frames)!.msg_id }),
    toClient: () => {},
    toClientBatched: () => {},
    replyError: () => {},
    reencode: (msg, id) => session.encode({ ...msg, header: { ...msg.header, msg_id: id ?? msg.header.msg_id } }, Channels.controllerToEngine),
    abortOnEngine: () => {},
  };
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

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const engines = arg('engines', 8);
const small = run(arg('small', 10_000), engines);
const large = run(arg('large', 200_000), engines);
const ratio = large.perTaskUs / small.perTaskUs;
console.log(JSON.stringify({ engines, small, large, ratio: Math.round(ratio * 100) / 100, target: 1.5 }));
process.exitCode = ratio <= 1.5 ? 0 : 1;
