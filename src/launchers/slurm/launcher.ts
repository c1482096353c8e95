/**
 * The `slurm` launcher: the controller as a one-task job, the engines as one job of `--ntasks=n` started with `srun`
 * (or a job array), submitted with `sbatch --parsable`, watched with `squeue`/`scontrol`/`sacct`, cancelled with
 * `scancel`.
 * @module
 */
import type { z } from 'zod';
import { defineBatchLauncher, scriptLauncherOptions } from '../batch/script-launcher.js';
import type { BatchSystem } from '../batch/script-scheduler.js';
import { slurmOptionFields } from './options.js';
import { parseSbatchOutput, querySlurmJobState } from './parse.js';
import { slurmCommands, slurmScript } from './script.js';

/**
 * The options of the `slurm` launcher (`launchers.slurm` in config): the shared ones and the Slurm fields.
 * @example
 * ```js
 * launchers: { slurm: { partition: 'debug', account: 'proj42', walltime: '1:00:00' } }
 * ```
 */
export const slurmLauncherOptions = scriptLauncherOptions.extend(slurmOptionFields.shape);
/** The parsed `slurm` options. */
export type SlurmLauncherOptions = z.output<typeof slurmLauncherOptions>;

/** Slurm as a {@link BatchSystem}. */
export const slurmSystem: BatchSystem<SlurmLauncherOptions> = {
  name: 'slurm',
  ext: 'sh',
  notFoundHint: "install Slurm's client commands (Debian: slurm-client) or put sbatch, squeue and scancel on PATH",
  script: slurmScript,
  submit: slurmCommands.submit,
  parseJobId: parseSbatchOutput,
  query: (jobId, run) => querySlurmJobState(jobId, run),
  cancel: slurmCommands.cancel,
};

/** The `slurm` launcher plugin. Options: {@link slurmLauncherOptions}. */
export const slurmLauncher = defineBatchLauncher(slurmSystem, slurmLauncherOptions, 'submits the controller or the engines as Slurm jobs (sbatch / squeue / scancel)');
