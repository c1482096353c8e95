/**
 * The `Scheduler` contract: a job scheduler, the system that decides where a launcher's work runs (Windows HPC,
 * Slurm, PBS, …, or the in-process test scheduler). Not to be confused with the controller's *task policy*.
 * @module
 */
import { token } from './tokens.js';

/** One task of a job: one command line to run on some node. */
export interface JobTask {
  /** A name shown by the scheduler's tools. */
  name?: string;
  /** The command line, as an argument vector (the scheduler quotes it by its platform's rules). */
  command: readonly string[];
  /** The directory the task runs in. Windows UNC paths (`\\host\share`) are kept exactly. */
  workDirectory?: string;
  /** Environment variables set for the task. */
  environment?: Readonly<Record<string, string>>;
  /** Where the task's standard output goes (a path the nodes can write). */
  stdoutPath?: string;
  /** Where the task's standard error goes. */
  stderrPath?: string;
  /** Cores this task needs (default 1). */
  cores?: number;
}

/** A job: a named group of tasks submitted to a scheduler in one go. */
export interface JobDescription {
  /** The job's name, shown in the scheduler's queue. */
  name: string;
  /** The tasks to run. */
  tasks: readonly JobTask[];
  /** Whether the job wants its nodes to itself. */
  exclusive?: boolean;
  /** Whether the job runs until cancelled (a cluster does), rather than ending when its tasks end. */
  runUntilCanceled?: boolean;
  /** Scheduler-specific settings (e.g. Windows HPC `priority`, `unitType`); each scheduler documents its own. */
  extra?: Readonly<Record<string, unknown>>;
}

/** Where a job is in its life. `finished`, `failed` and `cancelled` are final. */
export type JobState = 'queued' | 'running' | 'finished' | 'failed' | 'cancelled';

/** What a scheduler says about a job. */
export interface JobStatus {
  /** The job's id, as the scheduler gave it. */
  id: string;
  /** Its state. */
  state: JobState;
  /** The scheduler's own word for the state (e.g. `Running`, `Canceled`). */
  rawState?: string;
}

/**
 * A job scheduler: submits job descriptions, reports their state, cancels them. Implementations turn a
 * {@link JobDescription} into their own format (Windows HPC job XML, an sbatch script, …).
 *
 * Every method may throw {@link SchedulerError} carrying the command, its exit code and output.
 */
export interface Scheduler {
  /** The scheduler's name (`windows-hpc`, `in-process`, `slurm`, …). */
  readonly name: string;
  /** Submit a job; resolves to the id the scheduler gave it. */
  submit(job: JobDescription, options?: { signal?: AbortSignal }): Promise<string>;
  /** Ask for a job's state. */
  status(jobId: string, options?: { signal?: AbortSignal }): Promise<JobStatus>;
  /** Cancel a job. Cancelling a job that already ended is harmless. */
  cancel(jobId: string, options?: { signal?: AbortSignal }): Promise<void>;
}

/** DI token for the default {@link Scheduler} of a container (batch launchers may make their own). */
export const SCHEDULER = token<Scheduler>('tsparallel.Scheduler');
