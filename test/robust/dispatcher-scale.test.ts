/**
 * Defect 3 of issue 13, the data structures: finished tasks are released and trimmed oldest first without walking
 * past unfinished ones (which keep their requests, for retries), and purge() leaves nothing behind. The cost per
 * submit is measured by bench/dispatcher-scale.ts (10,000 vs 200,000 unfinished tasks), not here.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Channels, Session } from '../../src/wire/protocol.js';
import { TASK_POLICIES } from '../../src/controller/policies/index.js';
import { TaskDispatcher, type DispatcherIO } from '../../src/controller/task-dispatcher.js';

const session = new Session('k'.repeat(64));
const client = Buffer.from('client');

function setup(limits: { heldBytes: number; records: number }) {
  const onEngine: { id: number; msgId: string }[] = [];
  const errors: string[] = [];
  const io: DispatcherIO = {
    toEngine: (id, frames) => onEngine.push({ id, msgId: Session.peekHeader(frames)!.msg_id }),
    toClient: () => {},
    toClientBatched: () => {},
    replyError: (_c, _h, e) => errors.push(e.message),
    reencode: (msg, id) => session.encode({ ...msg, header: { ...msg.header, msg_id: id ?? msg.header.msg_id } }, Channels.controllerToEngine),
    abortOnEngine: () => {},
  };
  return { d: new TaskDispatcher(io, TASK_POLICIES.leastload, 0, limits), onEngine, errors };
}

const submit = (d: TaskDispatcher, bytes = 100) => {
  const msg = session.message('apply_request', { fn: { source: 'x=>x' } }, { metadata: { balanced: true, retries: 1 }, buffers: [Buffer.alloc(bytes)] });
  d.submit(client, msg, session.encode(msg, Channels.clientToCluster));
  return msg.header.msg_id;
};
const answer = (d: TaskDispatcher, id: number, msgId: string) => {
  const reply = session.message('apply_reply', { status: 'ok' }, { parent: { msg_id: msgId } });
  assert.ok(d.complete(id, msgId, reply, session.encode(reply, Channels.engineToCluster)));
};

describe('TaskDispatcher at scale', () => {
  it('trims finished records oldest first, keeping every unfinished one, however many there are', () => {
    const { d, onEngine } = setup({ heldBytes: 1 << 30, records: 1000 });
    d.engineAdded(0);
    const pending = Array.from({ length: 3000 }, () => submit(d));
    const finished: string[] = [];
    for (let i = 0; i < 500; i++) {
      const id = submit(d);
      answer(d, 0, id);
      finished.push(id);
    }
    submit(d);
    const records = d.records();
    const ids = new Set(records.map((r) => r.msgId));
    assert.ok(pending.every((id) => ids.has(id)), 'no unfinished record is dropped');
    assert.ok(finished.every((id) => !ids.has(id)), 'finished records go while the book is over its limit');
    assert.equal(onEngine.length, 3501);
  });

  it('releases held requests of finished tasks only, oldest first, and purge() forgets every finished task', () => {
    const { d, onEngine } = setup({ heldBytes: 50 * 612, records: 100_000 });
    d.engineAdded(0);
    // 100 unfinished tasks hold 61 KB, over the 30 KB budget: they keep their requests (a retry needs them).
    const pending = Array.from({ length: 100 }, () => submit(d));
    const done = Array.from({ length: 20 }, () => submit(d));
    for (const id of done) answer(d, 0, id);
    submit(d);
    d.engineRemoved(0, 'test');
    d.engineAdded(1);
    // Every unfinished task could be retried on engine 1: their requests were still held.
    const retried = onEngine.filter((e) => e.id === 1).map((e) => e.msgId);
    assert.ok(pending.every((id) => retried.includes(id)));
    // The finished ones gave up their requests, so they cannot be resubmitted.
    const problems = d.resubmit(client, [{ old: done[0]!, new: 'again' }]);
    assert.match(problems[0] ?? '', /no longer held/);
    for (const e of onEngine.filter((x) => x.id === 1)) answer(d, 1, e.msgId);
    assert.equal(d.purge(), 121);
    assert.deepEqual(d.records(), []);
    assert.equal(d.unassigned, 0);
  });
});
