/**
 * The in-process test scheduler: a {@link Scheduler} that runs a job's tasks on this
 * machine, as real local processes (or, for engines when asked, inside this process through the container's
 * {@link RoleRunner}), with the states and cancel semantics of a batch system. It accepts the same
 * {@link JobDescription}s as any scheduler (a job file of the `windows-hpc` launcher becomes one through
 * `readHpcJobFile`), so every launcher can be tested without the real cluster. Host applications use it in their own tests.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, openSync, closeSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import debug from 'debug';
import type { DependencyContainer } from 'tsyringe';
import { SchedulerError } from '../../core/errors.js';
import {
  ROLE_RUNNER,
  type LauncherRole,
  type RoleRunner,
  type RunningRole,
} from '../../core/launcher.js';
import { getOptional } from '../../core/tokens.js';
import { signalGroup } from '../../util/processes.js';
import { type JobDescription, type JobState, type JobTask, type Scheduler } from '../../core/scheduler.js';
import { isFinalJobState, type DetailedJobStatus } from '../batch/launcher.js';

const log = debug('tsparallel:launcher:in-process');

/** How many characters of a task's standard error are kept for {@link DetailedJobStatus.message}. */
const STDERR_TAIL_CHARS = 4000;

/**
 * What the in-process scheduler reads from {@link JobDescription.extra}. Other keys are ignored.
 */
export interface InProcessJobExtra {
  /**
   * Run every task of the job inside this process, through the container's {@link RoleRunner}, as this role with
   * these arguments (instead of spawning the task's command).
   */
  runInProcess?: {
    /** The role each task runs as. */
    role: LauncherRole;
    /** The role's command-line arguments. */
    args: readonly string[];
    /** The runner to use; default: the one registered under {@link ROLE_RUNNER} in the scheduler's container. */
    runner?: RoleRunner;
  };
}

/** Options of an {@link InProcessScheduler}. */
export interface InProcessSchedulerOptions {
  /** The container holding the {@link RoleRunner} (token {@link ROLE_RUNNER}); needed only for in-process tasks. */
  container?: DependencyContainer;
  /** How long cancelled processes get between SIGTERM and SIGKILL, in ms (default 5000). */
  graceMs?: number;
}

/** A task goes through the same states as a job. */
type TaskState = JobState;

/** One task of a job: a child process or a role running in this process. */
interface TaskRecord {
  name: string;
  state: TaskState;
  pid?: number;
  child?: ChildProcess;
  /** For a task run in this process: resolves with its role once started (undefined when the start failed). */
  roleStarted?: Promise<RunningRole | undefined>;
  exitCode: number | null;
  signal: string | null;
  stderrTail: string;
  /** Resolves when the task has ended, whatever the way. */
  ended: Promise<void>;
}

interface JobRecord {
  id: string;
  job: JobDescription;
  tasks: TaskRecord[];
  cancelled: boolean;
  cancelling?: Promise<void>;
}

/**
 * A {@link Scheduler} that runs jobs on this machine. Each task's command is spawned as a real child process in its
 * own process group (so cancelling also ends what the task started); its standard output and error go to the task's
 * `stdoutPath`/`stderrPath` when given, and the last lines of standard error are kept for the job's status.
 *
 * States follow a batch system: a job is `running` while any task runs; it is `finished` when every task exited 0,
 * `failed` when one did not (or could not start), and `cancelled` after {@link InProcessScheduler.cancel}. A job with
 * `runUntilCanceled` stays `running` until cancelled. Cancel sends SIGTERM to every task's process group, then
 * SIGKILL after `graceMs`, and resolves once every process has exited; cancelling an ended job does nothing.
 * Every pid it started is kept ({@link InProcessScheduler.pids}), so tests can check that none survives.
 * @example
 * ```ts
 * await using scheduler = new InProcessScheduler();
 * const id = await scheduler.submit({ name: 'demo', tasks: [{ command: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] }] });
 * (await scheduler.status(id)).state; // 'running'
 * await scheduler.cancel(id);          // the process is gone when this resolves
 * ```
 */
export class InProcessScheduler implements Scheduler, AsyncDisposable {
  /** The scheduler's name. */
  readonly name = 'in-process';
  readonly #jobs = new Map<string, JobRecord>();
  readonly #container: DependencyContainer | undefined;
  readonly #graceMs: number;
  #nextId = 1;

  constructor(options: InProcessSchedulerOptions = {}) {
    this.#container = options.container;
    this.#graceMs = options.graceMs ?? 5000;
  }

