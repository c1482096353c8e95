/**
 * Grid Engine job scripts: the default template per role. The controller is a one-task job; an engine set is an
 * array job `-t 1-n` (each task one engine, `SGE_TASK_ID` its index). Output and errors are joined (`-j y`) into one
 * file per task. Grid Engine has no `qsig`: a job is stopped with `qdel`.
 * @module
 */
import { renderJobScript, type JobScriptInput } from '../batch/scheduler-kit.js';
import { formatWalltime, templateLiteral } from '../batch/template.js';
import type { SgeOptions } from './options.js';

/** The Grid Engine fields a script needs. */
export type SgeScriptOptions = Partial<SgeOptions>;

/** The default template of a Grid Engine job for `role`, with the option-driven directives filled in. */
export function defaultSgeTemplate(role: JobScriptInput['role'], options: SgeScriptOptions): string {
  const lines = ['#!/bin/sh', '#$ -N {jobName}', `#$ -S ${templateLiteral(options.shell ?? '/bin/sh')}`, '#$ -j y', '#$ -o {outputPath}'];
  if (role === 'engines') lines.push('#$ -t 1-{n}');
  if (options.queue) lines.push('#$ -q {queue}');
  if (options.pe) lines.push(`#$ -pe ${templateLiteral(options.pe)}`);
  if (options.walltime) lines.push('#$ -l h_rt={walltime}');
  for (const arg of options.qsubArgs ?? []) lines.push(`#$ ${templateLiteral(arg)}`);
  lines.push('{exports}cd {workDirectory} || exit 1', 'exec {command}');
  return lines.join('\n') + '\n';
}

/**
 * The Grid Engine job script for `input`: the user's template, or {@link defaultSgeTemplate}, rendered. Output
 * goes to `input.outputPath`, else `<profileDir>/log/<jobName>-$JOB_ID.out` (`-$JOB_ID.$TASK_ID.out` for an
 * array; Grid Engine expands these pseudo variables in `-o`).
 */
export function sgeScript(input: JobScriptInput, options: SgeScriptOptions): string {
  const base = `${input.profileDir.replace(/\/+$/, '')}/log/${input.jobName}`;
  const outputPath = input.outputPath ?? (input.role === 'engines' ? `${base}-$JOB_ID.$TASK_ID.out` : `${base}-$JOB_ID.out`);
  return renderJobScript(
    { ...input, outputPath },
    defaultSgeTemplate(input.role, options),
    { queue: options.queue, walltime: options.walltime === undefined ? undefined : formatWalltime(options.walltime, 'hms') },
    'launchers.sge.template',
  );
}

/** The Grid Engine commands a launcher runs. */
export const sgeCommands = {
  /** Submit a script. */
  submit: (scriptPath: string): string[] => ['qsub', scriptPath],
  /** Cancel a job (every task of an array). */
  cancel: (jobId: string): string[] => ['qdel', jobId],
};
