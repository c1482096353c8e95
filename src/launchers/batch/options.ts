/**
 * The options every batch launcher shares, written once: a zod schema each scheduler's plugin `.extend()`s with its
 * own fields, and the mapper from parsed options to what a {@link BatchLauncher} takes.
 * @module
 */
import path from 'node:path';
import { z } from 'zod';
import type { LauncherContext } from '../../core/launcher.js';
import { withClusterId } from '../../util/cluster-files.js';
import type { BatchLauncherOptions } from './launcher.js';

/** An option naming a program: a path (one string), or an argument vector whose first element is the program. */
export const argvOption = z.union([
  z.string().min(1),
  z
    .array(z.string())
    .min(1)
    .refine((argv) => argv[0] !== '', { error: 'the first element (the program) must not be empty' }),
]);

/**
 * The options of every batch launcher (`launchers.<name>` in config). A scheduler's plugin extends it with its own
 * fields, and may override a field to change its default. A key the schema does not know is refused (`launchers.pbs:
 * unknown key 'workDir' (did you mean 'workDirectory'?)`), not silently dropped, and a schema made with `.extend()`
 * refuses them too, so a misspelled option never leaves a job without it:
 * @example
 * ```ts
 * export const pbsOptions = batchLauncherOptions.extend({
 *   queue: z.string().min(1).optional(),
 *   pollIntervalMs: z.number().int().positive().default(5000),
 * });
 * ```
 */
export const batchLauncherOptions = z.strictObject({
  /** What a node runs to start an engine (default: the tsengine of this installation): a program path or an argv. */
  engineCommand: argvOption.optional(),
  /** What a node runs to start the controller (default: the tscontroller of this installation). */
  controllerCommand: argvOption.optional(),
  /** The directory each task runs in (a Windows UNC path such as `\\host\share\dir` is kept exactly). */
  workDirectory: z.string().min(1).optional(),
  /** Environment variables set for every task. */
  environment: z.record(z.string(), z.string()).default({}),
  /** A directory (seen from the nodes) where task `i` writes `<job name>-<i>.out` and `.err`; none by default. */
  logDirectory: z.string().min(1).optional(),
  /** The job's name in the queue (default `tsparallel-controller` / `tsparallel-engines`, with the cluster id). */
  jobName: z.string().min(1).optional(),
  /** How often the launcher asks the scheduler for the job's state, in ms (default 1000). */
  pollIntervalMs: z.number().int().positive().default(1000),
  /** How long stop() waits for a cancelled job to end, in ms (default 30000). */
  stopTimeoutMs: z.number().int().positive().default(30_000),
});

/** An argv option as an argument vector: a string is one program path. */
export function toArgv(value: string | readonly string[] | undefined): readonly string[] | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? [value] : value;
}

/**
 * The parsed options every batch launcher shares (a plugin may leave `pollIntervalMs` or `stopTimeoutMs` without a
 * default, to compute its own).
 */
export type BatchOptions = Omit<z.output<typeof batchLauncherOptions>, 'pollIntervalMs' | 'stopTimeoutMs'> & {
  /** How often the launcher asks the scheduler for the job's state, in ms. */
  pollIntervalMs?: number;
  /** How long stop() waits for a cancelled job to end, in ms. */
  stopTimeoutMs?: number;
};

/** The default job name of a role: `tsparallel-controller` or `tsparallel-engines`, with `-<cluster id>` if any. */
export function defaultJobName(context: Pick<LauncherContext, 'role' | 'clusterId'>): string {
  return withClusterId(`tsparallel-${context.role === 'controller' ? 'controller' : 'engines'}`, context.clusterId);
}

/** Join a directory and a file name in the directory's own style (Windows paths stay Windows paths). */
export function joinLike(dir: string, name: string): string {
  return /^[A-Za-z]:|\\/.test(dir) ? path.win32.join(dir, name) : path.posix.join(dir, name);
}

/**
 * The {@link BatchLauncherOptions} the shared options give: the role's program replacement (`controllerCommand` or
 * `engineCommand`), the job name, work directory, environment, per-task log files under `logDirectory`, and the
 * polling and stop timings. A plugin spreads it and adds its `name`, `scheduler` and scheduler-specific fields.
 * @example
 * ```ts
 * super(context, { ...fromBatchOptions(context, options), name: 'pbs', scheduler: new PbsScheduler(options) });
 * ```
 */
export function fromBatchOptions(
  context: Pick<LauncherContext, 'role' | 'clusterId'>,
  options: BatchOptions,
): Omit<BatchLauncherOptions, 'name' | 'scheduler'> {
  const program = toArgv(context.role === 'controller' ? options.controllerCommand : options.engineCommand);
  const jobName = options.jobName ?? defaultJobName(context);
  const logDirectory = options.logDirectory;
  return {
    ...(program && { program }),
    jobName,
    ...(options.workDirectory !== undefined && { workDirectory: options.workDirectory }),
    environment: options.environment,
    ...(logDirectory !== undefined && {
      stdoutPath: (i: number) => joinLike(logDirectory, `${jobName}-${i}.out`),
      stderrPath: (i: number) => joinLike(logDirectory, `${jobName}-${i}.err`),
    }),
    ...(options.pollIntervalMs !== undefined && { pollIntervalMs: options.pollIntervalMs }),
    ...(options.stopTimeoutMs !== undefined && { stopTimeoutMs: options.stopTimeoutMs }),
  };
}
