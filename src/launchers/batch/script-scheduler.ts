/**
 * A {@link Scheduler} over a batch system that takes job scripts (Slurm, PBS, Grid Engine, LSF, HTCondor), written
 * once: it renders the script, writes it under the profile (`batch/<clusterId>-<role>-<set>.<ext>`, mode 0700, logged
 * at debug level), runs the submit command (a file argument or the script on standard input), reads the job id with
 * an anchored parser, asks for the job's state with the system's own tools, cancels, and reads the tail of a job's
 * output file once it ended. A batch system is described by a {@link BatchSystem}: a few functions, no class.
 * @module
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import debug from 'debug';
import { SchedulerError } from '../../core/errors.js';
import type { JobDescription, Scheduler } from '../../core/scheduler.js';
import { isFinalJobState, type DetailedJobStatus } from './launcher.js';
import { outputTail, type CommandResult, type CommandRunner, type JobScriptInput, type ObservedJobStatus } from './scheduler-kit.js';

/** A submit command: its argument vector, and the file fed to its standard input (LSF's `bsub < script`), if any. */
export interface SubmitCommand {
  /** The argument vector. */
  argv: readonly string[];
  /** A file to feed to the command's standard input. */
  stdinPath?: string;
}

/**
 * What a batch system is to the batch base: how to write a job script, the three commands, and the parsers. Its
 * `Options` are the parsed launcher options (its own fields and the shared ones).
 */
export interface BatchSystem<Options = any> {
  /** The launcher's and scheduler's name (`slurm`, `pbs`, …). */
  readonly name: string;
  /** The job script's file extension (`sh`, `sub`). */
  readonly ext: string;
  /** What to install or set when a command is not found. */
  readonly notFoundHint?: string;
  /** The rendered job script (or submit description) for one job. */
  script(input: JobScriptInput, options: Options): string;
  /** The submit command for a written script. */
  submit(scriptPath: string, options: Options): readonly string[] | SubmitCommand;
  /** The job id in the submit command's output (anchored); throws a {@link SchedulerError} when there is none. */
  parseJobId(output: string, command: readonly string[]): string;
  /** The job's state, asked with the system's tools (`unknown` when they fail). */
  query(jobId: string, run: CommandRunner, options: Options): Promise<ObservedJobStatus>;
  /** The cancel command. */
  cancel(jobId: string): readonly string[];
}

/** What a {@link ScriptScheduler} job carries in {@link JobDescription.extra}. */
export interface ScriptJobExtra {
  /** The script's input (role, n, command, environment, …). */
  scriptInput: JobScriptInput;
  /** Where the script is written. */
  scriptPath: string;
}

/**
 * Run one command, never rejecting for a non-zero exit (that is in the result). With `stdinPath`, that file is its
 * standard input.
 * @throws SchedulerError when it cannot be started (with `hint` for a missing program) or runs past `timeoutMs`.
 */
export function runCommand(
  argv: readonly string[],
  options: { timeoutMs: number; stdinPath?: string; hint?: string; scheduler: string; signal?: AbortSignal },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [options.stdinPath ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let done = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(-64_000)));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-64_000)));
    const finish = (err?: Error, result?: CommandResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve(result!);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new SchedulerError(`${options.scheduler}: '${argv.join(' ')}' did not finish within ${options.timeoutMs} ms; check that the scheduler answers, or raise commandTimeoutMs`, { command: argv, exitCode: null, output: outputTail({ stdout, stderr }) }));
    }, options.timeoutMs);
    const onAbort = () => {
      child.kill('SIGKILL');
      finish(options.signal!.reason instanceof Error ? options.signal!.reason : new SchedulerError(`${options.scheduler}: '${argv.join(' ')}' was aborted`));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' ? `not found${options.hint ? `; ${options.hint}` : ''}` : err.message;
      finish(new SchedulerError(`${options.scheduler}: cannot run '${argv[0]}': ${why}`, { command: argv, exitCode: null, output: '', cause: err }));
    });
    child.once('close', (code) => finish(undefined, { command: argv, exitCode: code, stdout, stderr }));
    if (options.stdinPath) {
      const input = createReadStream(options.stdinPath);
      input.once('error', (err) => finish(new SchedulerError(`${options.scheduler}: cannot read ${options.stdinPath}: ${err.message}`, { command: argv })));
      input.pipe(child.stdin!);
      child.stdin!.on('error', () => undefined); // the command may exit before reading everything
    }
  });
}

/**
 * `text` with the value of every `"key": "…"` replaced by `<redacted>`, in plain JSON and in the doubled-quote form
 * HTCondor's quoting gives it: a job script exports the connection info (with its HMAC key), which is never logged.
 */
export function redactKeys(text: string): string {
  return text.replace(/("{1,2}key"{1,2}\s*:\s*"{1,2})[^"]*/g, '$1<redacted>');
}

/** The last `lines` lines of the newest non-empty files in `dir` whose name starts with `prefix`, preferring those naming `id`. */
export async function outputFileTail(dir: string, prefix: string, id: string, lines = 20): Promise<string | undefined> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.startsWith(prefix) && /\.(out|err)$/.test(f));
  const digits = /^\d+/.exec(id)?.[0];
  const withId = digits ? names.filter((f) => f.slice(prefix.length).includes(digits)) : [];
  const files = await Promise.all(
    (withId.length ? withId : names).map(async (f) => ({ f, s: await stat(path.join(dir, f)).catch(() => undefined) })),
  );
  const newest = files.filter((x) => x.s && x.s.size > 0).sort((a, b) => b.s!.mtimeMs - a.s!.mtimeMs).slice(0, 2);
  if (newest.length === 0) return undefined;
  const parts = await Promise.all(newest.map(async ({ f }) => `${f}:\n${(await readFile(path.join(dir, f), 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')}`));
  return parts.join('\n');
}

