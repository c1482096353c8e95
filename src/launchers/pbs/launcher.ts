/**
 * The `pbs` launcher (PBS Pro / OpenPBS, `flavor: 'torque'` for Torque): the controller as a one-process job, the
 * engines as an array job (`-J 1-n` / `-t 1-n`; a plain job for one engine), submitted with `qsub`, watched with
 * `qstat -f` (`-fx` once finished on PBS Pro), cancelled with `qdel`.
 * @module
 */
import type { z } from 'zod';
import { defineBatchLauncher, scriptLauncherOptions } from '../batch/script-launcher.js';
import type { BatchSystem } from '../batch/script-scheduler.js';
import { pbsOptionFields } from './options.js';
import { parseQsubOutput, queryPbsJobState } from './parse.js';
import { pbsCommands, pbsScript } from './script.js';

/**
 * The options of the `pbs` launcher (`launchers.pbs` in config): the shared ones and the PBS fields.
 * @example
 * ```js
 * launchers: { pbs: { flavor: 'pbspro', queue: 'workq', walltime: '2h', resources: 'select=1:ncpus=4' } }
 * ```
 */
export const pbsLauncherOptions = scriptLauncherOptions.extend(pbsOptionFields.shape);
/** The parsed `pbs` options. */
export type PbsLauncherOptions = z.output<typeof pbsLauncherOptions>;

/** PBS as a {@link BatchSystem}. */
export const pbsSystem: BatchSystem<PbsLauncherOptions> = {
  name: 'pbs',
  ext: 'sh',
  notFoundHint: "install the PBS client commands or put qsub, qstat and qdel on PATH",
  script: pbsScript,
  submit: pbsCommands.submit,
  parseJobId: parseQsubOutput,
  query: (jobId, run, options) => queryPbsJobState(jobId, run, options.flavor),
  cancel: pbsCommands.cancel,
};

/** The `pbs` launcher plugin. Options: {@link pbsLauncherOptions}. */
export const pbsLauncher = defineBatchLauncher(pbsSystem, pbsLauncherOptions, 'submits the controller or the engines as PBS Pro / Torque jobs (qsub / qstat / qdel)');
