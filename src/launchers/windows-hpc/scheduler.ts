/**
 * The Windows HPC scheduler: a {@link Scheduler} over the HPC Pack 2008 `job` command. It submits a job file with
 * `job submit /jobfile:<file> /scheduler:<head node>`, watches it with `job view <id>`, and cancels it with
 * `job cancel <id>`.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import debug from 'debug';
import { SchedulerError } from '../../core/errors.js';
import type { JobDescription, JobState, Scheduler } from '../../core/scheduler.js';
import { isFinalJobState, type DetailedJobStatus } from '../batch/launcher.js';
import { toArgv } from '../batch/options.js';
import {
  buildJobXml,
  HPC_JOB_STATES,
  hpcJobSettings,
  type HpcJobSettings,
  type HpcJobState,
} from './job-xml.js';
import { quoteWindowsCommandLine } from './cmdline.js';

const log = debug('tsparallel:launcher:windows-hpc');


/** How many lines of a command's output an error keeps. */
const OUTPUT_TAIL_LINES = 20;

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

function tail(text: string, lines = OUTPUT_TAIL_LINES): string {
  return text.trimEnd().split(/\r?\n/).slice(-lines).join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// The scheduler

/** Options of a {@link WindowsHpcScheduler}. */
export interface WindowsHpcSchedulerOptions {
  /** The head node's host name (`/scheduler:` of every command). */
  scheduler: string;
  /** The `job` command: a program path, or an argument vector whose first element is the program (default `job`). */
  jobCommand?: string | readonly string[];
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

interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/**
 * A {@link Scheduler} over the HPC Pack `job` command line. `submit` writes the job's XML file and runs
 * `job submit /jobfile:<file> /scheduler:<head>`; `status` runs `job view <id> /scheduler:<head>`; `cancel` runs
 * `job cancel <id> /scheduler:<head>` (an ended job is left alone). Every failure is a {@link SchedulerError} with
 * the command, its exit code and the last lines of its output.
 * @example
 * ```ts
 * const hpc = new WindowsHpcScheduler({ scheduler: 'HEADNODE' });
 * const id = await hpc.submit({ name: 'demo', tasks: [{ command: ['hostname'] }], extra: { jobFile: 'C:\\jobs\\demo.xml' } });
 * ```
 */
export class WindowsHpcScheduler implements Scheduler {
  /** The scheduler's name. */
  readonly name = 'windows-hpc';
  /** The head node. */
  readonly headNode: string;
  readonly #jobCommand: readonly string[];
  readonly #jobFileDir: string;
  readonly #timeoutMs: number;

  constructor(options: WindowsHpcSchedulerOptions) {
    if (!options.scheduler) {
      throw new SchedulerError("windows-hpc: no head node given; set 'scheduler' to its host name, e.g. 'HEADNODE'");
    }
    this.headNode = options.scheduler;
    const command = toArgv(options.jobCommand) ?? ['job'];
    if (command.length === 0 || !command[0]) {
      throw new SchedulerError("windows-hpc: jobCommand is empty; give the path of HPC Pack's job.exe (default 'job')");
    }
    this.#jobCommand = command;
    this.#jobFileDir = options.jobFileDir ?? tmpdir();
    this.#timeoutMs = options.commandTimeoutMs ?? 60_000;
  }

  /** Write a job's XML file (creating its directory). */
  async writeJobFile(job: JobDescription, file: string): Promise<void> {
    const xml = buildJobXml(job, hpcJobSettings(job.extra));
    await mkdir(path.dirname(file), { recursive: true });
    log('Writing job description file: %s', file);
    await writeFile(file, xml, 'utf8');
  }

  /**
   * Write the job file (at `extra.jobFile`, else `<jobFileDir>/<job name>_job.xml`) and submit it. Resolves with
   * the id `job submit` printed.
   * @throws SchedulerError when the command cannot run, fails, or prints no job id.
   */
  async submit(job: JobDescription, options: { signal?: AbortSignal } = {}): Promise<string> {
    const extra = (job.extra ?? {}) as WindowsHpcJobExtra;
    const file = extra.jobFile ?? path.join(this.#jobFileDir, `${job.name.replace(/[^\w.-]+/g, '_') || 'job'}_job.xml`);
    await this.writeJobFile(job, file);
    return this.submitJobFile(file, options);
  }

  /**
   * Submit an existing job file. Resolves with the job id.
   * @throws SchedulerError when the command cannot run, fails, or prints no job id.
   */
  async submitJobFile(file: string, options: { signal?: AbortSignal } = {}): Promise<string> {
    const args = ['submit', `/jobfile:${file}`, `/scheduler:${this.headNode}`];
    const result = await this.#run(args, options.signal);
    const id = parseSubmitOutput(result.output);
    if (!id) {
      throw new SchedulerError(
        `windows-hpc: '${this.#display(args)}' succeeded but printed no job id (expected 'Job has been submitted. ID: <n>.'); ` +
          `check that jobCommand runs HPC Pack's job.exe. It printed:\n${tail(result.output) || '(nothing)'}`,
        { command: this.#argv(args), exitCode: result.code, output: tail(result.output) },
      );
    }
    log('job %s submitted to %s', id, this.headNode);
    return id;
  }

  /**
   * The job's state, from `job view <id>`.
   * @throws SchedulerError when the command fails or prints no state.
   */
  async status(jobId: string, options: { signal?: AbortSignal } = {}): Promise<DetailedJobStatus> {
    const args = ['view', jobId, `/scheduler:${this.headNode}`];
    const result = await this.#run(args, options.signal);
    const raw = parseJobViewState(result.output);
    if (!raw) {
      throw new SchedulerError(
        `windows-hpc: '${this.#display(args)}' printed no 'State :' line; it printed:\n${tail(result.output) || '(nothing)'}`,
        { command: this.#argv(args), exitCode: result.code, output: tail(result.output) },
      );
    }
    return { id: jobId, state: hpcStateToJobState(raw), rawState: raw };
  }

  /**
   * Cancel the job with `job cancel <id>`. HPC Pack refuses to cancel a job that already ended; that is not an
   * error here.
   * @throws SchedulerError when the cancel fails and the job has not ended.
   */
  async cancel(jobId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const args = ['cancel', jobId, `/scheduler:${this.headNode}`];
    try {
      await this.#run(args, options.signal);
      log('job %s cancelled', jobId);
    } catch (err) {
      const status = await this.status(jobId, options).catch(() => undefined);
      if (status && isFinalJobState(status.state)) {
        log('job %s had already ended (%s): nothing to cancel', jobId, status.rawState);
        return;
      }
      throw err;
    }
  }

  #argv(args: readonly string[]): string[] {
    return [...this.#jobCommand, ...args];
  }

  #display(args: readonly string[]): string {
    return quoteWindowsCommandLine(this.#argv(args));
  }

  /** Run the job command; resolves only when it exited 0. */
  #run(args: readonly string[], signal: AbortSignal | undefined): Promise<CommandResult> {
    const argv = this.#argv(args);
    log('Starting Win HPC Job: %s', this.#display(args));
    return new Promise<CommandResult>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      let output = '';
      let settled = false;
      const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
      const onData = (chunk: Buffer) => {
        // Keep a bounded amount: a tail is all an error needs, and `job list` output can be long.
        output = (output + chunk.toString('utf8')).slice(-64_000);
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(
          new SchedulerError(
            `windows-hpc: '${this.#display(args)}' did not finish within ${this.#timeoutMs} ms; is the head node ` +
              `'${this.headNode}' reachable? (raise launchers.windows-hpc.commandTimeoutMs if it is slow)`,
            { command: argv, exitCode: null, output: tail(output) },
          ),
        );
      }, this.#timeoutMs);
      const onAbort = () => {
        child.kill('SIGKILL');
        finish(signal!.reason instanceof Error ? signal!.reason : new SchedulerError(`windows-hpc: '${this.#display(args)}' was aborted`));
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
        const hint =
          err.code === 'ENOENT'
            ? `not found; install the HPC Pack client utilities on this machine, or set launchers.windows-hpc.jobCommand to the path of job.exe`
            : err.message;
        finish(
          new SchedulerError(`windows-hpc: cannot run the HPC job command '${argv[0]}': ${hint}`, {
            command: argv,
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
            `windows-hpc: '${this.#display(args)}' failed (exit code ${code ?? 'none'}${sig ? `, signal ${sig}` : ''}):\n` +
              (tail(output) || '(no output)'),
            { command: argv, exitCode: code, output: tail(output) },
          ),
        );
      });
    });
  }
}

