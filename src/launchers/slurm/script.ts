/**
 * Slurm job scripts: the default template per role and its rendering. The controller is a one-task job; an engine
 * set is one job of `--ntasks=n` whose script starts the engines with `srun` (default), or a job array
 * `--array=1-n` of one-task elements.
 * @module
 */
import { defaultOutputPath, renderJobScript, type JobScriptInput } from '../batch/scheduler-kit.js';
import { formatWalltime, templateLiteral } from '../batch/template.js';
import type { SlurmOptions } from './options.js';

/** The Slurm fields a script needs (the parsed options, or a part of them). */
export type SlurmScriptOptions = Partial<SlurmOptions>;

/** The default template of a Slurm job for `role`, with the option-driven directives filled in. */
export function defaultSlurmTemplate(role: JobScriptInput['role'], options: SlurmScriptOptions): string {
  const array = role === 'engines' && options.engineMode === 'array';
  const lines = ['#!/bin/sh', '#SBATCH --job-name={jobName}', '#SBATCH --output={outputPath}'];
  if (array) lines.push('#SBATCH --array=1-{n}', '#SBATCH --ntasks=1');
  else lines.push(role === 'engines' ? '#SBATCH --ntasks={n}' : '#SBATCH --ntasks=1');
  if (options.partition) lines.push('#SBATCH --partition={queue}');
  if (options.account) lines.push(`#SBATCH --account=${templateLiteral(options.account)}`);
  if (options.qos) lines.push(`#SBATCH --qos=${templateLiteral(options.qos)}`);
  if (options.walltime) lines.push('#SBATCH --time={walltime}');
  for (const arg of options.sbatchArgs ?? []) lines.push(`#SBATCH ${templateLiteral(arg)}`);
  lines.push('{exports}cd {workDirectory} || exit 1');
  lines.push(role === 'engines' && !array ? 'exec srun {command}' : 'exec {command}');
  return lines.join('\n') + '\n';
}

/**
 * The Slurm job script for `input`: the user's template, or {@link defaultSlurmTemplate}, rendered. Output goes to
 * `input.outputPath`, else `<profileDir>/log/<jobName>-%j.out` (`%A_%a` for an array).
 * @example
 * ```ts
 * slurmScript({ role: 'engines', n: 4, jobName: 'tsparallel-engines', command: ['tsengine'], env: {}, profileDir: '/p', clusterId: '' }, { partition: 'debug' });
 * ```
 */
export function slurmScript(input: JobScriptInput, options: SlurmScriptOptions): string {
  const array = input.role === 'engines' && options.engineMode === 'array';
  return renderJobScript(
    { ...input, outputPath: defaultOutputPath(input, array ? '%A_%a' : '%j') },
    defaultSlurmTemplate(input.role, options),
    {
      queue: options.partition,
      walltime: options.walltime === undefined ? undefined : formatWalltime(options.walltime, 'slurm'),
    },
    'launchers.slurm.template',
  );
}

/** The Slurm commands a launcher runs. */
export const slurmCommands = {
  /** Submit a script; `--parsable` makes sbatch print only `id[;cluster]`. */
  submit: (scriptPath: string): string[] => ['sbatch', '--parsable', scriptPath],
  /** Cancel a job (every task and array element). */
  cancel: (jobId: string): string[] => ['scancel', jobId],
};
