/**
 * The `sge` launcher (Grid Engine): the controller as a one-task job, the engines as an array job `-t 1-n`,
 * submitted with `qsub`, watched with `qstat` and `qacct`, cancelled with `qdel` (Grid Engine has no `qsig`).
 * @module
 */
import type { z } from 'zod';
import { defineBatchLauncher, scriptLauncherOptions } from '../batch/script-launcher.js';
import type { BatchSystem } from '../batch/script-scheduler.js';
import { sgeOptionFields } from './options.js';
import { parseSgeQsubOutput, querySgeJobState } from './parse.js';
import { sgeCommands, sgeScript } from './script.js';

/**
 * The options of the `sge` launcher (`launchers.sge` in config): the shared ones and the Grid Engine fields.
 * @example
 * ```js
 * launchers: { sge: { queue: 'all.q', pe: 'smp 4', walltime: '2:00:00' } }
 * ```
 */
export const sgeLauncherOptions = scriptLauncherOptions.extend(sgeOptionFields.shape);
/** The parsed `sge` options. */
export type SgeLauncherOptions = z.output<typeof sgeLauncherOptions>;

/** Grid Engine as a {@link BatchSystem}. */
export const sgeSystem: BatchSystem<SgeLauncherOptions> = {
  name: 'sge',
  ext: 'sh',
  notFoundHint: 'install the Grid Engine client (Debian: gridengine-client) or put qsub, qstat and qdel on PATH',
  script: sgeScript,
  submit: sgeCommands.submit,
  parseJobId: parseSgeQsubOutput,
  query: (jobId, run) => querySgeJobState(jobId, run),
  cancel: sgeCommands.cancel,
};

/** The `sge` launcher plugin. Options: {@link sgeLauncherOptions}. */
export const sgeLauncher = defineBatchLauncher(sgeSystem, sgeLauncherOptions, 'submits the controller or the engines as Grid Engine jobs (qsub / qstat / qdel)');
