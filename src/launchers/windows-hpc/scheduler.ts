/**
 * The Windows HPC scheduler: a {@link Scheduler} over the HPC Pack 2008 `job` command. It submits a job file with
 * `job submit /jobfile:<file> /scheduler:<head node>`, watches it with `job view <id>`, and cancels it with
 * `job cancel <id>`; when a job failed, `task view <id>.<task>` (HPC Pack's `task` command) tells which task failed
 * and what it printed. The shared plumbing (running the commands, the submit / status / cancel cycle) is the batch
 * base's {@link CommandScheduler}; this file is the command table, the job-file writer and the two parsers (the
 * `task view` one is in task-view.ts).
 * @module
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SchedulerError } from '../../core/errors.js';
import type { JobDescription, JobState, Scheduler } from '../../core/scheduler.js';
import {
  CommandScheduler, outputTail, runSchedulerCommand, type ParsedJobState, type RunCommandOptions, type SchedulerCommands,
} from '../batch/command-scheduler.js';
import type { DetailedJobStatus } from '../batch/launcher.js';
import { toArgv } from '../batch/options.js';
import { buildJobXml, HPC_JOB_STATES, hpcJobSettings, type HpcJobSettings, type HpcJobState } from './job-xml.js';
import { quoteWindowsCommandLine } from './cmdline.js';
import { describeFailedTask, parseTaskView } from './task-view.js';

/**
 * The most tasks of a failed job `task view` is run for, looking for the one that failed: HPC's `job view` does not
 * say which, and a job of many engines that failed for one reason fails in its first tasks.
 */
const MAX_TASKS_VIEWED = 32;

// ---------------------------------------------------------------------------------------------------------------
// Reading what `job` prints

/**
 * The job id in what `job submit` printed (`Job has been submitted. ID: 7.`), or `undefined` when there is none.
 */
export function parseSubmitOutput(output: string): string | undefined {
  const m = /Job has been submitted\.?\s*ID\s*:\s*(\d+)/i.exec(output) ?? /\bID\s*:\s*(\d+)/i.exec(output);
  return m?.[1];
}

/** The job state in what `job view <id>` printed (its `State : Running` line), or `undefined` when there is none. */
export function parseJobViewState(output: string): HpcJobState | undefined {
  const m = /^\s*State\s*:\s*([A-Za-z]+)\s*$/im.exec(output);
  if (!m) return undefined;
  const raw = m[1]!.toLowerCase();
  return HPC_JOB_STATES.find((s) => s.toLowerCase() === raw);
}

/**
 * A Windows HPC job state as a {@link JobState}. `Canceling` and `Finishing` are not final (the job still holds
 * processes), so they count as `running`.
 */
