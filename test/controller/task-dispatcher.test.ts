/**
 * The dispatcher's bookkeeping in isolation: the world around it is a recorder of what it sends.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TASK_POLICIES } from '../../src/controller/policies/index.js';
import { TaskDispatcher, type DispatcherIO } from '../../src/controller/task-dispatcher.js';
import { Channels, Session, type Message } from '../../src/wire/protocol.js';
import { BATCH_REPLY, packReplies } from '../../src/wire/task-batch.js';

const session = new Session('k'.repeat(64));
const client = Buffer.from('client');

function recorder() {
  const sent = { engine: [] as { id: number; msgId: string }[], errors: [] as { msgId: string; name: string }[], aborts: [] as string[] };
  const io: DispatcherIO = {
    toEngine: (id, frames) => sent.engine.push({ id, msgId: Session.peekHeader(frames)!.msg_id }),
    toClient: () => {},
    toClientBatched: () => {},
    replyError: (_c, header, error) => sent.errors.push({ msgId: header.msg_id, name: error.name }),
    reencode: (msg, id) => session.encode({ ...msg, header: { ...msg.header, msg_id: id ?? msg.header.msg_id } }, Channels.controllerToEngine),
    abortOnEngine: (_id, ids) => sent.aborts.push(...ids),
  };
  return { io, sent };
}

function task(metadata: Record<string, unknown> = {}, bytes = 0) {
  const msg = session.message('apply_request', {}, { metadata: { balanced: true, ...metadata }, buffers: bytes ? [Buffer.alloc(bytes)] : [] });
  return { msg, frames: session.encode(msg, Channels.clientToCluster) };
}

const reply = (request: { msg: { header: any } }, status = 'ok') => {
  const msg = session.message('apply_reply', { status }, { parent: request.msg.header });
  return { msg, frames: session.encode(msg, Channels.engineToCluster) };
};

/** A task's id. */
const id = (t: { msg: Message }) => t.msg.header.msg_id;

describe('TaskDispatcher', () => {
  it('keeps at most hwm tasks on an engine and queues the rest', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 2);
    d.engineAdded(0);
    const tasks = [task(), task(), task()];
    for (const t of tasks) d.submit(client, t.msg, t.frames);
    assert.equal(sent.engine.length, 2);
    assert.equal(d.unassigned, 1);
    d.complete(0, tasks[0]!.msg.header.msg_id, reply(tasks[0]!).msg, reply(tasks[0]!).frames);
    assert.equal(sent.engine.length, 3);
    assert.equal(d.unassigned, 0);
  });

  it('waits for engines when there are none, then places queued tasks', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0);
    const t = task();
    d.submit(client, t.msg, t.frames);
    assert.equal(sent.engine.length, 0);
    d.engineAdded(4);
    assert.deepEqual(sent.engine, [{ id: 4, msgId: t.msg.header.msg_id }]);
  });

  it('drops held requests of finished tasks past its byte budget, oldest first, and says so on resubmit', () => {
    const { io } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0, { heldBytes: 3000, records: 1000 });
    d.engineAdded(0);
    const a = task({}, 2000);
    d.submit(client, a.msg, a.frames);
    d.complete(0, a.msg.header.msg_id, reply(a).msg, reply(a).frames);
    const b = task({}, 2000); // over budget now: a (finished) gives up its request
    d.submit(client, b.msg, b.frames);
    assert.match(d.resubmit(client, [{ old: a.msg.header.msg_id, new: 'n1' }])[0]!, /no longer held/);
    d.complete(0, b.msg.header.msg_id, reply(b).msg, reply(b).frames);
    assert.deepEqual(d.resubmit(client, [{ old: b.msg.header.msg_id, new: 'n2' }]), []);
  });

  it('keeps the number of records bounded, forgetting the oldest finished ones', () => {
    const { io } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0, { heldBytes: 1 << 20, records: 100 });
    d.engineAdded(0);
    for (let i = 0; i < 500; i++) {
      const t = task();
      d.submit(client, t.msg, t.frames);
      d.complete(0, t.msg.header.msg_id, reply(t).msg, reply(t).frames);
    }
    assert.ok(d.records().length <= 100, `${d.records().length} records`);
  });

  it('purges finished records but never unfinished ones', () => {
    const { io } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0);
    d.engineAdded(0);
    const done = task();
    const running = task();
    d.submit(client, done.msg, done.frames);
    d.submit(client, running.msg, running.frames);
    d.complete(0, done.msg.header.msg_id, reply(done).msg, reply(done).frames);
    assert.equal(d.purge(), 1);
    assert.deepEqual(d.records().map((r) => r.msgId), [running.msg.header.msg_id]);
  });
});

