/**
 * The Windows HPC launcher: starts the controller and the engines as jobs of a Windows HPC Server 2008 (HPC Pack)
 * cluster. On each start it writes the job file (`ipcontroller_job.xml` or `ipengineset_job.xml` in the profile
 * directory, valid against the HPC Pack 2008 job schema and importable into HPC Job Manager), submits it with
 * `job submit /jobfile:<file> /scheduler:<head node>`, watches it with `job view <id>`, and on stop runs
 * `job cancel <id>`.
 * @module
 */
import { spawn } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import debug from 'debug';
import { z } from 'zod';
import { SchedulerError } from '../core/errors.js';
import { defineLauncher, type LauncherContext } from '../core/launcher.js';
import type { JobDescription, JobState, Scheduler } from '../core/scheduler.js';
import { BatchLauncher, type DetailedJobStatus } from './batch.js';
import {
  buildJobXml,
  HPC_JOB_PRIORITIES,
  HPC_JOB_STATES,
  HPC_UNIT_TYPES,
  hpcJobSettings,
  type HpcJobSettings,
  type HpcJobState,
} from './hpc-job-xml.js';
import { toArgv } from './in-process.js';
import { quoteWindowsCommandLine } from './windows-cmdline.js';

const log = debug('tsparallel:launcher:windows-hpc');

