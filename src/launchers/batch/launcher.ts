/**
 * The batch launcher: the logic every job-scheduler launcher shares, written once. A {@link BatchLauncher} turns its
 * {@link LauncherContext} into a {@link JobDescription} (one task for the controller, N for the engines), submits it
 * to a {@link Scheduler}, watches the job's state, reports the job's end through `onExit`, and cancels it on `stop()`.
 * A launcher for one scheduler is a small plugin over it (see `windows-hpc/`, `in-process/`), whose options extend
 * {@link batchLauncherOptions} and map through {@link fromBatchOptions}.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises';
import debug from 'debug';
import { LauncherError, SchedulerError, TimeoutError } from '../../core/errors.js';
import type { ExitInfo, Launcher, LauncherContext, LauncherState, WatchedJob } from '../../core/launcher.js';
import type { JobDescription, JobState, JobStatus, JobTask, Scheduler } from '../../core/scheduler.js';
import { addListener } from '../../util/listeners.js';
import { defaultJobName } from './options.js';

/** The longest message kept with a job's state (a status command's error is cut there). */
const MESSAGE_LIMIT = 500;

/**
 * A {@link JobStatus} with what a scheduler may know about how the job ended. Schedulers that can tell (the
 * in-process scheduler) return these fields; {@link BatchLauncher} passes them on in {@link ExitInfo}.
 */
export interface DetailedJobStatus extends JobStatus {
  /** The exit code of the task that decided the job's end (the first failed task, else 0), when known. */
  exitCode?: number | null;
  /** The signal that ended that task, when known. */
  signal?: string | null;
  /** The scheduler's words on why the job ended, or the task's last lines of standard error. */
  message?: string;
}

/** Whether a job state is final: the job will not run again by itself. */
export function isFinalJobState(state: JobState): boolean {
  return state === 'finished' || state === 'failed' || state === 'cancelled';
}

/** What a {@link BatchLauncher} needs besides its {@link LauncherContext}. */
export interface BatchLauncherOptions {
  /** The launcher's registered name (`windows-hpc`, `in-process`, …), used in messages and logs. */
  name: string;
  /** The scheduler that runs the job. */
  scheduler: Scheduler;
  /**
   * How a node starts the role's program, replacing `context.program` (e.g. `engineCommand` in config, for nodes
   * where this installation lives at another path). The role's `args` always follow it.
   */
  program?: readonly string[];
  /** The job's name (default `tsparallel-controller` / `tsparallel-engines`, with the cluster id appended). */
  jobName?: string;
  /** The directory each task runs in. */
  workDirectory?: string;
  /** Environment variables for each task, added to (and overriding) `context.env`. */
  environment?: Readonly<Record<string, string>>;
  /** Whether the job wants its nodes to itself. */
  exclusive?: boolean;
  /** Whether the job runs until cancelled (then its end is only seen on `stop()`). Default false. */
  runUntilCanceled?: boolean;
  /** Cores each task needs (default 1). */
  coresPerTask?: number;
  /** Where task `i` writes its standard output, if anywhere. */
  stdoutPath?: (taskIndex: number) => string | undefined;
  /** Where task `i` writes its standard error, if anywhere. */
  stderrPath?: (taskIndex: number) => string | undefined;
  /** Scheduler-specific settings, passed as {@link JobDescription.extra}. */
  extra?: Readonly<Record<string, unknown>>;
  /** How often to ask the scheduler for the job's state, in ms (default 1000). */
  pollIntervalMs?: number;
  /** How long `stop()` waits for a cancelled job to reach a final state, in ms (default 30000). */
  stopTimeoutMs?: number;
  /** The debug namespace to log under (default `tsparallel:launcher:<name>`). */
  logNamespace?: string;
}

/**
 * A {@link Launcher} over any {@link Scheduler}: one job per start, holding one task per process.
 *
 * `start()` resolves once the job is submitted (the cluster then waits for registrations); a submit failure is
 * rethrown as is (a {@link SchedulerError} with the command and output) and leaves the launcher `stopped`.
 * While running, it polls `scheduler.status()` every `pollIntervalMs`, telling `onJobChange` handlers of each change
 * (and of `unknown` while the query fails); when the job reaches a final state by itself, every `onExit` handler is
 * called once with the job id. `stop()` cancels the job and waits (up to `stopTimeoutMs`) until the scheduler
 * reports it ended; stopping twice is harmless. `pids` stays empty: the work runs wherever the scheduler puts it.
 * @example
 * ```ts
 * const launcher = new BatchLauncher(context, { name: 'my-batch', scheduler: new MyScheduler() });
 * launcher.onExit((info) => console.log(`job ${info.id} ended with ${info.code}`));
 * await launcher.start();
 * // …
 * await launcher.stop();
 * ```
 */