describe('TaskDispatcher: quick tasks beyond hwm (hwmMs)', () => {
  const fnTask = (source: string) => {
    const msg = session.message('apply_request', { fn: { source } }, { metadata: { balanced: true } });
    return { msg, frames: session.encode(msg, Channels.clientToCluster) };
  };
  /** Submit `n` tasks of one function. */
  const submitTasks = (d: TaskDispatcher, n: number, source = '() => null') => {
    for (let i = 0; i < n; i++) {
      const t = fnTask(source);
      d.submit(client, t.msg, t.frames);
    }
  };
  /** The replies to every task sent so far (and forget them). */
  const answers = (sent: { engine: { msgId: string }[] }) =>
    sent.engine.splice(0).map((s) => session.message('apply_reply', { status: 'ok' }, { parent: { msg_id: s.msgId } }));

  it('an engine holds hwmMs of quick tasks at the pace it reports, and hwm again once given a task of another kind', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, { hwm: 4, hwmMs: 2 });
    d.engineAdded(0);
    submitTasks(d, 300);
    assert.equal(d.loadOf(0), 4, 'hwm while its pace is unknown');
    // It ran its 4 in 0.04 ms (10 µs each): 2 ms of them is 200.
    d.completeMany(0, answers(sent), 0.04);
    assert.equal(d.loadOf(0), 200);
    assert.equal(d.unassigned, 96);
    // A slower pace lowers the limit: 200 answered in 20 ms (0.1 ms each) moves the pace to 0.037 ms, so 54 tasks.
    d.completeMany(0, answers(sent), 20);
    assert.equal(d.loadOf(0), 54);
    assert.equal(d.unassigned, 42);
  });

  it('a task of another kind brings the limit back to hwm until its own pace is known', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, { hwm: 2, hwmMs: 1 });
    d.engineAdded(0);
    submitTasks(d, 2);
    d.completeMany(0, answers(sent), 0.002);
    assert.equal(d.loadOf(0), 0);
    submitTasks(d, 50);
    assert.equal(d.loadOf(0), 50, 'quick tasks of the known kind: up to 1 ms of them');
    const slow = [fnTask('(x) => heavy(x)'), fnTask('(x) => heavy(x)'), fnTask('(x) => heavy(x)')];
    for (const t of slow) d.submit(client, t.msg, t.frames);
    assert.equal(d.loadOf(0), 51, 'the first of the new kind goes (the engine held less than its limit), the rest wait');
    assert.equal(d.unassigned, 2);
    // Answers of mixed kinds tell nothing of the new kind's pace: hwm still holds.
    d.completeMany(0, answers(sent), 0.051);
    assert.equal(d.loadOf(0), 2);
  });

  /** A dispatcher over `engines` idle engines whose io records each message's engine and number of tasks. */
  const batching = (engines: number, load: { hwm: number; hwmMs: number }) => {
    const { io, sent } = recorder();
    const messages: { id: number; tasks: string[] }[] = [];
    io.toEngine = (engineId, frames) => {
      const header = Session.peekHeader(frames)!;
      messages.push({ id: engineId, tasks: header.msg_type === 'batch_request' ? batched.shift()! : [header.msg_id] });
      sent.engine.push({ id: engineId, msgId: header.msg_id });
    };
    const batched: string[][] = [];
    io.encodeBatch = (msgs) => {
      batched.push(msgs.map((m) => m.header.msg_id));
      return session.encode(session.message('batch_request', {}), Channels.controllerToEngine);
    };
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, load);
    for (let e = 0; e < engines; e++) d.engineAdded(e);
    return { d, messages };
  };
  /** `n` tasks of one function, submitted together (as a client's batch_request is). */
  const submitBatch = (d: TaskDispatcher, n: number, source = '() => null') =>
    d.submitMany(client, Array.from({ length: n }, () => fnTask(source).msg));
  /** Answer every task of `messages` (and forget them), each alone, saying it ran in `ranMs`. */
  const answerAlone = (d: TaskDispatcher, messages: { id: number; tasks: string[] }[], ranMs: number) => {
    for (const m of messages.splice(0)) {
      for (const msgId of m.tasks) {
        const r = session.message('apply_reply', { status: 'ok' }, { parent: { msg_id: msgId } as Message['header'], metadata: { ranMs } });
        d.complete(m.id, msgId, r, session.encode(r, Channels.engineToCluster));
      }
    }
  };

  it('quick tasks of a known pace go to idle engines many per message, hwmMs / 2 of them each', () => {
    const { d, messages } = batching(10, { hwm: 4, hwmMs: 2 });
    submitBatch(d, 10);
    assert.deepEqual(messages.map((m) => m.tasks.length), Array(10).fill(1), 'pace unknown: one task per idle engine');
    // Each engine answers alone that its task ran in 10 us: 1 ms of them is 100.
    answerAlone(d, messages, 0.01);
    submitBatch(d, 250);
    assert.deepEqual(messages.map((m) => m.tasks.length), [100, 100, 50]);
    assert.equal(new Set(messages.map((m) => m.id)).size, 3, 'three engines, one message each');
    assert.equal(d.unassigned, 0);
  });

  it('slower tasks still go one per idle engine, and a task of another kind goes alone', () => {
    const { d, messages } = batching(10, { hwm: 4, hwmMs: 2 });
    submitBatch(d, 10);
    answerAlone(d, messages, 0.6); // more than 1 ms for two of them
    submitBatch(d, 10);
    assert.deepEqual(messages.map((m) => m.tasks.length), Array(10).fill(1));
    const quick = batching(10, { hwm: 4, hwmMs: 2 });
    submitBatch(quick.d, 10);
    answerAlone(quick.d, quick.messages, 0.01);
    // A task of another kind first: its pace is unknown, so it goes alone, and the no-ops behind it fill another engine.
    quick.d.submitMany(client, [fnTask('(x) => heavy(x)').msg, ...Array.from({ length: 30 }, () => fnTask('() => null').msg)]);
    assert.deepEqual(quick.messages.map((m) => m.tasks.length), [1, 30]);
  });

  it('tasks an engine gives back go to the queue front in order, unchanged, and are placed again', () => {
    const { d, messages } = batching(2, { hwm: 4, hwmMs: 2 });
    submitBatch(d, 2);
    answerAlone(d, messages, 0.01);
    submitBatch(d, 50);
    assert.deepEqual(messages.map((m) => [m.id, m.tasks.length]), [[0, 50]]);
    const [, ...rest] = messages.splice(0)[0]!.tasks;
    // Engine 0 ran the first slowly and gives back the rest (and an id nobody knows).
    d.returned(0, [...rest, 'no-such-task']);
    assert.equal(d.loadOf(0), 1, 'the task it did not give back (it is answering it) stays');
    assert.deepEqual(messages.map((m) => [m.id, m.tasks]), [[1, rest]], 'placed again at once, in order, on the idle engine');
    assert.ok(d.records({ msgIds: rest }).every((r) => r.state === 'running' && r.engineId === 1 && r.retries === 0));
    d.returned(0, rest);
    assert.equal(d.loadOf(1), 49, 'ids now running elsewhere are ignored');
  });

  it('with hwmMs 0 no pace is kept: tasks spread one per idle engine', () => {
    const { d, messages } = batching(10, { hwm: 4, hwmMs: 0 });
    submitBatch(d, 10);
    answerAlone(d, messages, 0.01);
    submitBatch(d, 20);
    assert.deepEqual(messages.map((m) => m.tasks.length), Array(10).fill(2));
  });

  it('without a reported pace, or with hwmMs 0, hwm alone decides', () => {
    for (const load of [{ hwm: 3, hwmMs: 5 }, { hwm: 3, hwmMs: 0 }, 3]) {
      const { io, sent } = recorder();
      const d = new TaskDispatcher(io, TASK_POLICIES.leastload, load);
      d.engineAdded(0);
      submitTasks(d, 20);
      const noPaceReported = typeof load === 'object' && load.hwmMs === 5;
      d.completeMany(0, answers(sent), noPaceReported ? undefined : 0.003);
      assert.equal(d.loadOf(0), 3, JSON.stringify(load));
    }
  });
});