export function hpcStateToJobState(state: HpcJobState): JobState {
  switch (state) {
    case 'Configuring':
    case 'Submitted':
    case 'Validating':
    case 'ExternalValidation':
    case 'Queued':
      return 'queued';
    case 'Running':
    case 'Finishing':
    case 'Canceling':
      return 'running';
    case 'Finished':
      return 'finished';
    case 'Failed':
      return 'failed';
    case 'Canceled':
      return 'cancelled';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The scheduler

/** Options of a {@link WindowsHpcScheduler}. */
export interface WindowsHpcSchedulerOptions {
  /** The head node's host name (`/scheduler:` of every command). */
  scheduler: string;
  /** The `job` command: a program path, or an argument vector whose first element is the program (default `job`). */
  jobCommand?: string | readonly string[];
  /** The `task` command (for `task view`, when a job failed): a path or an argument vector (default `task`). */
  taskCommand?: string | readonly string[];
  /** Where {@link WindowsHpcScheduler.submit} writes job files when the job names none (default: the temp dir). */
  jobFileDir?: string;
  /** How long one `job` command may run, in ms (default 60000). */
  commandTimeoutMs?: number;
}

/** What a {@link WindowsHpcScheduler} reads from {@link JobDescription.extra}, besides {@link HpcJobSettings}. */
export interface WindowsHpcJobExtra extends HpcJobSettings {
  /** The path of the job file to write and submit. */
  jobFile?: string;
}

/**
 * A {@link Scheduler} over the HPC Pack `job` command line. `submit` writes the job's XML file and runs
 * `job submit /jobfile:<file> /scheduler:<head>`; `status` runs `job view <id> /scheduler:<head>`; `cancel` runs
 * `job cancel <id> /scheduler:<head>` (an ended job is left alone). Every failure is a {@link SchedulerError} with
 * the command, its exit code and the last lines of its output.
 *
 * When `status` finds a job `Failed`, it runs `task view <id>.<n> /scheduler:<head>` for n = 1, 2, … (at most 32)
 * until it finds a failed task, and returns that task's exit code and a {@link DetailedJobStatus.message} naming it,
 * its output files (the job's `StdOutFilePath`/`StdErrFilePath`) and the last lines of what the scheduler kept of its
 * output (its `Output` property). This is asked once per job. A `task` command that fails or prints something
 * unreadable does not hide the job's failure: the message then says so, with what it printed.
 * @example
 * ```ts
 * const hpc = new WindowsHpcScheduler({ scheduler: 'HEADNODE' });
 * const id = await hpc.submit({ name: 'demo', tasks: [{ command: ['hostname'] }], extra: { jobFile: 'C:\\jobs\\demo.xml' } });
 * ```
 */
export class WindowsHpcScheduler extends CommandScheduler {
  /** The scheduler's name. */
  readonly name = 'windows-hpc';
  /** The head node. */
  readonly headNode: string;
  readonly #jobCommand: readonly string[];
  readonly #taskCommand: readonly string[];
  readonly #jobFileDir: string;
  readonly #timeoutMs: number;
  /** The output files of each submitted job's tasks, named in failure reports when `task view` does not show them. */
  readonly #taskFiles = new Map<string, { stdoutPath?: string; stderrPath?: string }[]>();
  /** What was learnt of a failed job, so that `task view` runs once per job. */
  readonly #failures = new Map<string, Pick<DetailedJobStatus, 'exitCode' | 'message'>>();

  /** The `job` subcommands, each naming the head node. */
  protected readonly commands: SchedulerCommands = {
    submit: (file) => [...this.#jobCommand, 'submit', `/jobfile:${file}`, `/scheduler:${this.headNode}`],
    status: (id) => [...this.#jobCommand, 'view', id, `/scheduler:${this.headNode}`],
    cancel: (id) => [...this.#jobCommand, 'cancel', id, `/scheduler:${this.headNode}`],
  };

  constructor(options: WindowsHpcSchedulerOptions) {
    super();
    if (!options.scheduler) {
      throw new SchedulerError("windows-hpc: no head node given; set 'scheduler' to its host name, e.g. 'HEADNODE'");
    }
    this.headNode = options.scheduler;
    const command = toArgv(options.jobCommand) ?? ['job'];
    if (command.length === 0 || !command[0]) {
      throw new SchedulerError("windows-hpc: jobCommand is empty; give the path of HPC Pack's job.exe (default 'job')");
    }
    this.#jobCommand = command;
    this.#taskCommand = toArgv(options.taskCommand) ?? ['task'];
    this.#jobFileDir = options.jobFileDir ?? tmpdir();
    this.#timeoutMs = options.commandTimeoutMs ?? 60_000;
  }

  /** Commands show as Windows command lines, with what to check when they fail. */
  protected override runOptions(): Omit<RunCommandOptions, 'signal'> {
    return {
      scheduler: this.name,
      timeoutMs: this.#timeoutMs,
      display: quoteWindowsCommandLine,
      what: 'the HPC job command',
      notFoundHint: 'install the HPC Pack client utilities on this machine, or set launchers.windows-hpc.jobCommand to the path of job.exe',
      timeoutHint: `is the head node '${this.headNode}' reachable? (raise launchers.windows-hpc.commandTimeoutMs if it is slow)`,
    };
  }

  protected override noJobIdHint(): string {
    return "expected 'Job has been submitted. ID: <n>.': check that jobCommand runs HPC Pack's job.exe";
  }

  /** Write the job's XML file at `extra.jobFile`, else `<jobFileDir>/<job name>_job.xml` (creating its directory). */
  protected async writeJobFile(job: JobDescription): Promise<string> {
    const extra = (job.extra ?? {}) as WindowsHpcJobExtra;
    const file = extra.jobFile ?? path.join(this.#jobFileDir, `${job.name.replace(/[^\w.-]+/g, '_') || 'job'}_job.xml`);
    const xml = buildJobXml(job, hpcJobSettings(job.extra));
    await mkdir(path.dirname(file), { recursive: true });
    this.log('Writing job description file: %s', file);
    // Mode 0600: a task's environment may hold the engines' connection info (with the cluster's key).
    await writeFile(file, xml, { encoding: 'utf8', mode: 0o600 });
    await chmod(file, 0o600);
    return file;
  }

  /** Submit the job (see {@link CommandScheduler.submit}), remembering where its tasks' output goes. */
  override async submit(job: JobDescription, options: { signal?: AbortSignal } = {}): Promise<string> {
    const id = await super.submit(job, options);
    this.#taskFiles.set(id, job.tasks.map((t) => ({ stdoutPath: t.stdoutPath, stderrPath: t.stderrPath })));
    return id;
  }

  /**
   * The job's state (see {@link CommandScheduler.status}); for a failed job, also which task failed, its exit code
   * and the last lines of its output, read with `task view`.
   * @throws SchedulerError when `job view` fails or prints no state (a failing `task view` only changes the message).
   */
  override async status(jobId: string, options: { signal?: AbortSignal } = {}): Promise<DetailedJobStatus> {
    const status = await super.status(jobId, options);
    if (status.state !== 'failed') return status;
    return { ...status, ...(await this.#failureOf(jobId, options.signal)) };
  }

  async #failureOf(jobId: string, signal: AbortSignal | undefined): Promise<Pick<DetailedJobStatus, 'exitCode' | 'message'>> {
    const known = this.#failures.get(jobId);
    if (known) return known;
    const failure = await this.#findFailedTask(jobId, signal);
    // An aborted search says nothing about the job: ask again next time.
    if (!signal?.aborted) this.#failures.set(jobId, failure);
    return failure;
  }

  /** Run `task view` over the job's tasks until one shows `Failed`; never throws. */
  async #findFailedTask(jobId: string, signal: AbortSignal | undefined): Promise<Pick<DetailedJobStatus, 'exitCode' | 'message'>> {
    const files = this.#taskFiles.get(jobId) ?? [];
    const last = Math.min(MAX_TASKS_VIEWED, files.length || MAX_TASKS_VIEWED);
    for (let n = 1; n <= last; n++) {
      const ref = `${jobId}.${n}`;
      const argv = [...this.#taskCommand, 'view', ref, `/scheduler:${this.headNode}`];
      let printed: string;
      try {
        printed = (await this.#runTaskCommand(argv, signal)).output;
      } catch (err) {
        // Without the job's task count, a failing `task view` after the first is taken as the end of its tasks.
        if (n > 1 && files.length === 0) return { message: `job ${jobId} failed; none of its ${n - 1} task(s) shows Failed in 'task view'` };
        return { message: `job ${jobId} failed; the output of its task ${ref} could not be read: ${(err as Error).message}` };
      }
      const view = parseTaskView(printed);
      if (!view) {
        return {
          message: `job ${jobId} failed; '${quoteWindowsCommandLine(argv)}' printed no task state, so its output is not known. ` +
            `It printed:\n${outputTail(printed, 10) || '(nothing)'}`,
        };
      }
      if (view.state.toLowerCase() !== 'failed') continue;
      this.log('task %s failed (exit code %s)', ref, view.exitCode);
      return { ...(view.exitCode !== undefined && { exitCode: view.exitCode }), message: describeFailedTask(ref, view, files[n - 1]) };
    }
    return { message: `job ${jobId} failed; none of its first ${last} task(s) shows Failed in 'task view'` };
  }

  /** Run one `task` command, with hints that name the `task` command rather than `job`. */
  #runTaskCommand(argv: readonly string[], signal: AbortSignal | undefined): ReturnType<typeof runSchedulerCommand> {
    this.log('running %s', quoteWindowsCommandLine(argv));
    return runSchedulerCommand(argv, {
      ...this.runOptions(),
      what: 'the HPC task command',
      notFoundHint: 'install the HPC Pack client utilities on this machine, or set launchers.windows-hpc.taskCommand to the path of task.exe',
      ...(signal && { signal }),
    });
  }

  protected parseJobId(output: string): string | undefined {
    return parseSubmitOutput(output);
  }

  protected parseJobState(output: string): ParsedJobState | undefined {
    const raw = parseJobViewState(output);
    return raw && { state: hpcStateToJobState(raw), rawState: raw };
  }
}
