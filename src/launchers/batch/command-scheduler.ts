/**
 * A scheduler driven by command-line tools, written once: how a batch system's commands are run (a time limit, an
 * abort signal, a bounded output tail, errors that carry the command, exit code and output and say what to do), and
 * the submit / status / cancel cycle over them. A scheduler for one batch system gives its command table, its
 * job-file writer and its two parsers (job id, job state).
 * @module
 */
import { spawn } from 'node:child_process';
import debug from 'debug';
import { SchedulerError } from '../../core/errors.js';
import type { JobDescription, JobState, Scheduler } from '../../core/scheduler.js';
import { isFinalJobState, type DetailedJobStatus } from './launcher.js';

/** How many lines of a command's output an error keeps. */
const OUTPUT_TAIL_LINES = 20;

/** The last `lines` lines of a command's output. */
export function outputTail(text: string, lines = OUTPUT_TAIL_LINES): string {
  return text.trimEnd().split(/\r?\n/).slice(-lines).join('\n');
}

/** How a command exited; a {@link runSchedulerCommand} result always has code 0. */
export interface CommandResult {
  /** The exit code. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: NodeJS.Signals | null;
  /** Its standard output and error, interleaved (the last 64 kB). */
  output: string;
}

/** How {@link runSchedulerCommand} runs a command and words its errors. */
export interface RunCommandOptions {
  /** The scheduler's name, the first word of every message (`windows-hpc`, `slurm`, …). */
  scheduler: string;
  /** How long the command may run, in ms. */
  timeoutMs: number;
  /** Aborts the command (it is killed). */
  signal?: AbortSignal;
  /** How the command reads in messages (default: its arguments joined by spaces). */
  display?: (argv: readonly string[]) => string;
  /** What the program is, for the message when it cannot be run (default `the command`). */
  what?: string;
  /** What to do when the program is not found (e.g. which package to install, which option names its path). */
  notFoundHint?: string;
  /** What to check when the command did not finish in time. */
  timeoutHint?: string;
}

/**
 * Run one scheduler command; resolves once it exited 0.
 * @throws SchedulerError when it cannot be started, fails, or does not finish within `timeoutMs` (with the command,
 *   its exit code and the last lines of its output); the abort reason when aborted.
 */
export function runSchedulerCommand(argv: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  const { scheduler, timeoutMs, signal } = options;
  const shown = (options.display ?? ((a: readonly string[]) => a.join(' ')))(argv);
  return new Promise<CommandResult>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let output = '';
    let settled = false;
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const onData = (chunk: Buffer) => {
      // Keep a bounded amount: a tail is all an error needs, and a queue listing can be long.
      output = (output + chunk.toString('utf8')).slice(-64_000);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(
        new SchedulerError(
          `${scheduler}: '${shown}' did not finish within ${timeoutMs} ms${options.timeoutHint ? `; ${options.timeoutHint}` : ''}`,
          { command: [...argv], exitCode: null, output: outputTail(output) },
        ),
      );
    }, timeoutMs);
    const onAbort = () => {
      child.kill('SIGKILL');
      finish(signal!.reason instanceof Error ? signal!.reason : new SchedulerError(`${scheduler}: '${shown}' was aborted`));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const finish = (error: Error | undefined, result?: CommandResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (error) reject(error);
      else resolve(result!);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      const hint = err.code === 'ENOENT' ? `not found${options.notFoundHint ? `; ${options.notFoundHint}` : ''}` : err.message;
      finish(
        new SchedulerError(`${scheduler}: cannot run ${options.what ?? 'the command'} '${argv[0]}': ${hint}`, {
          command: [...argv],
          exitCode: null,
          output: '',
          cause: err,
        }),
      );
    });
    child.once('close', (code, sig) => {
      if (code === 0) return finish(undefined, { code, signal: sig, output });
      finish(
        new SchedulerError(
          `${scheduler}: '${shown}' failed (exit code ${code ?? 'none'}${sig ? `, signal ${sig}` : ''}):\n` +
            (outputTail(output) || '(no output)'),
          { command: [...argv], exitCode: code, output: outputTail(output) },
        ),
      );
    });
  });
}

/** A job's state as a status command printed it. */
export interface ParsedJobState {
  /** The state. */
  state: JobState;
  /** The batch system's own word for it (e.g. `R`, `Running`). */
  rawState: string;
}

/** The commands of a batch system, as full argument vectors. */
export interface SchedulerCommands {
  /** Submit a job file (e.g. `['sbatch', file]`). */
  submit(jobFile: string): readonly string[];
  /** Ask for a job's state (e.g. `['squeue', '-h', '-j', id, '-o', '%T']`). */
  status(jobId: string): readonly string[];
  /** Cancel a job (e.g. `['scancel', id]`). */
  cancel(jobId: string): readonly string[];
}