describe('TaskDispatcher: replies kept for clients that ask again', () => {
  const finish = (d: TaskDispatcher, metadata: Record<string, unknown> = {}, bytes = 0) => {
    const t = task(metadata);
    d.submit(client, t.msg, t.frames);
    const r = session.message('apply_reply', { status: 'ok' }, { parent: t.msg.header, buffers: bytes ? [Buffer.alloc(bytes, 7)] : [] });
    d.complete(0, t.msg.header.msg_id, r, session.encode(r, Channels.engineToCluster));
    return t.msg.header.msg_id;
  };
  const states = (d: TaskDispatcher, ids: string[], from = client) => d.results(from, ids).map((o) => o.state);
  /** The signed frames of one `batch_reply` holding `replies`, as an engine sends it. */
  const batchReplyFrames = (replies: Message[]) => {
    const { content, buffers } = packReplies(replies, 0);
    return session.encode(session.message(BATCH_REPLY, content, { buffers }), Channels.engineToCluster);
  };

  it('answers with the reply, and forgets the oldest past its byte bound, but not those sent with keepResult', () => {
    const { io } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0, { replyBytes: 6000 });
    d.engineAdded(0);
    const kept = finish(d, { keepResult: true }, 4000);
    const a = finish(d, {}, 2000);
    const b = finish(d, {}, 2000);
    const c = finish(d, {}, 2000); // a is pushed out: a, b and c (2,512 bytes each, with the 512 counted per reply) do not fit in 6000
    assert.deepEqual(states(d, [kept, a, b, c, 'never-sent']), ['replied', 'forgotten', 'replied', 'replied', 'unknown']);
    const outcome = d.results(client, [b])[0]!;
    assert.ok(outcome.state === 'replied' && outcome.reply.buffers[0]!.length === 2000 && outcome.reply.parent.msg_id === b);
    assert.equal(d.purge([kept]), 1);
    assert.deepEqual(states(d, [kept]), ['unknown'], 'purged: the record and its reply are gone');
  });

  it("counts a batch reply's frames whole while any of its tasks keeps them, and frees them with the last", () => {
    const { io } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, { hwm: 3 }, { replyBytes: 40_000 });
    d.engineAdded(0);
    const requests = [task(), task(), task()];
    for (const t of requests) d.submit(client, t.msg, t.frames);
    // One engine message answers all three: a 30,000-byte result and two small ones, sharing the batch's frames.
    const replies = requests.map((t, i) =>
      session.message('apply_reply', { status: 'ok' }, { parent: t.msg.header, buffers: [Buffer.alloc(i === 0 ? 30_000 : 10, 1)] }),
    );
    const batchFrames = batchReplyFrames(replies);
    d.completeMany(0, replies, undefined, batchFrames);
    const ids = requests.map((t) => t.msg.header.msg_id);
    assert.deepEqual(states(d, ids), ['replied', 'replied', 'replied']);
    // 15,000 more bytes do not fit beside the batch's 30,000: the whole batch goes (a share per task let the two
    // small ones stay, holding all 30,000 bytes while counting a third each).
    const single = finish(d, {}, 15_000);
    assert.deepEqual(states(d, [...ids, single]), ['forgotten', 'forgotten', 'forgotten', 'replied']);
  });

  it('keeps no part of a batch reply whose frames alone exceed the bound', () => {
    const { io } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, { hwm: 2 }, { replyBytes: 20_000 });
    d.engineAdded(0);
    const requests = [task(), task()];
    for (const t of requests) d.submit(client, t.msg, t.frames);
    const replies = requests.map((t, i) =>
      session.message('apply_reply', { status: 'ok' }, { parent: t.msg.header, buffers: [Buffer.alloc(i === 0 ? 30_000 : 10, 1)] }),
    );
    const batchFrames = batchReplyFrames(replies);
    d.completeMany(0, replies, undefined, batchFrames);
    assert.deepEqual(states(d, requests.map((t) => t.msg.header.msg_id)), ['forgotten', 'forgotten']);
  });

  it('forgets replies older than replyMs once newer ones come', async () => {
    const { io } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0, { replyMs: 20 });
    d.engineAdded(0);
    const old = finish(d);
    await new Promise((r) => setTimeout(r, 40));
    const fresh = finish(d);
    assert.deepEqual(states(d, [old, fresh]), ['forgotten', 'replied']);
  });

  it("gives a controller-made failure again, and delivers a pending task's reply to another client that asked", () => {
    const delivered: string[] = [];
    const errors: { to: string; name: string }[] = [];
    const { io } = recorder();
    io.toClient = (to) => delivered.push(to.toString());
    io.replyError = (to, _h, error) => errors.push({ to: to.toString(), name: error.name });
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0);
    d.engineAdded(0);
    const other = Buffer.from('other');
    const running = task();
    d.submit(client, running.msg, running.frames);
    assert.deepEqual(states(d, [running.msg.header.msg_id], other), ['pending']);
    d.complete(0, running.msg.header.msg_id, reply(running).msg, reply(running).frames);
    assert.deepEqual(delivered, ['client', 'other'], 'its own client and the one that asked');

    const dependent = task({ after: ['never-submitted'] });
    d.submit(client, dependent.msg, dependent.frames);
    const outcome = d.results(other, [dependent.msg.header.msg_id])[0]!;
    assert.ok(outcome.state === 'failed' && outcome.failure.name === 'DependencyError', JSON.stringify(outcome));
  });
});

