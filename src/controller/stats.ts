/**
 * The controller's statistics for the dashboard and `/metrics`: what each engine has done, a bounded history of
 * throughput (one bucket per second, an hour by default, so a page opened later still sees it), a bounded task
 * stream (engine, start, end, outcome), recent failures with their remote stacks, the connected clients, the
 * cluster's batch jobs (as the process owning their launchers reports them: `job_states_request`), and the
 * Prometheus metrics (a registry of its own, never prom-client's global one).
 *
 * The controller calls the `on*` hooks; everything here is bounded in memory whatever the cluster does.
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DropCounts } from '../wire/protocol.js';
import { JOB_STATES, type EngineStats, type StatsCursor, type StatsSnapshot, type TaskOutcome, type TaskStreamEntry, type FailureEntry, type ClientStats, type RunningTask, type ThroughputBucket, type JobStats } from '../wire/stats.js';
import type { Listener } from '../core/transport.js';
import { cpuPercentBetween, type HeartStats } from '../wire/heart-stats.js';

/** What the collector asks the controller for when it takes a snapshot. */
export interface StatsSources {
  /** The cluster's id. */
  clusterId: string;
  /** The task policy's name. */
  taskPolicy: string;
  /** Load-balanced tasks not yet on an engine. */
  queueDepth(): number;
  /** Dropped messages so far. */
  dropped(): DropCounts;
}

/** Bounds of the collector's memory. */
export interface StatsLimits {
  /** Seconds of throughput history (default 3600). */
  historySeconds: number;
  /** Task attempts kept in the stream, and running tasks in a snapshot (default 5000). */
  streamEntries: number;
  /** Failures kept (default 50). */
  failures: number;
  /** Dead engines kept (default 256). */
  deadEngines: number;
}

const DEFAULT_LIMITS: StatsLimits = { historySeconds: 3600, streamEntries: 5000, failures: 50, deadEngines: 256 };

/** Stack text kept per failure: enough for the user's frames, bounded. */
const STACK_LIMIT = 8192;
/** The shortest span an engine's CPU percentage is measured over (its heart samples every heartbeat). */
const CPU_WINDOW_MICROS = 1_000_000;

/** The controller-side collector of statistics and metrics. */
export class ControllerStats {
  /** The Prometheus registry holding this controller's metrics. */
  readonly registry = new Registry();
  readonly #limits: StatsLimits;
  readonly #engines = new Map<number, EngineStats>();
  /** Per engine, the resource sample its CPU percentage is measured from. */
  readonly #cpuBase = new Map<number, HeartStats>();
  readonly #running = new Map<string, RunningTask>();
  readonly #clients = new Map<string, ClientStats>();
  /** Ring buffer of one-second buckets, indexed by second modulo its length. */
  readonly #ring: ThroughputBucket[];
  #stream: TaskStreamEntry[] = [];
  #failures: FailureEntry[] = [];
  #seq = 0;
  /** The batch jobs, as the owner's last report gave them. */
  #jobs: JobStats[] = [];
  #bytesIn = 0;
  #bytesOut = 0;
  readonly #bytesReported = { in: 0, out: 0 };
  readonly #tasksTotal: Counter<'outcome'>;
  readonly #latency: Histogram;
  readonly #droppedSeen: DropCounts = { badSignature: 0, replayed: 0, malformed: 0, expired: 0, misrouted: 0, invalid: 0 };

