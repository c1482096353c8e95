/**
 * The `htcondor` launcher: the controller as a cluster of one process, the engines as one cluster of n processes
 * (`queue n`, `getenv = True`), submitted with `condor_submit`, watched with `condor_q`/`condor_history`, removed
 * with `condor_rm`.
 * @module
 */
import type { z } from 'zod';
import { defineBatchLauncher, scriptLauncherOptions } from '../batch/script-launcher.js';
import type { BatchSystem } from '../batch/script-scheduler.js';
import { htcondorOptionFields } from './options.js';
import { parseCondorSubmitOutput, queryHtcondorJobState } from './parse.js';
import { htcondorCommands, htcondorScript } from './script.js';

/**
 * The options of the `htcondor` launcher (`launchers.htcondor` in config): the shared ones and the HTCondor fields.
 * @example
 * ```js
 * launchers: { htcondor: { requirements: '(OpSys == "LINUX")', requestMemory: '2 GB' } }
 * ```
 */
export const htcondorLauncherOptions = scriptLauncherOptions.extend(htcondorOptionFields.shape);
/** The parsed `htcondor` options. */
export type HtcondorLauncherOptions = z.output<typeof htcondorLauncherOptions>;

/** HTCondor as a {@link BatchSystem}. */
export const htcondorSystem: BatchSystem<HtcondorLauncherOptions> = {
  name: 'htcondor',
  ext: 'sub',
  notFoundHint: 'install the HTCondor client or put condor_submit, condor_q, condor_history and condor_rm on PATH',
  script: htcondorScript,
  submit: htcondorCommands.submit,
  parseJobId: parseCondorSubmitOutput,
  query: (jobId, run) => queryHtcondorJobState(jobId, run),
  cancel: htcondorCommands.cancel,
};

/** The `htcondor` launcher plugin. Options: {@link htcondorLauncherOptions}. */
export const htcondorLauncher = defineBatchLauncher(htcondorSystem, htcondorLauncherOptions, 'submits the controller or the engines as HTCondor jobs (condor_submit / condor_q / condor_rm)');
