/**
 * Walltime: an engine in a batch job tells the controller when its job ends; the dispatcher does not start a task
 * on an engine whose job ends before the task's timeoutMs, and fails a task no engine has the walltime for.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TASK_POLICIES } from '../../src/controller/policies/index.js';
import { TaskDispatcher, type DispatcherIO } from '../../src/controller/task-dispatcher.js';
import { jobEndFromEnvironment, WALLTIME_ENV } from '../../src/core/walltime.js';
import { Channels, Session } from '../../src/wire/protocol.js';

const session = new Session('k'.repeat(64));
const client = Buffer.from('client');
const HOUR = 3_600_000;

function recorder() {
  const sent = { engine: [] as { id: number; msgId: string }[], errors: [] as { msgId: string; name: string }[] };
  const io: DispatcherIO = {
    toEngine: (id, frames) => sent.engine.push({ id, msgId: Session.peekHeader(frames)!.msg_id }),
    toClient: () => {},
    toClientBatched: () => {},
    replyError: (_c, header, error) => sent.errors.push({ msgId: header.msg_id, name: error.name }),
    reencode: (msg, id) => session.encode({ ...msg, header: { ...msg.header, msg_id: id ?? msg.header.msg_id } }, Channels.controllerToEngine),
    abortOnEngine: () => {},
  };
  return { io, sent };
}

function task(metadata: Record<string, unknown> = {}) {
  const msg = session.message('apply_request', {}, { metadata: { balanced: true, ...metadata } });
  return { msg, frames: session.encode(msg, Channels.clientToCluster) };
}

describe('walltime-aware dispatch', () => {
  it('starts a task only on an engine whose job has the task’s timeoutMs left', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0);
    d.engineAdded(0, { jobEnd: Date.now() + 60_000 }); // a minute left
    d.engineAdded(1, { jobEnd: Date.now() + 2 * HOUR });
    const long = task({ timeoutMs: HOUR });
    d.submit(client, long.msg, long.frames);
    assert.deepEqual(sent.engine, [{ id: 1, msgId: long.msg.header.msg_id }]);
    const short = [task({ timeoutMs: 1000 }), task(), task()];
    for (const t of short) d.submit(client, t.msg, t.frames);
    assert.ok(sent.engine.slice(1).some((s) => s.id === 0), 'engine 0 still takes tasks that fit (or have no limit)');
  });

  it('fails a task at once when every engine’s job ends before its timeoutMs', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0);
    d.engineAdded(0, { jobEnd: Date.now() + 60_000 });
    d.engineAdded(1, { jobEnd: Date.now() + 120_000 });
    const t = task({ timeoutMs: HOUR });
    d.submit(client, t.msg, t.frames);
    assert.deepEqual(sent.engine, []);
    assert.deepEqual(sent.errors, [{ msgId: t.msg.header.msg_id, name: 'TimeoutError' }]);
  });

  it('engines without a walltime take any task', () => {
    const { io, sent } = recorder();
    const d = new TaskDispatcher(io, TASK_POLICIES.leastload, 0);
    d.engineAdded(3);
    const t = task({ timeoutMs: 100 * HOUR });
    d.submit(client, t.msg, t.frames);
    assert.deepEqual(sent.engine, [{ id: 3, msgId: t.msg.header.msg_id }]);
  });

  it('an engine reads its job’s end from the walltime in its environment', () => {
    assert.equal(jobEndFromEnvironment({}), undefined);
    assert.equal(jobEndFromEnvironment({ [WALLTIME_ENV]: 'x' }), undefined);
    assert.equal(jobEndFromEnvironment({ [WALLTIME_ENV]: '3600' }), Math.floor(performance.timeOrigin) + HOUR);
  });
});
