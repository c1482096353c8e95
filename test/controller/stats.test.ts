/**
 * The controller's statistics collector: per-engine counters, the bounded task stream and history, and the
 * Prometheus metrics it exposes (scraped as text and parsed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ControllerStats } from '../../src/controller/stats.js';
import { parsePrometheus } from '../support/prometheus.js';
import type { JobStats } from '../../src/wire/stats.js';

function collector(limits = {}) {
  const dropped = { badSignature: 2, replayed: 1, malformed: 0, expired: 0, misrouted: 0, invalid: 0 };
  let queue = 3;
  const stats = new ControllerStats({ clusterId: 'c1', taskPolicy: 'lru', queueDepth: () => queue, dropped: () => dropped }, limits);
  return { stats, dropped, setQueue: (n: number) => (queue = n) };
}

describe('ControllerStats', () => {
  it('counts done, running and failed per engine, and marks a removed engine dead', () => {
    const { stats } = collector();
    stats.onEngineAdded({ id: 0, hostname: 'h', pid: 10 });
    stats.onEngineAdded({ id: 1, hostname: 'h', pid: 11 });
    stats.onTaskStarted({ msgId: 'a', type: 'apply_request', engineId: 0 });
    stats.onTaskStarted({ msgId: 'b', type: 'apply_request', engineId: 0 });
    stats.onTaskStarted({ msgId: 'c', type: 'apply_request', engineId: 1 });
    stats.onTaskEnded({ msgId: 'a', type: 'apply_request', engineId: 0, outcome: 'completed' });
    stats.onTaskEnded({ msgId: 'c', type: 'apply_request', engineId: 1, outcome: 'failed', error: { name: 'TypeError', message: 'x', stack: 'TypeError: x\n    at f (/u/tasks.ts:3:9)' } });
    stats.onEngineRemoved(1, 'no heartbeat');
    const snap = stats.snapshot();
    assert.deepEqual(snap.engines.map((e) => [e.id, e.state, e.done, e.running, e.failed]), [[0, 'alive', 1, 1, 0], [1, 'dead', 0, 0, 1]]);
    assert.equal(snap.engines[1]!.reason, 'no heartbeat');
    assert.deepEqual(snap.tasks.map((t) => [t.msgId, t.engineId, t.outcome]), [['a', 0, 'completed'], ['c', 1, 'failed']]);
    assert.deepEqual(snap.running.map((t) => t.msgId), ['b']);
    assert.equal(snap.failures.length, 1);
    assert.match(snap.failures[0]!.stack!, /tasks\.ts:3:9/);
    assert.equal(snap.queueDepth, 3);
    assert.equal(snap.taskPolicy, 'lru');
    assert.equal(snap.throughput.reduce((n, b) => n + b.done, 0), 1);
    assert.equal(snap.throughput.reduce((n, b) => n + b.failed, 0), 1);
  });

  it('keeps the task stream, failures and dead engines within their limits', () => {
    const { stats } = collector({ streamEntries: 100, failures: 5, deadEngines: 3 });
    for (let i = 0; i < 10; i++) stats.onEngineAdded({ id: i, hostname: 'h', pid: i });
    for (let i = 0; i < 1000; i++) {
      stats.onTaskStarted({ msgId: `t${i}`, type: 'apply_request', engineId: i % 10 });
      stats.onTaskEnded({ msgId: `t${i}`, type: 'apply_request', engineId: i % 10, outcome: i % 2 ? 'completed' : 'failed' });
    }
    for (let i = 0; i < 8; i++) stats.onEngineRemoved(i, 'gone');
    const snap = stats.snapshot();
    assert.equal(snap.tasks.length, 100);
    assert.equal(snap.tasks.at(-1)!.msgId, 't999');
    assert.equal(snap.failures.length, 5);
    assert.deepEqual(snap.engines.map((e) => e.id), [5, 6, 7, 8, 9]);
    assert.equal(snap.running.length, 0);
    assert.equal(snap.runningCount, 0);
  });

  it('puts at most streamEntries running tasks in a snapshot, the longest running, and counts them all', () => {
    const { stats } = collector({ streamEntries: 100, failures: 5, deadEngines: 3 });
    for (let i = 0; i < 10; i++) stats.onEngineAdded({ id: i, hostname: 'h', pid: i });
    for (let i = 0; i < 1000; i++) stats.onTaskStarted({ msgId: `t${i}`, type: 'apply_request', engineId: i % 10, started: 1000 + i });
    for (let i = 0; i < 10; i++) stats.onTaskEnded({ msgId: `t${i}`, type: 'apply_request', engineId: i % 10, outcome: 'completed' });
    const snap = stats.snapshot();
    assert.equal(snap.runningCount, 990);
    assert.deepEqual(snap.running.map((r) => r.msgId), Array.from({ length: 100 }, (_, i) => `t${i + 10}`));
    assert.equal(snap.engines.reduce((n, e) => n + e.running, 0), 990);
  });

  it('keeps throughput history in a ring of one-second buckets: the last hour for a page opened later, never more', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_700_000_000_000 });
    const { stats } = collector();
    stats.onEngineAdded({ id: 0, hostname: 'h', pid: 10 });
    const start = Date.now();
    // Two hours of work, one task a second (every tenth fails), then a page opens.
    for (let s = 0; s < 7200; s++) {
      stats.onTaskStarted({ msgId: `t${s}`, type: 'apply_request', engineId: 0 });
      stats.onTaskEnded({ msgId: `t${s}`, type: 'apply_request', engineId: 0, outcome: s % 10 ? 'completed' : 'failed' });
      t.mock.timers.tick(1000);
    }
    const snap = stats.snapshot();
    assert.equal(snap.throughput.length, 3599, 'the last hour (the current second has nothing yet)');
    assert.ok(snap.throughput.every((b, i) => i === 0 || b.t === snap.throughput[i - 1]!.t + 1000), 'oldest first, one per second');
    assert.equal(snap.throughput[0]!.t, start + 3601 * 1000);
    assert.equal(snap.throughput.at(-1)!.t, start + 7199 * 1000);
    assert.equal(snap.throughput.reduce((n, b) => n + b.done + b.failed, 0), 3599);
    assert.equal(snap.throughput.reduce((n, b) => n + b.failed, 0), 359, 'seconds 3610, 3620, …, 7190');
    // A cursor gets the buckets from its second on (that one again: it may have grown).
    const later = stats.snapshot({ seq: snap.seq, t: snap.throughput.at(-2)!.t });
    assert.deepEqual(later.throughput.map((b) => b.t), snap.throughput.slice(-2).map((b) => b.t));
    assert.equal(later.tasks.length, 0);
    // A quiet hour later nothing of it is left.
    t.mock.timers.tick(3600 * 1000);
    assert.deepEqual(stats.snapshot().throughput, []);
  });

  it("keeps the owner's last report of batch jobs (only their known fields) and counts them by state in /metrics", async () => {
    const { stats } = collector();
    const job = (jobId: string, state: JobStats['state'], extra: Partial<JobStats> = {}): JobStats => ({ launcher: 'pbs', role: 'engines', set: 0, jobId, state, since: 1000, ...extra });
    assert.deepEqual(stats.snapshot().jobs, []);
    let m = parsePrometheus(await stats.metrics());
    for (const s of ['queued', 'running', 'finished', 'failed', 'cancelled', 'unknown']) assert.equal(m.get(`tsparallel_batch_jobs{state="${s}"}`), 0, s);
    stats.onJobStates([job('1', 'running', { role: 'controller', rawState: 'R' }), job('2', 'queued'), job('3', 'queued', { set: 1 })]);
    assert.deepEqual(stats.snapshot().jobs.map((j) => [j.jobId, j.role, j.set, j.state]), [['1', 'controller', 0, 'running'], ['2', 'engines', 0, 'queued'], ['3', 'engines', 1, 'queued']]);
    m = parsePrometheus(await stats.metrics());
    assert.equal(m.get('tsparallel_batch_jobs{state="running"}'), 1);
    assert.equal(m.get('tsparallel_batch_jobs{state="queued"}'), 2);
    // The next report replaces the last one; fields the collector does not know are not kept.
    stats.onJobStates([job('1', 'running'), job('2', 'cancelled', { message: 'job 2 ended', extra: 'x'.repeat(1000) } as Partial<JobStats>), job('3', 'unknown')]);
    const snap = stats.snapshot();
    assert.deepEqual(snap.jobs.map((j) => j.state), ['running', 'cancelled', 'unknown']);
    assert.equal(snap.jobs[1]!.message, 'job 2 ended');
    assert.equal('extra' in snap.jobs[1]!, false);
    m = parsePrometheus(await stats.metrics());
    assert.deepEqual(['queued', 'running', 'cancelled', 'unknown'].map((s) => m.get(`tsparallel_batch_jobs{state="${s}"}`)), [0, 1, 1, 1]);
    // A snapshot is a copy: changing it changes nothing.
    snap.jobs[0]!.state = 'failed';
    assert.equal(stats.snapshot().jobs[0]!.state, 'running');
  });

  it('serves Prometheus metrics: engines by state, tasks by outcome, queue depth, latency, bytes, dropped', async () => {
    const { stats, dropped, setQueue } = collector();
    stats.onEngineAdded({ id: 0, hostname: 'h', pid: 10 });
    stats.onEngineAdded({ id: 1, hostname: 'h', pid: 11 });
    stats.onEngineRemoved(1, 'gone');
    for (const [id, outcome] of [['a', 'completed'], ['b', 'completed'], ['c', 'failed'], ['d', 'retried']] as const) {
      stats.onTaskStarted({ msgId: id, type: 'apply_request', engineId: 0 });
      stats.onTaskEnded({ msgId: id, type: 'apply_request', engineId: 0, outcome });
    }
    stats.countIn([Buffer.alloc(100), Buffer.alloc(20)]);
    const sent: Buffer[][] = [];
    const listener = stats.meter({ address: 'x', send: (_id: Buffer, frames: Buffer[]) => void sent.push(frames), onMessage() {}, onUnroutable() {}, close: async () => {} } as never);
    (listener as { send(id: Buffer, f: Buffer[]): void }).send(Buffer.from('c'), [Buffer.alloc(7)]);
    setQueue(5);
    let m = parsePrometheus(await stats.metrics());
    assert.equal(m.get('tsparallel_engines{state="alive"}'), 1);
    assert.equal(m.get('tsparallel_engines{state="dead"}'), 1);
    assert.equal(m.get('tsparallel_tasks_total{outcome="completed"}'), 2);
    assert.equal(m.get('tsparallel_tasks_total{outcome="failed"}'), 1);
    assert.equal(m.get('tsparallel_tasks_total{outcome="retried"}'), 1);
    assert.equal(m.get('tsparallel_tasks_total{outcome="aborted"}'), 0);
    assert.equal(m.get('tsparallel_queue_depth'), 5);
    assert.equal(m.get('tsparallel_task_duration_seconds_count'), 4);
    assert.equal(m.get('tsparallel_task_duration_seconds_bucket{le="+Inf"}'), 4);
    assert.equal(m.get('tsparallel_bytes_total{direction="in"}'), 120);
    assert.equal(m.get('tsparallel_bytes_total{direction="out"}'), 7);
    assert.equal(sent.length, 1);
    assert.equal(m.get('tsparallel_messages_dropped_total{reason="bad_signature"}'), 2);
    assert.equal(m.get('tsparallel_messages_dropped_total{reason="replayed"}'), 1);
    // Counters stay monotonic across scrapes and follow new drops.
    dropped.badSignature = 5;
    stats.countIn([Buffer.alloc(1)]);
    m = parsePrometheus(await stats.metrics());
    assert.equal(m.get('tsparallel_messages_dropped_total{reason="bad_signature"}'), 5);
    assert.equal(m.get('tsparallel_bytes_total{direction="in"}'), 121);
  });
});
