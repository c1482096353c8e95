/**
 * The statistics a controller keeps for the dashboard, as they travel (`stats_request` / `stats_reply`) and as the
 * dashboard's JSON serves them: engines, the task stream, throughput history, failures, clients and batch jobs.
 * @module
 */
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

/** A batch job a launcher submitted (known to `tscluster dashboard` from the cluster file). */
export interface JobStats {
  /** The launcher's name. */
  launcher: string;
  /** The job id the scheduler gave. */
  jobId: string;
  /** Its state as last known (`submitted` when only the id is known). */
  state: string;
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
  /** Tasks running now, with their engine and start. */
  running: RunningTask[];
  /** Recent failures, newest last. */
  failures: FailureEntry[];
  /** Connected clients. */
  clients: ClientStats[];
  /** Batch jobs, when known. */
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