/**
 * A {@link Scheduler} over one {@link BatchSystem}. Jobs come from a batch launcher with a {@link ScriptJobExtra}.
 * `status` maps `unknown` (the status command failed) to a thrown {@link SchedulerError}, so a watcher keeps
 * watching instead of reading it as an end; a final state carries the tail of the job's output file.
 */
export class ScriptScheduler<Options> implements Scheduler {
  /** The batch system's name. */
  readonly name: string;
  readonly #system: BatchSystem<Options>;
  readonly #options: Options;
  readonly #timeoutMs: number;
  readonly #log: debug.Debugger;
  readonly #outputs = new Map<string, { dir: string; prefix: string }>();

  constructor(system: BatchSystem<Options>, options: Options, commandTimeoutMs = 60_000) {
    this.name = system.name;
    this.#system = system;
    this.#options = options;
    this.#timeoutMs = commandTimeoutMs;
    this.#log = debug(`tsparallel:launcher:${system.name}`);
  }

  /** Run one of the system's commands (what its `query` gets as its runner). */
  readonly run: CommandRunner = (argv) => this.#run(argv);

  #run(argv: readonly string[], stdinPath?: string, signal?: AbortSignal): Promise<CommandResult> {
    this.#log('running %s%s', argv.join(' '), stdinPath ? ` < ${stdinPath}` : '');
    return runCommand(argv, { timeoutMs: this.#timeoutMs, scheduler: this.name, ...(stdinPath && { stdinPath }), ...(this.#system.notFoundHint && { hint: this.#system.notFoundHint }), ...(signal && { signal }) });
  }

  /**
   * Write the job's script and submit it; resolves with the job id.
   * @throws SchedulerError at once when the submit command fails (a bad partition or queue), with the command and
   *   its output, or prints no job id.
   */
  async submit(job: JobDescription, options: { signal?: AbortSignal } = {}): Promise<string> {
    const extra = job.extra as unknown as ScriptJobExtra | undefined;
    if (!extra?.scriptInput || !extra.scriptPath) throw new SchedulerError(`${this.name}: a job needs its script input (submit it through the ${this.name} launcher)`);
    const text = this.#system.script(extra.scriptInput, this.#options);
    await mkdir(path.dirname(extra.scriptPath), { recursive: true });
    await writeFile(extra.scriptPath, text, { mode: 0o700 });
    if (this.#log.enabled) this.#log('job script %s:\n%s', extra.scriptPath, redactKeys(text));
    const cmd = this.#system.submit(extra.scriptPath, this.#options);
    const { argv, stdinPath } = 'argv' in cmd ? cmd : { argv: cmd as readonly string[], stdinPath: undefined };
    const shown = argv.join(' ') + (stdinPath ? ` < ${stdinPath}` : '');
    const result = await this.#run(argv, stdinPath, options.signal);
    if (result.exitCode !== 0) {
      throw new SchedulerError(
        `${this.name}: '${shown}' refused the job (exit code ${result.exitCode ?? 'none'}):\n${outputTail(result) || '(no output)'}\n` +
          `Check the launcher's options (partition/queue, account, resources) in launchers.${this.name}; the script is ${extra.scriptPath}`,
        { command: stdinPath ? [...argv, '<', stdinPath] : argv, exitCode: result.exitCode, output: outputTail(result) },
      );
    }
    const id = this.#system.parseJobId(result.stdout + result.stderr, argv);
    const outputDir = path.join(extra.scriptInput.profileDir, 'log');
    this.#outputs.set(id, { dir: outputDir, prefix: extra.scriptInput.jobName });
    this.#log('job %s submitted (%s)', id, extra.scriptPath);
    return id;
  }

  /**
   * The job's state. A final state carries the tail of the job's output file as its message.
   * @throws SchedulerError when the status commands failed (state unknown: never read as an end).
   */
  async status(jobId: string, _options: { signal?: AbortSignal } = {}): Promise<DetailedJobStatus> {
    const observed = await this.#system.query(jobId, this.run, this.#options);
    if (observed.state === 'unknown') {
      throw new SchedulerError(`${this.name}: the state of job ${jobId} is unknown: ${observed.message ?? observed.rawState ?? 'no answer'}`);
    }
    const status: DetailedJobStatus = { id: jobId, state: observed.state, ...(observed.rawState !== undefined && { rawState: observed.rawState }), ...(observed.exitCode !== undefined && { exitCode: observed.exitCode }) };
    if (isFinalJobState(observed.state)) {
      const out = this.#outputs.get(jobId);
      const tail = out ? await outputFileTail(out.dir, out.prefix, jobId) : undefined;
      const message = [`job ${jobId} ended ${observed.rawState ?? observed.state}${observed.message ? ` (${observed.message})` : ''}`, tail].filter(Boolean).join('\n');
      status.message = message;
    }
    return status;
  }

  /**
   * Cancel the job. A job that already ended is not an error.
   * @throws SchedulerError when the cancel command fails and the job has not ended.
   */
  async cancel(jobId: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const argv = this.#system.cancel(jobId);
    const result = await this.#run(argv, undefined, options.signal);
    if (result.exitCode === 0) return;
    const now = await this.#system.query(jobId, this.run, this.#options).catch(() => undefined);
    if (now && now.state !== 'unknown' && isFinalJobState(now.state)) return;
    throw new SchedulerError(`${this.name}: '${argv.join(' ')}' failed (exit code ${result.exitCode}):\n${outputTail(result) || '(no output)'}`, { command: argv, exitCode: result.exitCode, output: outputTail(result) });
  }
}
