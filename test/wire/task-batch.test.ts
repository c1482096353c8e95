/**
 * Several tasks per signed message (src/wire/task-batch.ts): what packs unpacks to the same tasks and replies, with
 * small buffers in one frame and large ones uncopied; and the checks of src/wire/validate.ts refuse batches whose
 * frame does not add up, with a sentence naming the problem.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Channels, Session, type Message } from '../../src/wire/protocol.js';
import { serialize } from '../../src/wire/serialize.js';
import { BATCH_REPLY, BATCH_REQUEST, PACKED_BUFFER_BYTES, packReplies, packRequests, readableTasks, unpackReplies, unpackRequests } from '../../src/wire/task-batch.js';
import { checkClientInput, checkClientMessage, checkEngineInput, checkEngineMessage, checkTaskRequest } from '../../src/wire/validate.js';

const session = new Session('k'.repeat(64));

/** Through the wire: encoded, copied, verified and decoded, as a receiver gets it. */
function roundTrip(msg: Message<unknown>, channel: string): Message {
  const frames = session.encode(msg, channel).map((f) => Buffer.from(f));
  const back = new Session('k'.repeat(64)).decode(frames, [channel]);
  assert.ok(back, 'the batch verifies');
  return back;
}

const fn = { fn: { source: '(x) => x * 2' } };
const flags = { balanced: true, retries: 1 };
const task = (i: number, buffers = serialize([i])) => ({ header: { msg_id: `task-${i}`, msg_type: 'map_request' }, content: fn, metadata: flags, buffers });