describe('TaskDispatcher: an engine that dies', () => {

  it('fails or runs again exactly the tasks running on it, however they came to run there', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0);
    d.engineAdded(0);
    const done = Array.from({ length: 20 }, () => task());
    for (const t of done) {
      d.submit(client, t.msg, t.frames);
      d.complete(0, id(t), reply(t).msg, reply(t).frames);
    }
    const plain = task(); // no retries: fails
    const retried = task({ retries: 1 }); // fails once, runs again on engine 0 (the only one), then has none left
    const spare = task({ retries: 1 }); // runs again on engine 1
    for (const t of [plain, retried, spare]) d.submit(client, t.msg, t.frames);
    d.complete(0, id(retried), reply(retried, 'error').msg, reply(retried, 'error').frames);
    const direct = { msg: session.message('apply_request', {}, {}) };
    d.recordDirect(client, direct.msg, 0);
    assert.equal(d.loadOf(0), 4);
    d.engineAdded(1);
    assert.equal(d.loadOf(1), 0, 'nothing was queued for engine 1 to take');

    d.engineRemoved(0, 'its process exited');
    const died = [plain, retried, direct].map(id).sort();
    assert.deepEqual(sent.errors.map((e) => e.msgId).sort(), died);
    assert.ok(sent.errors.every((e) => e.name === 'EngineDiedError'), JSON.stringify(sent.errors));
    assert.deepEqual(sent.engine.at(-1), { id: 1, msgId: id(spare) });
    const state = new Map(d.records().map((r) => [r.msgId, r]));
    for (const t of done) assert.equal(state.get(id(t))!.state, 'completed');
    assert.equal(state.get(id(spare))!.state, 'running');
    assert.equal(state.get(id(spare))!.engineId, 1);

    // Its run on engine 1 is that engine's: it dies with it (no retries left).
    d.engineRemoved(1, 'its process exited');
    assert.deepEqual(sent.errors.map((e) => e.msgId).sort(), [...died, id(spare)].sort());
    assert.equal(d.records({ state: 'running' }).length, 0);
  });
  it('fails the queued tasks only it could take, and leaves the others queued', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 1);
    d.engineAdded(0);
    d.engineAdded(1);
    const ran = task({ targets: [0] });
    d.submit(client, ran.msg, ran.frames);
    d.complete(0, id(ran), reply(ran).msg, reply(ran).frames);
    const busy0 = task({ targets: [0] });
    const busy1 = task({ targets: [1] });
    const only0 = task({ targets: [0] });
    const either = task({ targets: [0, 1] });
    const plain = task();
    const follower = task({ follow: [id(ran)] }); // must run where `ran` ran: engine 0
    for (const t of [busy0, busy1, only0, either, plain, follower]) d.submit(client, t.msg, t.frames);
    assert.equal(d.unassigned, 4);

    d.engineRemoved(0, 'its process exited');
    assert.deepEqual(sent.errors.map((e) => [e.msgId, e.name]).sort(), [
      [id(busy0), 'EngineDiedError'], [id(only0), 'DependencyError'], [id(follower), 'DependencyError'],
    ].sort());
    assert.equal(d.unassigned, 2);
    d.complete(1, id(busy1), reply(busy1).msg, reply(busy1).frames);
    assert.deepEqual(sent.engine.at(-1), { id: 1, msgId: id(either) });
    d.complete(1, id(either), reply(either).msg, reply(either).frames);
    assert.deepEqual(sent.engine.at(-1), { id: 1, msgId: id(plain) });
  });
});