/**
 * A {@link Scheduler} over a batch system's command-line tools. `submit` writes the job file and runs the submit
 * command, reading the job id from its output; `status` runs the status command and reads the state; `cancel` runs
 * the cancel command, and a job that had already ended is not an error. Every failure is a {@link SchedulerError}
 * with the command, its exit code and the last lines of its output.
 * @example
 * ```ts
 * class PbsScheduler extends CommandScheduler {
 *   readonly name = 'pbs';
 *   protected readonly commands = { submit: (f) => ['qsub', f], status: (id) => ['qstat', '-f', id], cancel: (id) => ['qdel', id] };
 *   protected writeJobFile(job) { … return file; }
 *   protected parseJobId(output) { return /^(\d+[.\w-]*)/m.exec(output)?.[1]; }
 *   protected parseJobState(output) { … }
 * }
 * ```
 */
export abstract class CommandScheduler implements Scheduler {
  /** The scheduler's name (`pbs`, `slurm`, …). */
  abstract readonly name: string;
  /** The command table. */
  protected abstract readonly commands: SchedulerCommands;
  /** Its logger (`tsparallel:launcher:<name>`). */
  protected get log(): debug.Debugger {
    return debug(`tsparallel:launcher:${this.name}`);
  }

  /** Write the job's file for the submit command; resolves to its path. */
  protected abstract writeJobFile(job: JobDescription): Promise<string>;
  /** The job id in the submit command's output, or `undefined` when there is none. */
  protected abstract parseJobId(output: string): string | undefined;
  /** The job's state in the status command's output, or `undefined` when there is none. */
  protected abstract parseJobState(output: string): ParsedJobState | undefined;

  /** How long one command may run, in ms (default 60000). */
  protected commandTimeoutMs(): number {
    return 60_000;
  }

  /** How commands run and word their errors; a scheduler adds its hints (what to install, what to check). */
  protected runOptions(): Omit<RunCommandOptions, 'signal'> {
    return { scheduler: this.name, timeoutMs: this.commandTimeoutMs() };
  }

  /** What a message about a submit output without a job id adds (e.g. the output it expected). */
  protected noJobIdHint(): string {
    return 'check that the submit command is the batch system’s';
  }

  /** Run one command of this scheduler. */
  protected run(argv: readonly string[], signal?: AbortSignal): Promise<CommandResult> {
    const options = this.runOptions();
    this.log('running %s', (options.display ?? ((a: readonly string[]) => a.join(' ')))(argv));
    return runSchedulerCommand(argv, { ...options, ...(signal && { signal }) });
  }

  #display(argv: readonly string[]): string {
    return (this.runOptions().display ?? ((a: readonly string[]) => a.join(' ')))(argv);
  }

  /**
   * Write the job file and submit it. Resolves with the job id.
   * @throws SchedulerError when the command cannot run, fails, or prints no job id.
   */
  async submit(job: JobDescription, options: { signal?: AbortSignal } = {}): Promise<string> {
    return this.submitJobFile(await this.writeJobFile(job), options);
  }

  /**
   * Submit an existing job file. Resolves with the job id.
   * @throws SchedulerError when the command cannot run, fails, or prints no job id.
   */
  async submitJobFile(file: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const argv = this.commands.submit(file);
    const result = await this.run(argv, options.signal);
    const id = this.parseJobId(result.output);
    if (!id) {
      throw new SchedulerError(
        `${this.name}: '${this.#display(argv)}' succeeded but printed no job id; ${this.noJobIdHint()}. It printed:\n${outputTail(result.output) || '(nothing)'}`,
        { command: [...argv], exitCode: result.code, output: outputTail(result.output) },
      );
    }
    this.log('job %s submitted', id);
    return id;
  }

  /**
   * The job's state.
   * @throws SchedulerError when the command fails or prints no state.
   */
  async status(jobId: string, options: { signal?: AbortSignal } = {}): Promise<DetailedJobStatus> {
    const argv = this.commands.status(jobId);
    const result = await this.run(argv, options.signal);
    const parsed = this.parseJobState(result.output);
    if (!parsed) {
      throw new SchedulerError(
        `${this.name}: '${this.#display(argv)}' printed no job state; it printed:\n${outputTail(result.output) || '(nothing)'}`,
        { command: [...argv], exitCode: result.code, output: outputTail(result.output) },
      );
    }
    return { id: jobId, ...parsed };
  }

  /**
   * Cancel the job. A job that already ended (which batch systems refuse to cancel) is not an error.
   * @throws SchedulerError when the cancel fails and the job has not ended.
   */
  async cancel(jobId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      await this.run(this.commands.cancel(jobId), options.signal);
      this.log('job %s cancelled', jobId);
    } catch (err) {
      const status = await this.status(jobId, options).catch(() => undefined);
      if (status && isFinalJobState(status.state)) {
        this.log('job %s had already ended (%s): nothing to cancel', jobId, status.rawState);
        return;
      }
      throw err;
    }
  }
}