/** The job file of the controller, in the profile directory. */
export const CONTROLLER_JOB_FILE = 'ipcontroller_job.xml';
/** The job file of the engines, in the profile directory. */
export const ENGINE_SET_JOB_FILE = 'ipengineset_job.xml';

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
    // Mode 0600: a task's environment may hold the engines' connection info (with the cluster's key).
    await writeFile(file, xml, { encoding: 'utf8', mode: 0o600 });
    await chmod(file, 0o600);
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
      if (status && (status.state === 'finished' || status.state === 'failed' || status.state === 'cancelled')) {
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

// ---------------------------------------------------------------------------------------------------------------
// The launcher plugin

const argvOption = z.union([
  z.string().min(1),
  z
    .array(z.string())
    .min(1)
    .refine((argv) => argv[0] !== '', { error: 'the first element (the program) must not be empty' }),
]);

/** `/runtime:` syntax of HPC Pack: `[[days:]hours:]minutes`, or `Infinite`; a number is seconds. */
function runtimeSeconds(value: number | string, ctx: z.RefinementCtx): number | undefined {
  if (typeof value === 'number') return value;
  if (/^infinite$/i.test(value.trim())) return undefined;
  const parts = value.trim().split(':');
  if (parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) {
    ctx.addIssue({
      code: 'custom',
      message: `'${value}' is not a run time: use [[days:]hours:]minutes (e.g. '1:30' for 90 minutes), 'Infinite', or a number of seconds`,
    });
    return z.NEVER;
  }
  const [minutes = 0, hours = 0, days = 0] = parts.map(Number).reverse();
  return ((days * 24 + hours) * 60 + minutes) * 60;
}

/** A range of cores: the fewest the job runs on and the most it uses. */
export interface CoreRange {
  /** The fewest cores. */
  min: number;
  /** The most cores. */
  max: number;
}

/** `/numcores:` syntax: `<min>[-<max>]`, or one number. */
function coreRange(value: number | string, ctx: z.RefinementCtx): CoreRange {
  if (typeof value === 'number') return { min: value, max: value };
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(value);
  if (!m || Number(m[1]) < 1 || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) {
    ctx.addIssue({ code: 'custom', message: `'${value}' is not a core range: use <min>[-<max>], e.g. '8-16'` });
    return z.NEVER;
  }
  return { min: Number(m[1]), max: Number(m[2] ?? m[1]) };
}

const nameList = z
  .union([z.string(), z.array(z.string().min(1))])
  .transform((v) => (typeof v === 'string' ? v.split(/[;,]/).map((s) => s.trim()).filter(Boolean) : v));

/**
 * The options of the `windows-hpc` launcher (`launchers['windows-hpc']` in config). Only `scheduler` is required.
 * @example
 * ```js
 * // tsparallel.config.mjs in the profile directory, as in the seed's ipcluster_config.py
 * export default {
 *   controller: { launcher: 'windows-hpc', ip: '0.0.0.0' },
 *   engines: { launcher: 'windows-hpc' },
 *   launchers: { 'windows-hpc': { scheduler: 'HEADNODE', workDirectory: '\\\\blue\\domainusers$\\bgranger' } },
 * };
 * ```
 */
export const windowsHpcLauncherOptions = z.object({
  /** The head node's host name (required), e.g. `HEADNODE`. */
  scheduler: z
    .string({
      error: (issue) =>
        issue.input === undefined
          ? "is required: the host name of the cluster's head node, e.g. 'HEADNODE' (set launchers.windows-hpc.scheduler in the profile's config)"
          : "must be the head node's host name, a string such as 'HEADNODE'",
    })
    .min(1, { error: "is empty: give the head node's host name, e.g. 'HEADNODE'" }),
  /** The `job` command (default `job`): a program path, or an argument vector (e.g. `[node, simulator.js]`). */
  jobCommand: argvOption.default('job'),
  /** The directory each task runs in (a UNC path such as `\\host\share\dir` is kept exactly). */
  workDirectory: z.string().min(1).optional(),
  /** The job's name in the queue (default `tsparallel-controller` / `tsparallel-engines`). */
  jobName: z.string().min(1).optional(),
  /** The job's priority. */
  priority: z.enum(HPC_JOB_PRIORITIES).optional(),
  /** What the job's resources are counted in (default `Core`). */
  unitType: z.enum(HPC_UNIT_TYPES).optional(),
  /** Whether the job wants its nodes to itself (default false). */
  exclusive: z.boolean().default(false),
  /** Keep the job's resources until it is cancelled (default false: the job ends when its tasks end). */
  runUntilCanceled: z.boolean().default(false),
  /** Environment variables set for every task. */
  environment: z.record(z.string(), z.string()).default({}),
  /** What a node runs to start an engine (default: the tsengine of this installation). */
  engineCommand: argvOption.optional(),
  /** What a node runs to start the controller (default: the tscontroller of this installation). */
  controllerCommand: argvOption.optional(),
  /** Cores the job needs: a number, or `'<min>-<max>'` as in `/numcores:`. Overrides `minCores`/`maxCores`. */
  numCores: z
    .union([z.number().int().positive(), z.string()])
    .transform((v, ctx) => coreRange(v, ctx))
    .optional(),
  /** The fewest cores the job may run on (default: what its tasks need). */
  minCores: z.number().int().positive().optional(),
  /** The most cores the job may use (default: what its tasks need). */
  maxCores: z.number().int().positive().optional(),
  /** The fewest nodes (for `unitType: 'Node'`). */
  minNodes: z.number().int().positive().optional(),
  /** The most nodes (for `unitType: 'Node'`). */
  maxNodes: z.number().int().positive().optional(),
  /** The fewest sockets (for `unitType: 'Socket'`). */
  minSockets: z.number().int().positive().optional(),
  /** The most sockets (for `unitType: 'Socket'`). */
  maxSockets: z.number().int().positive().optional(),
  /** Cores each task needs (default 1). */
  coresPerTask: z.number().int().positive().optional(),
  /** The job's run-time limit: `[[days:]hours:]minutes`, `Infinite`, or seconds. */
  runtime: z
    .union([z.number().int().positive(), z.string()])
    .transform((v, ctx) => runtimeSeconds(v, ctx))
    .optional(),
  /** The project the job is accounted to. */
  projectName: z.string().min(1).optional(),
  /** The job template to submit under. */
  jobTemplate: z.string().min(1).optional(),
  /** Node groups the job may run on (a list, or a `;`-separated string). */
  nodeGroups: nameList.optional(),
  /** Nodes the job may run on (a list, or a `;`-separated string). */
  requestedNodes: nameList.optional(),
  /** Fail the job as soon as one task fails. */
  failOnTaskFailure: z.boolean().optional(),
  /** A directory (seen from the nodes) where each task writes `<job name>-<i>.out` and `.err`. */
  logDirectory: z.string().min(1).optional(),
  /** How often `job view` is run while the job runs, in ms (default 2000). */
  pollIntervalMs: z.number().int().positive().default(2000),
  /** How long one `job` command may run, in ms (default 60000). */
  commandTimeoutMs: z.number().int().positive().default(60_000),
  /** How long stop() waits for a cancelled job to end, in ms (default 60000). */
  stopTimeoutMs: z.number().int().positive().default(60_000),
});

/** The `windows-hpc` options as written in config (before defaults). */
export type WindowsHpcLauncherInput = z.input<typeof windowsHpcLauncherOptions>;
/** The parsed `windows-hpc` options. */
export type WindowsHpcLauncherOptions = z.output<typeof windowsHpcLauncherOptions>;

/** Join a directory and a file name in the directory's own style (Windows paths stay Windows paths). */
function joinLike(dir: string, name: string): string {
  return /^[A-Za-z]:|\\/.test(dir) ? path.win32.join(dir, name) : path.posix.join(dir, name);
}

/** The Windows HPC job terms of the options. */
function settingsOf(options: WindowsHpcLauncherOptions): HpcJobSettings {
  const cores = options.numCores;
  const runtime = options.runtime;
  const settings: HpcJobSettings = {
    priority: options.priority,
    unitType: options.unitType,
    minCores: cores?.min ?? options.minCores,
    maxCores: cores?.max ?? options.maxCores,
    minNodes: options.minNodes,
    maxNodes: options.maxNodes,
    minSockets: options.minSockets,
    maxSockets: options.maxSockets,
    runtimeSeconds: runtime,
    project: options.projectName,
    jobTemplate: options.jobTemplate,
    nodeGroups: options.nodeGroups,
    requestedNodes: options.requestedNodes,
    failOnTaskFailure: options.failOnTaskFailure,
  };
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as HpcJobSettings;
}

/**
 * The launcher behind `windows-hpc`: a {@link BatchLauncher} over a {@link WindowsHpcScheduler} that writes the
 * profile's `ipcontroller_job.xml` / `ipengineset_job.xml` (rewritten on each start) and submits it.
 */
export class WindowsHpcLauncher extends BatchLauncher {
  /** The job file this launcher writes and submits. */
  readonly jobFile: string;

  constructor(context: LauncherContext, options: WindowsHpcLauncherOptions) {
    const scheduler = new WindowsHpcScheduler({
      scheduler: options.scheduler,
      jobCommand: options.jobCommand,
      commandTimeoutMs: options.commandTimeoutMs,
    });
    const jobFile = path.join(context.profileDir, context.role === 'controller' ? CONTROLLER_JOB_FILE : ENGINE_SET_JOB_FILE);
    const program = toArgv(context.role === 'controller' ? options.controllerCommand : options.engineCommand);
    const jobName =
      options.jobName ??
      `tsparallel-${context.role === 'controller' ? 'controller' : 'engines'}${context.clusterId ? '-' + context.clusterId : ''}`;
    const logFile = (ext: string) =>
      options.logDirectory ? (i: number) => joinLike(options.logDirectory!, `${jobName}-${i}.${ext}`) : undefined;
    const extra: Record<string, unknown> = { ...settingsOf(options), jobFile } satisfies WindowsHpcJobExtra;
    super(context, {
      name: 'windows-hpc',
      scheduler,
      ...(program && { program }),
      jobName,
      ...(options.workDirectory !== undefined && { workDirectory: options.workDirectory }),
      environment: options.environment,
      exclusive: options.exclusive,
      runUntilCanceled: options.runUntilCanceled,
      ...(options.coresPerTask !== undefined && { coresPerTask: options.coresPerTask }),
      ...(logFile('out') && { stdoutPath: logFile('out') }),
      ...(logFile('err') && { stderrPath: logFile('err') }),
      extra,
      pollIntervalMs: options.pollIntervalMs,
      stopTimeoutMs: options.stopTimeoutMs,
    });
    this.jobFile = jobFile;
  }
}

/**
 * The `windows-hpc` launcher plugin: the controller or the engines as Windows HPC Server 2008 jobs.
 * Options: {@link windowsHpcLauncherOptions}.
 */
export const windowsHpcLauncher = defineLauncher<WindowsHpcLauncherOptions>({
  name: 'windows-hpc',
  description: 'submits the controller or the engines as Windows HPC Server 2008 jobs (job submit / view / cancel)',
  placesRemotely: true,
  options: windowsHpcLauncherOptions,
  create: (context, options) => new WindowsHpcLauncher(context, options),
});
