/**
 * The launcher over a job-script batch system (Slurm, PBS, Grid Engine, LSF, HTCondor, or one of your own), written
 * once: the shared options (`template` or `templateFile`, `vars`, `commandTimeoutMs`, and those of every batch
 * launcher), the split of an engine set into several jobs (`engines.jobs` / `engines.enginesPerJob`), the job scripts' file names under
 * the profile, and {@link defineBatchLauncher}, which turns a {@link BatchSystem} and its option fields into a
 * launcher plugin.
 * @module
 */
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';
import { WALLTIME_ENV } from '../../core/walltime.js';
import { defineLauncher, type EngineJobSplit, type LauncherContext, type LauncherPlugin } from '../../core/launcher.js';
import type { JobDescription } from '../../core/scheduler.js';
import { BatchLauncher } from './launcher.js';
import { batchLauncherOptions, fromBatchOptions } from './options.js';
import type { JobScriptInput } from './scheduler-kit.js';
import { ScriptScheduler, type BatchSystem, type ScriptJobExtra } from './script-scheduler.js';

/** A launcher option that moved to `engines.<key>`: given here, it is refused with the fix. */
function movedToEngines(key: 'jobs' | 'enginesPerJob') {
  return z
    .undefined({ error: `moved: set engines.${key} (it splits every engine set, whatever its launcher), not launchers.<name>.${key}` })
    .optional();
}

/**
 * The options every job-script launcher shares: those of {@link batchLauncherOptions}, and the template, its
 * variables and the time limit of one scheduler command. How an engine set is split into jobs is `engines.jobs` /
 * `engines.enginesPerJob` (given here, they are refused with that fix).
 */
export const scriptLauncherOptions = batchLauncherOptions.extend({
  /** A job-script template replacing the default one: `{n}`, `{queue}`, `{walltime}`, `{profileDir}`, `{clusterId}`, `{command}`, `{exports}`, `{jobName}`, `{outputPath}`, `{workDirectory}` and `vars`. */
  template: z.string().min(1).optional(),
  /** A file holding the template (relative to the profile directory); not with `template`. */
  templateFile: z.string().min(1).optional(),
  /** The user's own template variables. */
  vars: z.record(z.string(), z.union([z.string(), z.number()])).default({}),
  /** Not here: `engines.jobs`. */
  jobs: movedToEngines('jobs'),
  /** Not here: `engines.enginesPerJob`. */
  enginesPerJob: movedToEngines('enginesPerJob'),
  /** How long one scheduler command may run, in ms (default 60000). */
  commandTimeoutMs: z.number().int().positive().default(60_000),
});

/** The parsed shared options of a job-script launcher. */
export type ScriptLauncherOptions = z.output<typeof scriptLauncherOptions>;

/**
 * How many engines each job of a set of `n` holds: `enginesPerJob` per job (the last holds the rest), else `jobs`
 * jobs as even as can be, else one job.
 * @throws ConfigError when both are given (config refuses that combination too).
 */
export function splitEngineSet(n: number, options: EngineJobSplit): number[] {
  if (options.jobs !== undefined && options.enginesPerJob !== undefined) {
    throw new ConfigError(`give engines.jobs (${options.jobs}) or engines.enginesPerJob (${options.enginesPerJob}), not both`);
  }
  const per = options.enginesPerJob;
  if (per !== undefined) return Array.from({ length: Math.ceil(n / per) }, (_, i) => Math.min(per, n - i * per));
  const jobs = Math.min(options.jobs ?? 1, n);
  return Array.from({ length: jobs }, (_, i) => Math.floor(n / jobs) + (i < n % jobs ? 1 : 0));
}

/**
 * A {@link BatchLauncher} over a {@link ScriptScheduler}: one job for the controller; for engines one job, or
 * several (`engines.jobs`, `engines.enginesPerJob`: {@link LauncherContext.jobSplit}). Each job's script is `batch/<clusterId>-<role>-<set>.<ext>` in the profile
 * (`default` for the unnamed cluster; engine sets count up from 0, and the jobs after the first get `-<set>` after
 * their name); the scripts are removed on stop.
 */
export class ScriptBatchLauncher<Options extends ScriptLauncherOptions = ScriptLauncherOptions> extends BatchLauncher {
  readonly #system: BatchSystem<Options>;
  readonly #options: Options;
  readonly #scripts: string[] = [];

  constructor(context: LauncherContext, options: Options, system: BatchSystem<Options>) {
    if (options.template !== undefined && options.templateFile !== undefined) {
      throw new ConfigError(`launchers.${system.name}: give template or templateFile, not both`);
    }
    super(context, { ...fromBatchOptions(context, options), name: system.name, scheduler: new ScriptScheduler(system, options, options.commandTimeoutMs) });
    this.#system = system;
    this.#options = options;
  }