describe('task batches', () => {
  it('carry many tasks in one signed message, sharing their content and flags, each unpacked as if alone', () => {
    const tasks = Array.from({ length: 50 }, (_, i) => task(i));
    const { content, buffers } = packRequests(tasks as unknown as Message[]);
    assert.equal(content.contents.length, 1, 'one function for the whole map');
    assert.equal(content.metadata.length, 1, 'one set of flags');
    assert.equal(buffers.length, 1, 'every small buffer packed into one frame');
    const batch = roundTrip(session.message(BATCH_REQUEST, content, { buffers }), Channels.clientToCluster);
    assert.equal(checkClientMessage(batch), undefined);
    const back = unpackRequests(batch);
    assert.equal(back.length, 50);
    back.forEach((t, i) => {
      assert.equal(t.header.msg_id, `task-${i}`);
      assert.equal(t.header.msg_type, 'map_request');
      assert.equal(t.header.date, batch.header.date, "a task is dated and routed as its batch");
      assert.equal(t.header.channel, Channels.clientToCluster);
      assert.deepEqual(t.content, fn);
      assert.deepEqual(t.metadata, flags);
      assert.deepEqual(t.buffers.map((b) => b.toString('hex')), tasks[i]!.buffers.map((b) => b.toString('hex')));
      assert.equal(checkTaskRequest(t), undefined);
    });
    assert.equal(back[0]!.content, back[49]!.content, 'unpacked tasks share the content object');
  });

  it('send large buffers as frames of their own, uncopied, between the packed small ones', () => {
    const big = Buffer.alloc(PACKED_BUFFER_BYTES, 7);
    const tasks = [task(0), task(1, [Buffer.alloc(4), Buffer.from('small'), big]), task(2)];
    const { content, buffers } = packRequests(tasks as unknown as Message[]);
    assert.equal(buffers.length, 2);
    assert.equal(buffers[1], big, 'the large buffer itself, not a copy');
    const back = unpackRequests(roundTrip(session.message(BATCH_REQUEST, content, { buffers }), Channels.controllerToEngine));
    assert.deepEqual(back[1]!.buffers.map((b) => b.length), [4, 5, PACKED_BUFFER_BYTES]);
    assert.equal(back[1]!.buffers[1]!.toString(), 'small');
    assert.equal(back[2]!.buffers.length, 2);
  });

  it('carry replies, each with its parent, content, metadata and buffers', () => {
    const replies = [0, 1, 2].map((i) => ({
      header: { msg_type: 'map_reply' }, parent: { msg_id: `task-${i}` }, metadata: { engineId: 1, started: i, completed: i + 1 },
      content: i === 1 ? { status: 'error', error: { name: 'RangeError', message: 'no' }, stdout: '', stderr: 'x' } : { status: 'ok', stdout: `${i}`, stderr: '' },
      buffers: i === 1 ? [] : serialize([i * 2]),
    }));
    const { content, buffers } = packReplies(replies as unknown as Message[]);
    const batch = roundTrip(session.message(BATCH_REPLY, content, { buffers }), Channels.engineToCluster);
    assert.equal(checkEngineMessage(batch), undefined);
    assert.equal(checkClientInput(batch), undefined);
    const back = unpackReplies(batch);
    assert.deepEqual(back.map((r) => r.parent.msg_id), ['task-0', 'task-1', 'task-2']);
    assert.deepEqual(back.map((r) => r.header.msg_type), ['map_reply', 'map_reply', 'map_reply']);
    assert.deepEqual(back[1]!.content, replies[1]!.content);
    assert.deepEqual(back[2]!.metadata, { engineId: 1, started: 2, completed: 3 });
    assert.deepEqual(back.map((r) => r.buffers.length), [2, 0, 2]);
  });

  describe('checks', () => {
    const good = () => packRequests([task(0), task(1)] as unknown as Message[]);
    const check = (content: unknown, buffers: Buffer[]) => checkClientMessage(session.message(BATCH_REQUEST, content as Record<string, unknown>, { buffers }) as Message);
    it('refuse tasks that are not there, or not tasks', () => {
      const { buffers } = good();
      assert.match(check({ contents: [fn], metadata: [flags], tasks: [] }, buffers)!, /content.tasks must be a non-empty array/);
      assert.match(check({ contents: fn, metadata: [flags], tasks: [{}] }, buffers)!, /content.contents must be an array of objects/);
      assert.match(check({ contents: [fn], metadata: [null], tasks: [{}] }, buffers)!, /content.metadata must be an array of objects/);
      assert.match(check({ contents: [fn], metadata: [flags], tasks: [null] }, buffers)!, /tasks\[0\] is not an object/);
    });
    it('refuse bad ids, types, indexes and buffer lengths', () => {
      const { content, buffers } = good();
      const withTask = (patch: Record<string, unknown>) => ({ ...content, tasks: [{ ...content.tasks[0], ...patch }, content.tasks[1]] });
      assert.match(check(withTask({ id: '' }), buffers)!, /tasks\[0\].id must be a task id/);
      assert.match(check(withTask({ id: 'task-1' }), buffers)!, /appears twice/);
      assert.match(check(withTask({ type: 'apply_reply' }), buffers)!, /tasks\[0\].type must be a request type/);
      assert.match(check(withTask({ type: BATCH_REQUEST }), buffers)!, /other than batch_request/);
      assert.match(check(withTask({ content: 1 }), buffers)!, /tasks\[0\].content must index content.contents/);
      assert.match(check(withTask({ metadata: -1 }), buffers)!, /tasks\[0\].metadata must index content.metadata/);
      assert.match(check(withTask({ buffers: [4.5] }), buffers)!, /tasks\[0\].buffers must be an array of byte counts/);
      assert.match(check(withTask({ buffers: [4, 9999] }), buffers)!, /add up to more than/);
      assert.match(check(withTask({ buffers: [4] }), buffers)!, /more buffer bytes than its entries list/);
      assert.match(check(content, [])!, /no packed buffer/);
      assert.match(check(withTask({ buffers: [4, PACKED_BUFFER_BYTES] }), buffers)!, /buffer 1 is missing/);
      assert.equal(check(content, buffers), undefined);
    });
    it('refuse replies of the wrong shape, and let an engine read a batch the same way', () => {
      const reply = (patch: Record<string, unknown>) =>
        checkEngineMessage(session.message(BATCH_REPLY, { replies: [{ parent: 'p', type: 'map_reply', content: { status: 'ok' }, metadata: {}, buffers: [], ...patch }] }, { buffers: [Buffer.alloc(0)] }) as Message);
      assert.equal(reply({}), undefined);
      assert.match(reply({ parent: 5 })!, /parent must be the id/);
      assert.match(reply({ type: 'map_request' })!, /type must be a reply type/);
      assert.match(reply({ content: { status: 'maybe' } })!, /replies\[0\]: content.status must be/);
      assert.match(reply({ content: { status: 'error' } })!, /content.error must be/);
      assert.match(reply({ buffers: [3] })!, /add up to more than/);
      assert.match(checkEngineMessage(session.message(BATCH_REPLY, { replies: [] }) as Message)!, /non-empty array of replies/);
      // An engine giving back queued tasks names them by id.
      assert.equal(checkEngineMessage(session.message('tasks_returned', { msgIds: ['a', 'b'] }) as Message), undefined);
      for (const msgIds of [5, ['a', 7], undefined]) {
        assert.match(checkEngineMessage(session.message('tasks_returned', { msgIds }) as Message)!, /content.msgIds must be an array of task ids/);
      }
      const { content, buffers } = good();
      assert.equal(checkEngineInput(session.message(BATCH_REQUEST, content, { buffers }) as unknown as Message), undefined);
    });
    it('still name the tasks of a batch they refuse, so each can be answered', () => {
      const bad = session.message(BATCH_REQUEST, { tasks: [{ id: 'a', type: 'apply_request' }, { id: 5 }, null, { id: 'b', type: 'x' }, { id: 'c', type: 'map_request' }] }) as Message;
      assert.deepEqual(readableTasks(bad), [{ msg_id: 'a', msg_type: 'apply_request' }, { msg_id: 'c', msg_type: 'map_request' }]);
      assert.deepEqual(readableTasks(session.message(BATCH_REQUEST, { tasks: 'no' }) as Message), []);
    });
  });
});
