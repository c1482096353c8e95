/**
 * The statistics a controller keeps for the dashboard, as they travel (`stats_request` / `stats_reply`) and as the
 * dashboard's JSON serves them: engines, the task stream, throughput history, failures, clients and batch jobs.
 * @module
 */
import type { JobState } from '../core/scheduler.js';
import type { DropCounts } from './protocol.js';

/** How a task attempt ended, as the dashboard colours it. */
export type TaskOutcome = 'completed' | 'failed' | 'aborted' | 'retried';

/** An engine as the dashboard shows it. */
export interface EngineStats {
  /** The engine's id. */
  id: number;
  /** Its host. */
  hostname: string;
  /** Its process id. */
  pid: number;
  /** `alive` while registered, `dead` once gone. */
  state: 'alive' | 'dead';
  /** Why it is gone, when dead. */
  reason?: string;
  /** When it registered (ms since epoch). */
  registered: number;
  /** Tasks it finished successfully. */
  done: number;
  /** Tasks it holds now. */
  running: number;
  /** Tasks that failed on it. */
  failed: number;
  /** CPU use of its process over its last report, in percent of one core. */
  cpuPercent?: number;
  /** Resident memory of its process, in bytes. */
  rssBytes?: number;
}

/** One task attempt in the task stream: a bar in its engine's lane. */
export interface TaskStreamEntry {
  /** Its place in the order of events (see {@link StatsCursor}). */
  seq: number;
  /** The request's id. */
  msgId: string;
  /** The request type (`map_request`, …). */
  type: string;
  /** The engine that ran it. */
  engineId: number;
  /** When it started (ms since epoch). */
  start: number;
  /** When it ended. */
  end: number;
  /** How it ended. */
  outcome: TaskOutcome;
}

/** A recent failure with its remote stack. */
export interface FailureEntry {
  /** Its place in the order of events (see {@link StatsCursor}). */
  seq: number;
  /** The request's id. */
  msgId: string;
  /** The engine it failed on (-1 when it never reached one). */
  engineId: number;
  /** When it failed (ms since epoch). */
  time: number;
  /** The error's class name. */
  name: string;
  /** Its message. */
  message: string;
  /** The remote stack trace, when the engine sent one. */
  stack?: string;
}

/** A connected client. */
export interface ClientStats {
  /** Its routing identity. */
  id: string;
  /** When it connected (ms since epoch). */
  connected: number;
}

/** What a batch job holds: the controller, or an engine set (the `n`th `addEngines`, counted from 0). */
export type JobRole = 'controller' | 'engines';

/** A batch job's state as shown: the scheduler's ({@link JobState}), or `unknown` while its status command fails. */
export type JobStatsState = JobState | 'unknown';

/** Every {@link JobStatsState}, in the order of a job's life. @internal */
export const JOB_STATES: readonly JobStatsState[] = ['queued', 'running', 'finished', 'failed', 'cancelled', 'unknown'];

/**
 * A batch job of the cluster's launchers, as the process that owns them (the `Cluster`'s: `tscluster start` or the
 * program that called `createCluster()`) last saw it with the scheduler's tools and reported it to the controller
 * (`job_states_request`).
 */
export interface JobStats {
  /** The launcher's name (`pbs`, `slurm`, `windows-hpc`, …). */
  launcher: string;
  /** What the job holds. */
  role: JobRole;
  /** Which launcher of that role: the engine set (0 for the first `addEngines`), or the controller's start (0, then 1 after a restore). */
  set: number;
  /** The job id the scheduler gave. */
  jobId: string;
  /** Its state. */
  state: JobStatsState;
  /** The scheduler's own word for it (`Q`, `PEND`, `Running`, …), when it gave one. */
  rawState?: string;
  /** When the state last changed (ms since the epoch, on the owner's host). */
  since: number;
  /** Why the state is `unknown`, or how the job ended, when known. */
  message?: string;
}

/** What the cluster's owner sends the controller in a `job_states_request`: every job, replacing the last report. */
export interface JobStatesReport {
  /** Every batch job of the cluster's launchers. */
  jobs: JobStats[];
}

/** One second of throughput history. */
export interface ThroughputBucket {
  /** The second (ms since epoch, a multiple of 1000). */
  t: number;
  /** Tasks finished successfully in it. */
  done: number;
  /** Tasks failed (or aborted) in it. */
  failed: number;
}

/**
 * Where a reader of snapshots got to, so the next snapshot carries only what is new: task attempts and failures
 * after `seq`, throughput buckets from second `t` on. An empty cursor asks for everything.
 */
export interface StatsCursor {
  /** The `seq` of the last snapshot read. */
  seq?: number;
  /** The last throughput bucket's `t` read (it is sent again: it may have grown). */
  t?: number;
}

/** Everything the dashboard shows, as JSON. */
export interface StatsSnapshot {
  /** When the snapshot was taken (ms since epoch). */
  now: number;
  /** The newest event's sequence number: pass it back in a {@link StatsCursor}. */
  seq: number;
  /** The cluster's id. */
  clusterId: string;
  /** The controller's task policy. */
  taskPolicy: string;
  /** Load-balanced tasks not yet on an engine. */
  queueDepth: number;
  /** Engines, alive and recently dead, by id. */
  engines: EngineStats[];
  /** Throughput per second, oldest first (at most the history length). */
  throughput: ThroughputBucket[];
  /** Recent task attempts, oldest first. */
  tasks: TaskStreamEntry[];
  /**
   * Tasks running now, with their engine and start: the longest running first, at most as many as the task stream
   * keeps (a cluster of many engines may run tens of thousands at once; {@link runningCount} counts them all).
   */
  running: RunningTask[];
  /** How many tasks are running now. */
  runningCount: number;
  /** Recent failures, newest last. */
  failures: FailureEntry[];
  /** Connected clients. */
  clients: ClientStats[];
  /** Batch jobs of the cluster's launchers (empty for local processes), as last reported to the controller. */
  jobs: JobStats[];
  /** Messages dropped (bad signature, replay, malformed). */
  dropped: DropCounts;
  /** Bytes received and sent by the controller. */
  bytes: ByteCounts;
}

/** The controller's answer to `stats_request` ({@link StatsSnapshot}, and the metrics text when asked for). */
export interface StatsReply {
  /** What the dashboard shows. */
  snapshot: StatsSnapshot;
  /** The Prometheus metrics as text, when the request asked for them. */
  metrics?: string;
}

/** A task on an engine now. */
export interface RunningTask {
  /** The request's id. */
  msgId: string;
  /** The request type. */
  type: string;
  /** The engine running it. */
  engineId: number;
  /** When it reached the engine (ms since epoch). */
  start: number;
}

/** Bytes the controller received and sent. */
export interface ByteCounts {
  /** Received. */
  in: number;
  /** Sent. */
  out: number;
}
