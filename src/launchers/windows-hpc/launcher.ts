/**
 * The Windows HPC launcher: starts the controller and the engines as jobs of a Windows HPC Server 2008 (HPC Pack)
 * cluster. On each start it writes the job file (`ipcontroller_job.xml` or `ipengineset_job.xml` in the profile
 * directory, valid against the HPC Pack 2008 job schema and importable into HPC Job Manager), submits it through a
 * {@link WindowsHpcScheduler}, and on stop cancels it.
 * @module
 */
import path from 'node:path';
import { z } from 'zod';
import { defineLauncher, type LauncherContext } from '../../core/launcher.js';
import { BatchLauncher } from '../batch/launcher.js';
import { argvOption, batchLauncherOptions, fromBatchOptions } from '../batch/options.js';
import { HPC_JOB_PRIORITIES, HPC_UNIT_TYPES, type HpcJobSettings } from './job-xml.js';
import { WindowsHpcScheduler, type WindowsHpcJobExtra } from './scheduler.js';

/** The job file of the controller, in the profile directory. */
export const CONTROLLER_JOB_FILE = 'ipcontroller_job.xml';
/** The job file of the engines, in the profile directory. */
export const ENGINE_SET_JOB_FILE = 'ipengineset_job.xml';

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
export const windowsHpcLauncherOptions = batchLauncherOptions.extend({
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
  /** The `task` command (default `task`), run as `task view <job>.<task>` to read a failed task's output. */
  taskCommand: argvOption.default('task'),
  /** The job's priority. */
  priority: z.enum(HPC_JOB_PRIORITIES).optional(),
  /** What the job's resources are counted in (default `Core`). */
  unitType: z.enum(HPC_UNIT_TYPES).optional(),
  /** Whether the job wants its nodes to itself (default false). */
  exclusive: z.boolean().default(false),
  /** Keep the job's resources until it is cancelled (default false: the job ends when its tasks end). */
  runUntilCanceled: z.boolean().default(false),
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
      taskCommand: options.taskCommand,
      commandTimeoutMs: options.commandTimeoutMs,
    });
    const jobFile = path.join(context.profileDir, context.role === 'controller' ? CONTROLLER_JOB_FILE : ENGINE_SET_JOB_FILE);
    const extra: Record<string, unknown> = { ...settingsOf(options), jobFile } satisfies WindowsHpcJobExtra;
    super(context, {
      ...fromBatchOptions(context, options),
      name: 'windows-hpc',
      scheduler,
      exclusive: options.exclusive,
      runUntilCanceled: options.runUntilCanceled,
      ...(options.coresPerTask !== undefined && { coresPerTask: options.coresPerTask }),
      extra,
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
  placesRemotely: true,
  description: 'submits the controller or the engines as Windows HPC Server 2008 jobs (job submit / view / cancel)',
  options: windowsHpcLauncherOptions,
  create: (context, options) => new WindowsHpcLauncher(context, options),
});
