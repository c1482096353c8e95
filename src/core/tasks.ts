/**
 * Tasks as the controller records them and clients query them.
 * @module
 */

/** Every state a task may be in, in the order a task goes through them. */
export const TASK_STATES = ['waiting', 'queued', 'running', 'completed', 'failed', 'aborted'] as const;

/** Where a task is. `completed`, `failed` and `aborted` are final. */
export type TaskState = (typeof TASK_STATES)[number];

/** The states a task does not leave. */
export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['completed', 'failed', 'aborted']);

/** How long a task past its time limit may ignore its abort signal before its engine is killed, unless told otherwise. */
export const DEFAULT_GRACE_MS = 5000;

/** The flags a client sets on a load-balanced task (the request's metadata). */
export interface TaskFlags {
  /** Marks a load-balanced task. */
  balanced?: boolean;
  /** Engines it may run on (default: any). */
  targets?: number[];
  /** How many times to run it again after it fails or its engine dies. */
  retries?: number;
  /** Fail it with a TimeoutError when it has not finished this long after it was sent to an engine. */
  timeoutMs?: number;
  /**
   * How long it may go on past `timeoutMs`, ignoring its abort signal, before its engine process is killed (default:
   * the cluster's `engines.graceMs`).
   */
  graceMs?: number;
  /** Tasks that must have succeeded before it runs. */
  after?: string[];
  /** Tasks that must have succeeded, on the engine it must run on. */
  follow?: string[];
  /** Keep its result in the controller after delivery, until purged (see `Client.getResult`). */
  keepResult?: boolean;
}

/** What the controller keeps of one task; clients query these with `taskRecords()`. */
export interface TaskRecord {
  /** The request's message id (the task id). */
  msgId: string;
  /** The request type (`apply_request`, `map_request`, …). */
  type: string;
  /** Whether it went through the load balancer. */
  balanced: boolean;
  /** Where it is. */
  state: TaskState;
  /** The engine it ran (or runs) on. */
  engineId?: number;
  /** When the controller received it (ms since epoch). */
  submitted: number;
  /** When it was sent to its engine. */
  started?: number;
  /** When it ended. */
  completed?: number;
  /** How many times it was run again. */
  retries: number;
  /** Why it failed. */
  error?: {
    /** The error's class name. */
    name: string;
    /** Its message. */
    message: string;
  };
  /** The size of its result in bytes. */
  resultBytes?: number;
}

/**
 * What an engine reports of a request a client sent it directly (the controller never saw it), in a `task_records`
 * message once answered.
 */
export interface DirectTaskReport {
  /** The request's id. */
  msgId: string;
  /** Its type. */
  type: string;
  /** How it ended. */
  state: 'completed' | 'failed';
  /** When the engine started it (ms since epoch). */
  started: number;
  /** When it finished. */
  completed: number;
  /** The result's size in bytes. */
  resultBytes: number;
  /** Why it failed. */
  error?: {
    /** The error's class name. */
    name: string;
    /** Its message. */
    message: string;
  };
}