  /** The job scripts this launcher wrote (until stop). */
  get scripts(): readonly string[] {
    return [...this.#scripts];
  }

  /** One job per part of the split; each carries its script input (the path is chosen at submit). */
  protected override buildJobs(): JobDescription[] {
    const sizes = this.context.role === 'controller' ? [1] : splitEngineSet(this.context.n, this.context.jobSplit ?? {});
    const base = this.buildJob();
    return sizes.map((n) => {
      const scriptInput: JobScriptInput = {
        role: this.context.role,
        n,
        jobName: base.name,
        command: this.taskCommand(),
        env: { ...this.context.env, ...this.#options.environment, ...this.#walltimeEnv() },
        profileDir: this.context.profileDir,
        clusterId: this.context.clusterId,
        ...(this.#options.workDirectory !== undefined && { workDirectory: this.#options.workDirectory }),
        ...(this.#options.template !== undefined && { template: this.#options.template }),
        vars: this.#options.vars,
      };
      return { ...base, tasks: base.tasks.slice(0, n), extra: { scriptInput } };
    });
  }

  /** The walltime (every built-in scheduler has a `walltime` option) for the engines, who tell the controller. */
  #walltimeEnv(): Record<string, string> {
    const walltime = (this.#options as { walltime?: unknown }).walltime;
    return typeof walltime === 'number' && this.context.role === 'engines' ? { [WALLTIME_ENV]: String(walltime) } : {};
  }

  /** Choose the job's script file (a fresh `<set>` for engines), read `templateFile`, and submit. */
  protected override async submitJob(job: JobDescription, signal?: AbortSignal): Promise<string> {
    const input = { ...(job.extra as { scriptInput: JobScriptInput }).scriptInput };
    if (this.#options.templateFile !== undefined) {
      const file = path.resolve(this.context.profileDir, this.#options.templateFile);
      input.template = await readFile(file, 'utf8').catch((cause: Error) => {
        throw new ConfigError(`launchers.${this.name}.templateFile: cannot read ${file}: ${cause.message}`, { cause });
      });
    }
    const { scriptPath, set } = await this.#claimScript();
    if (set > 0) input.jobName = `${input.jobName}-${set}`;
    this.#scripts.push(scriptPath);
    const extra: ScriptJobExtra = { scriptInput: input, scriptPath };
    return this.scheduler.submit({ ...job, name: input.jobName, extra: extra as unknown as Record<string, unknown> }, { ...(signal && { signal }) });
  }

  async #claimScript(): Promise<{ scriptPath: string; set: number }> {
    const dir = path.join(this.context.profileDir, 'batch');
    await mkdir(dir, { recursive: true });
    const stem = `${this.context.clusterId || 'default'}-${this.context.role}`;
    for (let set = 0; ; set++) {
      const scriptPath = path.join(dir, `${stem}-${set}.${this.#system.ext}`);
      try {
        // The controller's file is rewritten on each start; an engine set takes the first free number.
        await (await open(scriptPath, this.context.role === 'controller' ? 'w' : 'wx', 0o700)).close();
        return { scriptPath, set };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
  }

  /** Cancel every job (waiting until they left the queue), then remove the job scripts. */
  override async stop(options: { graceMs?: number } = {}): Promise<void> {
    try {
      await super.stop(options);
    } finally {
      await Promise.all(this.#scripts.map((f) => unlink(f).catch(() => undefined)));
    }
  }
}

/**
 * Make a launcher plugin for a job-script batch system: options `schema` (the system's fields added to
 * {@link scriptLauncherOptions} with `.extend()`), jobs started on other hosts (`placesRemotely`).
 * @example
 * ```ts
 * const options = scriptLauncherOptions.extend({ queue: z.string().optional() });
 * export const myLauncher = defineBatchLauncher(mySystem, options, 'submits to MyScheduler');
 * ```
 */
export function defineBatchLauncher<Schema extends z.ZodType<ScriptLauncherOptions>>(
  system: BatchSystem<z.output<Schema>>,
  schema: Schema,
  description: string,
): LauncherPlugin<z.output<Schema>> {
  return defineLauncher<z.output<Schema>>({
    name: system.name,
    description,
    options: schema as unknown as z.ZodType<z.output<Schema>>,
    placesRemotely: true,
    splitsEngineSets: true,
    create: (context, options) => new ScriptBatchLauncher(context, options, system),
  });
}