export class BatchLauncher implements Launcher {
  /** The launcher's registered name. */
  readonly name: string;
  /** The scheduler the job is submitted to. */
  protected readonly scheduler: Scheduler;
  /** The context the launcher was made for. */
  protected readonly context: LauncherContext;
  /** The options it was made with. */
  protected readonly options: BatchLauncherOptions;
  /** Its logger. */
  protected readonly log: debug.Debugger;

  #state: LauncherState = 'idle';
  readonly #jobIds: string[] = [];
  readonly #ended = new Set<string>();
  readonly #lastStatus = new Map<string, DetailedJobStatus>();
  readonly #handlers: ((info: ExitInfo) => void)[] = [];
  readonly #watched = new Map<string, WatchedJob>();
  readonly #jobHandlers: ((job: WatchedJob) => void)[] = [];
  readonly #watch = new AbortController();
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  constructor(context: LauncherContext, options: BatchLauncherOptions) {
    this.context = context;
    this.options = options;
    this.name = options.name;
    this.scheduler = options.scheduler;
    this.log = debug(options.logNamespace ?? `tsparallel:launcher:${options.name}`);
  }

  /** Where the launcher is in its life. */
  get state(): LauncherState {
    return this.#state;
  }

  /** Always empty: batch jobs run where the scheduler puts them. */
  get pids(): readonly number[] {
    return [];
  }