  /**
   * Start a job's tasks. Resolves with the new job's id once every task was started (a task whose program cannot
   * be started makes the job `failed`, as on a batch system; it does not make `submit` throw).
   * @throws SchedulerError when the job has no tasks, a task has an empty command, or in-process tasks are asked for
   * and no {@link RoleRunner} is registered.
   */
  async submit(job: JobDescription, options: { signal?: AbortSignal } = {}): Promise<string> {
    options.signal?.throwIfAborted();
    if (job.tasks.length === 0) throw new SchedulerError(`in-process: job '${job.name}' has no tasks; give it one or more`);
    const inProcess = (job.extra as InProcessJobExtra | undefined)?.runInProcess;
    job.tasks.forEach((t, i) => {
      if (!inProcess && t.command.length === 0) {
        throw new SchedulerError(`in-process: task ${i + 1} of job '${job.name}' has an empty command`);
      }
    });
    const runner = inProcess ? (inProcess.runner ?? this.#roleRunner()) : undefined;
    const id = String(this.#nextId++);
    const record: JobRecord = { id, job, tasks: [], cancelled: false };
    this.#jobs.set(id, record);
    log('job %s (%s): %d task(s)%s', id, job.name, job.tasks.length, inProcess ? ` in this process as ${inProcess.role}` : '');
    for (const [index, task] of job.tasks.entries()) {
      const name = task.name ?? `task-${index + 1}`;
      record.tasks.push(
        runner && inProcess ? this.#startRole(runner, inProcess, name) : this.#startProcess(id, index, name, task),
      );
    }
    return id;
  }

  /**
   * The job's state; when it ended other than `finished`, the exit code, signal and standard-error tail of the
   * first task that failed.
   * @throws SchedulerError when no job has this id.
   */
  async status(jobId: string): Promise<DetailedJobStatus> {
    const record = this.#job(jobId);
    const state = this.#jobState(record);
    const status: DetailedJobStatus = { id: jobId, state, rawState: state };
    if (state === 'failed') {
      const failed = record.tasks.find((t) => t.state === 'failed');
      if (failed) {
        status.exitCode = failed.exitCode;
        status.signal = failed.signal;
        status.message = `task ${failed.name} failed` + (failed.stderrTail ? `:\n${failed.stderrTail}` : '');
      }
    } else if (state === 'finished') {
      status.exitCode = 0;
    }
    return status;
  }

  /**
   * Cancel a job: SIGTERM to each task's process group (or `stop()` for in-process tasks), SIGKILL after `graceMs`.
   * Resolves once every task has ended. Harmless for a job that already ended.
   * @throws SchedulerError when no job has this id.
   */
  cancel(jobId: string): Promise<void> {
    const record = this.#job(jobId);
    if (isFinalJobState(this.#jobState(record)) && !record.cancelling) return Promise.resolve();
    record.cancelling ??= this.#cancel(record);
    return record.cancelling;
  }

  /** Every pid this scheduler started (of one job, or of all), alive or not: for tests to check none survives. */
  pids(jobId?: string): number[] {
    const jobs = jobId === undefined ? [...this.#jobs.values()] : [this.#job(jobId)];
    return jobs.flatMap((j) => j.tasks.flatMap((t) => (t.pid === undefined ? [] : [t.pid])));
  }

  /** The ids of every job submitted here. */
  jobIds(): string[] {
    return [...this.#jobs.keys()];
  }

  /** Cancel every job that has not ended. Closing twice is harmless. */
  async close(): Promise<void> {
    await Promise.all([...this.#jobs.keys()].map((id) => this.cancel(id)));
  }

  /** Same as {@link InProcessScheduler.close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #job(jobId: string): JobRecord {
    const record = this.#jobs.get(jobId);
    if (!record) {
      throw new SchedulerError(`in-process: no job ${jobId}; known jobs: ${this.jobIds().join(', ') || 'none'}`);
    }
    return record;
  }

  #jobState(record: JobRecord): JobState {
    if (record.cancelled && record.tasks.every((t) => isFinalJobState(t.state))) return 'cancelled';
    if (record.tasks.some((t) => !isFinalJobState(t.state))) {
      return record.tasks.every((t) => t.state === 'queued') ? 'queued' : 'running';
    }
    if (record.job.runUntilCanceled) return 'running'; // holds its resources until cancelled, as on HPC
    return record.tasks.some((t) => t.state !== 'finished') ? 'failed' : 'finished';
  }

  #roleRunner(): RoleRunner {
    const runner = this.#container && getOptional(this.#container, ROLE_RUNNER);
    if (!runner) {
      throw new SchedulerError(
        'in-process: running tasks in this process needs a RoleRunner registered under ROLE_RUNNER in the ' +
          "cluster's container (createCluster() registers one); pass the container to InProcessScheduler, or set " +
          'launchers.in-process.enginesInProcess to false to run engines as processes',
      );
    }
    return runner;
  }

  #startRole(runner: RoleRunner, spec: NonNullable<InProcessJobExtra['runInProcess']>, name: string): TaskRecord {
    const task: TaskRecord = { name, state: 'queued', exitCode: null, signal: null, stderrTail: '', ended: Promise.resolve() };
    const started = runner.run(spec.role, spec.args).then(
      (role) => role,
      (err: unknown) => {
        task.stderrTail = (err as Error).stack ?? String(err);
        return undefined;
      },
    );
    task.roleStarted = started;
    task.ended = (async () => {
      const role = await started;
      if (!role) {
        if (task.state !== 'cancelled') task.state = 'failed';
        return;
      }
      if (task.state === 'queued') task.state = 'running';
      try {
        task.exitCode = await role.exited;
        if (task.state !== 'cancelled') task.state = task.exitCode === 0 ? 'finished' : 'failed';
      } catch (err) {
        task.stderrTail = (err as Error).stack ?? String(err);
        if (task.state !== 'cancelled') task.state = 'failed';
      }
      log('in-process task %s ended: %s (code %s)', name, task.state, task.exitCode);
    })();
    return task;
  }

  #startProcess(jobId: string, index: number, name: string, spec: JobTask): TaskRecord {
    const task: TaskRecord = { name, state: 'queued', exitCode: null, signal: null, stderrTail: '', ended: Promise.resolve() };
    const [program, ...args] = spec.command;
    let stdoutFd: number | undefined;
    let stderrFile: WriteStream | undefined;
    try {
      if (spec.stdoutPath) {
        mkdirSync(path.dirname(spec.stdoutPath), { recursive: true });
        stdoutFd = openSync(spec.stdoutPath, 'a');
      }
      if (spec.stderrPath) {
        mkdirSync(path.dirname(spec.stderrPath), { recursive: true });
        stderrFile = createWriteStream(spec.stderrPath, { flags: 'a' });
      }
    } catch (err) {
      if (stdoutFd !== undefined) closeSync(stdoutFd);
      task.state = 'failed';
      task.stderrTail = `cannot open the task's output file: ${(err as Error).message}`;
      return task;
    }
    log('job %s task %s: %o', jobId, name, spec.command);
    let child: ChildProcess;
    try {
      child = spawn(program!, args, {
        cwd: spec.workDirectory,
        env: {
          ...process.env,
          ...spec.environment,
          TSPARALLEL_JOB_ID: jobId,
          TSPARALLEL_TASK_INDEX: String(index),
        },
        // Its own process group: cancel signals the group, so what the task started ends with it.
        detached: true,
        stdio: ['ignore', stdoutFd ?? 'ignore', 'pipe'],
      });
    } catch (err) {
      task.state = 'failed';
      task.stderrTail = `cannot start ${program}: ${(err as Error).message}`;
      if (stdoutFd !== undefined) closeSync(stdoutFd);
      stderrFile?.end();
      return task;
    }
    if (stdoutFd !== undefined) closeSync(stdoutFd); // the child holds its own copy
    task.child = child;
    task.pid = child.pid;
    task.state = child.pid === undefined ? 'queued' : 'running';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderrFile?.write(chunk);
      task.stderrTail = (task.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_CHARS);
    });
    task.ended = new Promise<void>((resolve) => {
      let spawnError: Error | undefined;
      child.once('error', (err) => {
        spawnError = err;
        // A process that never started emits no 'close': end the task here.
        if (child.pid === undefined) finish(null, null);
      });
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (isFinalJobState(task.state)) return resolve();
        task.exitCode = code;
        task.signal = signal;
        if (spawnError) {
          task.stderrTail = `cannot start ${program} (${(spawnError as NodeJS.ErrnoException).code ?? 'error'}): ` +
            `${spawnError.message}` + (task.stderrTail ? `\n${task.stderrTail}` : '');
        }
        task.state = task.state === 'cancelled' ? 'cancelled' : code === 0 && !spawnError ? 'finished' : 'failed';
        stderrFile?.end();
        log('job %s task %s (pid %s) ended: %s, code %s, signal %s', jobId, name, task.pid, task.state, code, signal);
        resolve();
      };
      child.once('close', (code, signal) => finish(code, signal));
    });
    return task;
  }

  async #cancel(record: JobRecord): Promise<void> {
    record.cancelled = true;
    log('cancelling job %s', record.id);
    await Promise.all(record.tasks.map((t) => this.#stopTask(t)));
    log('job %s cancelled', record.id);
  }

  async #stopTask(task: TaskRecord): Promise<void> {
    if (isFinalJobState(task.state)) return;
    task.state = 'cancelled';
    if (task.roleStarted) {
      // A role still starting is stopped as soon as it has started.
      await withTimeout(
        task.roleStarted.then((role) => role?.stop()),
        this.#graceMs * 2,
      );
      await withTimeout(task.ended, this.#graceMs);
      return;
    }
    const pid = task.pid;
    if (pid === undefined) return;
    signalGroup(pid, 'SIGTERM');
    const ended = await withTimeout(task.ended, this.#graceMs);
    if (!ended) {
      log('pid %d did not end within %d ms of SIGTERM: SIGKILL', pid, this.#graceMs);
      signalGroup(pid, 'SIGKILL');
      await withTimeout(task.ended, this.#graceMs);
    }
    // Whatever the task itself started is in its group: make sure none of it outlives the cancel.
    signalGroup(pid, 'SIGKILL');
  }
}


/** Resolves true when `promise` settled within `ms`, false otherwise. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