describe('TaskDispatcher: a task run again', () => {

  it('goes ahead of the tasks waiting, with tasks before it in the queue or none', () => {
    // Tasks before it (the queue's head is past them): the slot before the head takes it.
    {
      const { io, sent } = recorder();
      const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 1);
      d.engineAdded(0);
      const again = task({ retries: 1 });
      const waiting = task();
      d.submit(client, again.msg, again.frames);
      d.submit(client, waiting.msg, waiting.frames);
      d.complete(0, id(again), reply(again, 'error').msg, reply(again, 'error').frames);
      d.complete(0, id(again), reply(again).msg, reply(again).frames);
      assert.deepEqual(sent.engine.map((e) => e.msgId), [id(again), id(again), id(waiting)]);
    }
    // None before it (purge() let the emptied queue go, and a task came after): room is made ahead of the queue.
    {
      const { io, sent } = recorder();
      const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 1);
      d.engineAdded(0);
      const again = task({ retries: 1 });
      d.submit(client, again.msg, again.frames);
      d.purge();
      const waiting = task();
      d.submit(client, waiting.msg, waiting.frames);
      d.complete(0, id(again), reply(again, 'error').msg, reply(again, 'error').frames);
      d.complete(0, id(again), reply(again).msg, reply(again).frames);
      assert.deepEqual(sent.engine.map((e) => e.msgId), [id(again), id(again), id(waiting)]);
    }
  });
});