  constructor(
    private readonly sources: StatsSources,
    limits: Partial<StatsLimits> = {},
  ) {
    this.#limits = { ...DEFAULT_LIMITS, ...limits };
    this.#ring = new Array(this.#limits.historySeconds);
    const stats = this;
    const registers = [this.registry];
    new Gauge({
      name: 'tsparallel_engines',
      help: 'Engines known to the controller, by state (alive, dead).',
      labelNames: ['state'] as const,
      registers,
      collect() {
        let alive = 0;
        for (const e of stats.#engines.values()) if (e.state === 'alive') alive++;
        this.set({ state: 'alive' }, alive);
        this.set({ state: 'dead' }, stats.#engines.size - alive);
      },
    });
    new Gauge({
      name: 'tsparallel_tasks_running',
      help: 'Tasks on engines now.',
      registers,
      collect() {
        this.set(stats.#running.size);
      },
    });
    new Gauge({
      name: 'tsparallel_queue_depth',
      help: 'Load-balanced tasks waiting for an engine (queued or waiting on dependencies).',
      registers,
      collect() {
        this.set(stats.sources.queueDepth());
      },
    });
    new Gauge({
      name: 'tsparallel_clients',
      help: 'Clients connected to the controller.',
      registers,
      collect() {
        this.set(stats.#clients.size);
      },
    });
    new Gauge({
      name: 'tsparallel_batch_jobs',
      help: 'Batch jobs of the cluster, by state (queued, running, finished, failed, cancelled; unknown while the status command fails).',
      labelNames: ['state'] as const,
      registers,
      collect() {
        for (const state of JOB_STATES) this.set({ state }, stats.#jobs.filter((j) => j.state === state).length);
      },
    });
    this.#tasksTotal = new Counter({
      name: 'tsparallel_tasks_total',
      help: 'Task attempts finished, by outcome (completed, failed, aborted, retried).',
      labelNames: ['outcome'] as const,
      registers,
    });
    for (const outcome of ['completed', 'failed', 'aborted', 'retried']) this.#tasksTotal.inc({ outcome }, 0);
    this.#latency = new Histogram({
      name: 'tsparallel_task_duration_seconds',
      help: 'Time from a task reaching its engine to its end, in seconds.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300],
      registers,
    });
    new Counter({
      name: 'tsparallel_bytes_total',
      help: 'Bytes of messages the controller received (in) and sent (out).',
      labelNames: ['direction'] as const,
      registers,
      collect() {
        // Bytes are summed on the hot path without prom-client's label lookup; the counter catches up when scraped.
        const reported = stats.#bytesReported;
        this.inc({ direction: 'in' }, stats.#bytesIn - reported.in);
        this.inc({ direction: 'out' }, stats.#bytesOut - reported.out);
        reported.in = stats.#bytesIn;
        reported.out = stats.#bytesOut;
      },
    });
    new Counter({
      name: 'tsparallel_messages_dropped_total',
      help: 'Messages dropped by the controller, by reason (bad_signature, replayed, malformed, expired, misrouted, invalid).',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        const now = stats.sources.dropped();
        const seen = stats.#droppedSeen;
        this.inc({ reason: 'bad_signature' }, now.badSignature - seen.badSignature);
        this.inc({ reason: 'replayed' }, now.replayed - seen.replayed);
        this.inc({ reason: 'malformed' }, now.malformed - seen.malformed);
        this.inc({ reason: 'expired' }, now.expired - seen.expired);
        this.inc({ reason: 'misrouted' }, now.misrouted - seen.misrouted);
        this.inc({ reason: 'invalid' }, now.invalid - seen.invalid);
        Object.assign(seen, now);
      },
    });
  }

  /** An engine registered. */
  onEngineAdded(e: { id: number; hostname: string; pid: number }): void {
    this.#engines.set(e.id, { id: e.id, hostname: e.hostname, pid: e.pid, state: 'alive', registered: Date.now(), done: 0, running: 0, failed: 0 });
  }

  /** An engine is gone; it stays listed as dead (the oldest dead ones are forgotten beyond the limit). */
  onEngineRemoved(id: number, reason: string): void {
    const e = this.#engines.get(id);
    if (!e) return;
    e.state = 'dead';
    e.reason = reason;
    e.running = 0;
    e.cpuPercent = undefined;
    e.rssBytes = undefined;
    this.#cpuBase.delete(id);
    const dead = [...this.#engines.values()].filter((x) => x.state === 'dead');
    for (const old of dead.slice(0, Math.max(0, dead.length - this.#limits.deadEngines))) this.#engines.delete(old.id);
  }

  /**
   * An engine's heart answered a ping, with its process's resource sample when its transport sends one. Memory is
   * the latest sample's; CPU is measured over at least CPU_WINDOW_MICROS, so that fast heartbeats do not make it jump.
   */
  onHeartbeat(id: number, sample: HeartStats | undefined): void {
    const e = this.#engines.get(id);
    if (!sample || !e || e.state !== 'alive') return;
    e.rssBytes = sample.rssBytes;
    const base = this.#cpuBase.get(id);
    if (base && sample.atMicros - base.atMicros < CPU_WINDOW_MICROS) return;
    if (base) e.cpuPercent = cpuPercentBetween(base, sample) ?? e.cpuPercent;
    this.#cpuBase.set(id, sample);
  }

  /** A task reached an engine. */
  onTaskStarted(t: { msgId: string; type: string; engineId: number; started?: number }): void {
    this.#running.set(t.msgId, { msgId: t.msgId, type: t.type, engineId: t.engineId, start: t.started ?? Date.now() });
    const e = this.#engines.get(t.engineId);
    if (e) e.running++;
  }

  /** A task its engine gave back unstarted (it goes back to the queue): as if it had never been sent there. */
  onTaskReturned(msgId: string): void {
    const running = this.#running.get(msgId);
    if (!running) return;
    this.#running.delete(msgId);
    const e = this.#engines.get(running.engineId);
    if (e && e.state === 'alive') e.running = Math.max(0, e.running - 1);
  }

  /**
   * A task attempt ended. `engineId` is where it ran (undefined when it never reached an engine); `error` carries
   * the remote stack of a failure.
   */
  onTaskEnded(t: {
    msgId: string;
    type: string;
    engineId?: number;
    started?: number;
    outcome: TaskOutcome;
    error?: { name: string; message: string; stack?: string };
  }): void {
    const end = Date.now();
    const running = this.#running.get(t.msgId);
    if (running) this.#running.delete(t.msgId);
    const engineId = t.engineId ?? running?.engineId;
    const start = running?.start ?? t.started ?? end;
    const e = engineId === undefined ? undefined : this.#engines.get(engineId);
    if (e && running && e.state === 'alive') e.running = Math.max(0, e.running - 1);
    if (e && t.outcome === 'completed') e.done++;
    if (e && (t.outcome === 'failed' || t.outcome === 'retried')) e.failed++;
    this.#tasksTotal.inc({ outcome: t.outcome });
    if (engineId !== undefined) {
      this.#latency.observe((end - start) / 1000);
      this.#stream.push({ seq: ++this.#seq, msgId: t.msgId, type: t.type, engineId, start, end, outcome: t.outcome });
      if (this.#stream.length > this.#limits.streamEntries * 1.25) this.#stream = this.#stream.slice(-this.#limits.streamEntries);
    }
    if (t.outcome !== 'completed') {
      this.#failures.push({
        seq: ++this.#seq, msgId: t.msgId, engineId: engineId ?? -1, time: end, name: t.error?.name ?? 'Error', message: t.error?.message ?? t.outcome,
        stack: t.error?.stack?.slice(0, STACK_LIMIT),
      });
      if (this.#failures.length > this.#limits.failures) this.#failures.shift();
    }
    const bucket = this.#bucket(end);
    if (t.outcome === 'completed') bucket.done++;
    else if (t.outcome !== 'retried') bucket.failed++;
  }

  /** A client connected. */
  onClientConnected(id: string): void {
    this.#clients.set(id, { id, connected: Date.now() });
  }

  /** A client left (closed, or became unroutable). */
  onClientGone(id: string): void {
    this.#clients.delete(id);
  }

  /**
   * The cluster's owner reported its batch jobs: every job, which replaces the last report (so a report lost on the
   * way is made good by the next, and nothing accumulates).
   */
  onJobStates(jobs: readonly JobStats[]): void {
    // Only the known fields: a report is kept until the next, so nothing else it carries is held.
    this.#jobs = jobs.map((j) => ({
      launcher: j.launcher, role: j.role, set: j.set, jobId: j.jobId, state: j.state, since: j.since,
      ...(j.rawState !== undefined && { rawState: j.rawState }),
      ...(j.message !== undefined && { message: j.message }),
    }));
  }

  /** Count bytes the controller received. */
  countIn(frames: readonly Buffer[]): void {
    for (const f of frames) this.#bytesIn += f.length;
  }

  /** Count every byte a listener sends from now on. Returns the same listener. */
  meter<L extends Listener>(listener: L): L {
    const send = listener.send.bind(listener);
    listener.send = (identity, frames) => {
      for (const f of frames) this.#bytesOut += f.length;
      return send(identity, frames);
    };
    return listener;
  }

  /** Everything the dashboard shows, as plain JSON data; with a cursor, only the task events newer than it. */
  snapshot(since: StatsCursor = {}): StatsSnapshot {
    const now = Date.now();
    const from = Math.max(Math.floor(now / 1000) - this.#ring.length + 1, Math.floor((since.t ?? 0) / 1000));
    const after = since.seq ?? 0;
    const throughput: ThroughputBucket[] = [];
    for (const b of this.#ring) if (b && b.t / 1000 >= from) throughput.push({ ...b });
    throughput.sort((a, b) => a.t - b.t);
    return {
      now,
      clusterId: this.sources.clusterId,
      taskPolicy: this.sources.taskPolicy,
      queueDepth: this.sources.queueDepth(),
      engines: [...this.#engines.values()].map((e) => ({ ...e })).sort((a, b) => a.id - b.id),
      throughput,
      seq: this.#seq,
      tasks: this.#stream.slice(-this.#limits.streamEntries).filter((t) => t.seq > after),
      running: firstOf(this.#running.values(), this.#limits.streamEntries),
      runningCount: this.#running.size,
      failures: this.#failures.filter((f) => f.seq > after),
      clients: [...this.#clients.values()],
      jobs: this.#jobs.map((j) => ({ ...j })),
      dropped: { ...this.sources.dropped() },
      bytes: { in: this.#bytesIn, out: this.#bytesOut },
    };
  }

  /** The metrics in Prometheus text format. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  #bucket(time: number): ThroughputBucket {
    const second = Math.floor(time / 1000);
    const at = second % this.#ring.length;
    let b = this.#ring[at];
    if (!b || b.t !== second * 1000) b = this.#ring[at] = { t: second * 1000, done: 0, failed: 0 };
    return b;
  }
}

/** The first `n` values of an iterator (a Map's: the oldest entries), without copying the rest. */
function firstOf<T>(values: Iterator<T>, n: number): T[] {
  const out: T[] = [];
  for (let v = values.next(); !v.done && out.length < n; v = values.next()) out.push(v.value);
  return out;
}
