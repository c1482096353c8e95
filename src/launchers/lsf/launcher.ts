/**
 * The `lsf` launcher (IBM Spectrum LSF, OpenLava): the controller as a one-task job, the engines as a job array
 * `-J "name[1-n]"`, submitted on standard input (`bsub < script`), watched with `bjobs`, cancelled with `bkill`.
 * @module
 */
import type { z } from 'zod';
import { defineBatchLauncher, scriptLauncherOptions } from '../batch/script-launcher.js';
import type { BatchSystem } from '../batch/script-scheduler.js';
import { lsfOptionFields } from './options.js';
import { parseBsubOutput, queryLsfJobState } from './parse.js';
import { lsfCommands, lsfScript } from './script.js';

/**
 * The options of the `lsf` launcher (`launchers.lsf` in config): the shared ones and the LSF fields.
 * @example
 * ```js
 * launchers: { lsf: { queue: 'normal', walltime: '2h', resources: 'span[ptile=4]' } }
 * ```
 */
export const lsfLauncherOptions = scriptLauncherOptions.extend(lsfOptionFields.shape);
/** The parsed `lsf` options. */
export type LsfLauncherOptions = z.output<typeof lsfLauncherOptions>;

/** LSF as a {@link BatchSystem}. */
export const lsfSystem: BatchSystem<LsfLauncherOptions> = {
  name: 'lsf',
  ext: 'sh',
  notFoundHint: "source LSF's profile.lsf or put bsub, bjobs and bkill on PATH",
  script: lsfScript,
  submit: lsfCommands.submit,
  parseJobId: parseBsubOutput,
  query: (jobId, run) => queryLsfJobState(jobId, run),
  cancel: lsfCommands.cancel,
};

/** The `lsf` launcher plugin. Options: {@link lsfLauncherOptions}. */
export const lsfLauncher = defineBatchLauncher(lsfSystem, lsfLauncherOptions, 'submits the controller or the engines as LSF jobs (bsub / bjobs / bkill)');