describe('TaskDispatcher: a task that waits for an engine it has not tried', () => {
  it('keeps its place at the front while the tasks behind it run, and goes when that engine frees', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 1);
    d.engineAdded(0);
    d.engineAdded(1);
    const again = task({ retries: 1 });
    const hold = task({ targets: [1] });
    const [q1, q2, q3] = [task(), task(), task()];
    for (const t of [again, hold, q1, q2, q3]) d.submit(client, t.msg, t.frames);
    d.complete(0, id(again), reply(again, 'error').msg, reply(again, 'error').frames); // waits for engine 1
    d.complete(0, id(q1), reply(q1).msg, reply(q1).frames);
    d.complete(1, id(hold), reply(hold).msg, reply(hold).frames);
    d.complete(0, id(q2), reply(q2).msg, reply(q2).frames);
    assert.deepEqual(sent.engine.map((e) => [e.id, e.msgId]), [
      [0, id(again)], [1, id(hold)], [0, id(q1)], [0, id(q2)], [1, id(again)], [0, id(q3)],
    ]);
  });
});

describe('TaskDispatcher: tasks pinned to busy engines', () => {
  const done = (d: TaskDispatcher, engine: number, t: { msg: Message }) => d.complete(engine, id(t), reply(t).msg, reply(t).frames);

  it('wait for their engines in order while the tasks behind them run elsewhere, and take an engine that comes', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 1);
    d.engineAdded(0);
    d.engineAdded(1);
    const [p1, p2, p3, p4] = [task({ targets: [0] }), task({ targets: [0] }), task({ targets: [0, 2] }), task({ targets: [0] })];
    const [q1, q2] = [task(), task()];
    for (const t of [p1, p2, p3, p4, q1, q2]) d.submit(client, t.msg, t.frames);
    const where = () => sent.engine.map((e) => [e.id, e.msgId]);
    assert.deepEqual(where(), [[0, id(p1)], [1, id(q1)]]);
    done(d, 1, q1);
    assert.deepEqual(where().at(-1), [1, id(q2)]);
    d.abort([id(p2)]);
    done(d, 0, p1); // p2 was aborted while it waited: p3 is next for engine 0
    assert.deepEqual(where().at(-1), [0, id(p3)]);
    done(d, 0, p3);
    assert.deepEqual(where().at(-1), [0, id(p4)]);
    // A task that may run on an engine registered after it waited: it goes there.
    const p5 = task({ targets: [0, 2] });
    d.submit(client, p5.msg, p5.frames);
    assert.equal(d.unassigned, 1);
    d.engineAdded(2);
    assert.deepEqual(where().at(-1), [2, id(p5)]);
    assert.equal(d.unassigned, 0);
    assert.equal(sent.engine.length, 6);
  });

  it('keep their order through many, and those placed on another engine are dropped from a full one', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 1);
    for (const e of [0, 1, 2]) d.engineAdded(e); // engine 2, idle, makes every pass look at the queue
    const busy = task({ targets: [0] });
    d.submit(client, busy.msg, busy.frames); // engine 0 stays full until the end
    const either = Array.from({ length: 3000 }, () => task({ targets: [0, 1] }));
    for (const t of either) d.submit(client, t.msg, t.frames);
    // Engine 1 runs them one by one, in the order they came.
    for (let i = 0; i < either.length; i++) {
      assert.deepEqual(sent.engine.at(-1), { id: 1, msgId: id(either[i]!) });
      done(d, 1, either[i]!);
    }
    // Still waiting for engine 0 (past the parked list's first limit): these, not the 3,000 gone, are next there.
    const only0 = Array.from({ length: 1500 }, () => task({ targets: [0] }));
    for (const t of only0) d.submit(client, t.msg, t.frames);
    done(d, 0, busy);
    for (let i = 0; i < only0.length; i++) {
      assert.deepEqual(sent.engine.at(-1), { id: 0, msgId: id(only0[i]!) });
      done(d, 0, only0[i]!);
    }
    assert.equal(sent.engine.length, 1 + either.length + only0.length);
  });
});