  /** The ids of the jobs it submitted. */
  get jobIds(): readonly string[] {
    return [...this.#jobIds];
  }

  /** The last state the scheduler reported for each job (absent until first asked; a failed query keeps the last). */
  get jobStates(): readonly JobStatus[] {
    return this.#jobIds.map((id) => this.#lastStatus.get(id) ?? { id, state: 'queued' as const, rawState: 'submitted' });
  }

  /** Each job as last seen: the scheduler's state, or `unknown` while its status command fails. */
  get watchedJobs(): readonly WatchedJob[] {
    return this.#jobIds.flatMap((id) => {
      const job = this.#watched.get(id);
      return job ? [{ ...job }] : [];
    });
  }

  /** Add a handler called each time a job's state changes (see {@link Launcher.onJobChange}); returns its remover. */
  onJobChange(handler: (job: WatchedJob) => void): () => void {
    return addListener(this.#jobHandlers, handler);
  }

  /** Add a handler called once when the job ends (by itself, or cancelled by `stop()`); returns its remover. */
  onExit(handler: (info: ExitInfo) => void): () => void {
    return addListener(this.#handlers, handler);
  }

  /** Batch jobs cannot be signalled from here; this does nothing (stop() cancels them). */
  async signal(_signal: NodeJS.Signals): Promise<void> {
    this.log('signal %s ignored: a batch job is cancelled by stop(), not signalled', _signal);
  }

  /** The job name used when none is configured. */
  protected defaultJobName(): string {
    return defaultJobName(this.context);
  }

  /** The command each task runs: the program (or its replacement) followed by the role's arguments. */
  protected taskCommand(): string[] {
    const program = this.options.program ?? this.context.program;
    return [...program, ...this.context.args];
  }

  /**
   * Build the job: one task for the controller, `context.n` tasks for the engines, each running
   * {@link BatchLauncher.taskCommand}. Subclasses may override to add scheduler-specific details.
   */
  protected buildJob(): JobDescription {
    const count = this.context.role === 'controller' ? 1 : this.context.n;
    if (!Number.isInteger(count) || count < 1) {
      throw new LauncherError(`${this.name}: cannot start ${count} ${this.context.role}; the count must be 1 or more`);
    }
    const command = this.taskCommand();
    const environment = { ...this.context.env, ...this.options.environment };
    const tasks: JobTask[] = [];
    for (let i = 0; i < count; i++) {
      const stdoutPath = this.options.stdoutPath?.(i);
      const stderrPath = this.options.stderrPath?.(i);
      tasks.push({
        name: this.context.role === 'controller' ? 'controller' : `engine-${i}`,
        command,
        ...(this.options.workDirectory !== undefined && { workDirectory: this.options.workDirectory }),
        ...(Object.keys(environment).length && { environment }),
        ...(stdoutPath !== undefined && { stdoutPath }),
        ...(stderrPath !== undefined && { stderrPath }),
        ...(this.options.coresPerTask !== undefined && { cores: this.options.coresPerTask }),
      });
    }
    return {
      name: this.options.jobName ?? this.defaultJobName(),
      tasks,
      exclusive: this.options.exclusive ?? false,
      runUntilCanceled: this.options.runUntilCanceled ?? false,
      ...(this.options.extra && { extra: this.options.extra }),
    };
  }

  /**
   * The jobs to submit: by default the one job of {@link BatchLauncher.buildJob}. A launcher that splits an engine
   * set over several jobs overrides it; each job is submitted, watched and cancelled on its own.
   */
  protected buildJobs(): JobDescription[] {
    return [this.buildJob()];
  }

  /** Submit the job (subclasses may override, e.g. to write a job file first). */
  protected submitJob(job: JobDescription, signal?: AbortSignal): Promise<string> {
    return this.scheduler.submit(job, { signal });
  }

  /**
   * Submit the job. Resolves once the scheduler accepted it.
   * @throws SchedulerError when the scheduler refuses the job; LauncherError when started twice or after stop().
   */
  start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state !== 'idle') {
      return Promise.reject(new LauncherError(`${this.name}: start() called when the launcher is ${this.#state}`));
    }
    this.#state = 'starting';
    this.#starting = this.#start(options.signal);
    return this.#starting;
  }

  async #start(signal: AbortSignal | undefined): Promise<void> {
    try {
      signal?.throwIfAborted();
      for (const job of this.buildJobs()) {
        this.log('submitting job %s: %d task(s) to %s', job.name, job.tasks.length, this.scheduler.name);
        const jobId = await this.submitJob(job, signal);
        this.#jobIds.push(jobId);
        this.log('job %s submitted', jobId);
        this.#observe(jobId, 'queued', 'submitted');
        if (signal?.aborted || this.#stopping) break;
      }
    } catch (err) {
      // Jobs of this set that were already accepted must not be left behind.
      for (const id of this.#jobIds) await this.#cancelQuietly(id);
      this.#state = 'stopped';
      this.log('start failed: %s', (err as Error).message);
      throw err;
    }
    if (signal?.aborted || this.#stopping) {
      // Aborted while the submit was under way: the jobs exist, so they must not be left behind.
      for (const id of this.#jobIds) await this.#cancelQuietly(id);
      this.#state = 'stopped';
      signal?.throwIfAborted();
      return;
    }
    this.#state = 'running';
    for (const id of this.#jobIds) void this.#watchJob(id);
  }

  async #watchJob(jobId: string): Promise<void> {
    const interval = this.options.pollIntervalMs ?? 1000;
    const signal = this.#watch.signal;
    while (!signal.aborted) {
      try {
        await sleep(interval, undefined, { signal });
      } catch {
        return; // stop() ended the watch
      }
      let status: DetailedJobStatus;
      try {
        status = await this.scheduler.status(jobId, { signal });
      } catch (err) {
        if (signal.aborted) return;
        // A failed query is not a failed job (the head node may be busy): keep watching; stop() still works.
        this.log('status of job %s failed: %s', jobId, (err as Error).message);
        this.#observe(jobId, 'unknown', undefined, (err as Error).message);
        continue;
      }
      this.#lastStatus.set(jobId, status);
      this.#observe(jobId, status.state, status.rawState, status.message);
      // While stop() runs, it reports the end itself (as a cancel, not as the job ending by itself).
      if (this.#stopping) return;
      if (isFinalJobState(status.state)) {
        this.log('job %s ended: %s', jobId, status.rawState ?? status.state);
        this.#reportEnd(jobId, status);
        if (this.#jobIds.every((id) => this.#ended.has(id)) && !this.#stopping) this.#state = 'stopped';
        return;
      }
    }
  }

  /**
   * Record what the scheduler said of a job (or that it could not say), and tell the job handlers when it changed.
   * `since` moves only when the state does: a job `submitted` then `Q` has been queued since its submit.
   */
  #observe(jobId: string, state: WatchedJob['state'], rawState: string | undefined, message?: string): void {
    const last = this.#watched.get(jobId);
    if (last && last.state === state && last.rawState === rawState) return;
    const job: WatchedJob = {
      id: jobId,
      state,
      ...(rawState !== undefined && { rawState }),
      since: last && last.state === state ? last.since : Date.now(),
      // A status command's error can be long: its first lines say enough.
      ...(message && { message: message.slice(0, MESSAGE_LIMIT) }),
    };
    this.#watched.set(jobId, job);
    this.log('job %s is %s%s', jobId, state, rawState ? ` (${rawState})` : '');
    for (const handler of [...this.#jobHandlers]) {
      try {
        handler({ ...job });
      } catch (err) {
        this.log('an onJobChange handler threw: %s', (err as Error).message);
      }
    }
  }

  #reportEnd(jobId: string, status: DetailedJobStatus | undefined): void {
    if (this.#ended.has(jobId)) return;
    this.#ended.add(jobId);
    const code = status?.exitCode !== undefined ? status.exitCode : status?.state === 'finished' ? 0 : null;
    const info: ExitInfo = {
      id: jobId,
      code,
      signal: status?.signal ?? null,
      ...(status?.message
        ? { stderrTail: status.message }
        : status && status.state !== 'finished'
          ? { stderrTail: `job ${jobId} ended ${status.rawState ?? status.state}` }
          : {}),
    };
    for (const handler of [...this.#handlers]) {
      try {
        handler(info);
      } catch (err) {
        this.log('an onExit handler threw: %s', (err as Error).message);
      }
    }
  }

  async #cancelQuietly(jobId: string): Promise<void> {
    try {
      await this.scheduler.cancel(jobId);
    } catch (err) {
      this.log('cancel of job %s failed: %s', jobId, (err as Error).message);
    }
  }

  /**
   * Cancel the job and wait until the scheduler reports it ended (or `stopTimeoutMs` passed). Harmless when called
   * twice or before `start()`.
   * @throws SchedulerError when the cancel command failed and the job is still running; TimeoutError when it did not
   * end in time.
   */
  stop(_options: { graceMs?: number } = {}): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    if (this.#state === 'idle') {
      this.#state = 'stopped';
      return;
    }
    await this.#starting?.catch(() => undefined);
    const timeoutMs = this.options.stopTimeoutMs ?? 30_000;
    const failures: Error[] = [];
    for (const jobId of this.#jobIds) {
      if (this.#ended.has(jobId)) continue;
      try {
        const status = await this.#cancelAndWait(jobId, timeoutMs);
        this.#observe(jobId, status.state, status.rawState, status.message);
        this.#reportEnd(jobId, status.state === 'cancelled' ? undefined : status);
      } catch (err) {
        failures.push(err as Error);
      }
    }
    this.#watch.abort();
    this.#state = 'stopped';
    if (failures.length) throw failures[0];
  }

  async #cancelAndWait(jobId: string, timeoutMs: number): Promise<DetailedJobStatus> {
    const deadline = Date.now() + timeoutMs;
    const signal = AbortSignal.timeout(timeoutMs);
    this.log('cancelling job %s', jobId);
    let cancelError: unknown;
    try {
      await this.scheduler.cancel(jobId, { signal });
    } catch (err) {
      cancelError = err;
    }
    const interval = Math.min(this.options.pollIntervalMs ?? 1000, 250);
    let queryError: unknown;
    for (;;) {
      let status: DetailedJobStatus | undefined;
      try {
        status = await this.scheduler.status(jobId, { signal });
      } catch (err) {
        if (cancelError) throw this.#asSchedulerError(cancelError, jobId);
        // An abort by our own deadline says nothing about the job: keep the last real error.
        if (!signal.aborted) queryError = err;
      }
      if (status && isFinalJobState(status.state)) return status;
      if (cancelError) throw this.#asSchedulerError(cancelError, jobId);
      if (Date.now() >= deadline || signal.aborted) {
        const seen = status
          ? `is still ${status.rawState ?? status.state}`
          : `could not be checked (${queryError ? (queryError as Error).message : 'no answer'})`;
        throw new TimeoutError(
          `${this.name}: job ${jobId} was cancelled but ${seen} after ${timeoutMs} ms; ` +
            `check it with the scheduler's tools (it may need cancelling by hand)`,
          timeoutMs,
          { cause: queryError },
        );
      }
      await sleep(interval);
    }
  }

  #asSchedulerError(err: unknown, jobId: string): SchedulerError {
    return err instanceof SchedulerError
      ? err
      : new SchedulerError(`${this.name}: cannot cancel job ${jobId}: ${(err as Error).message}`, { cause: err });
  }
}
