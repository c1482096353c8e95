/**
 * PBS job scripts (PBS Pro / OpenPBS and Torque): the default template per role and flavour. The controller is a
 * one-process job; an engine set of n > 1 is an array job (`-J 1-n` on PBS Pro, `-t 1-n` on Torque), each element
 * one engine; an engine set of 1 is a plain job (PBS Pro refuses a one-element array).
 * @module
 */
import { renderJobScript, type JobScriptInput } from '../batch/scheduler-kit.js';
import { formatWalltime, templateLiteral } from '../batch/template.js';
import type { PbsFlavor, PbsOptions } from './options.js';

/** The PBS fields a script needs. */
export type PbsScriptOptions = Partial<PbsOptions>;

/** Whether a job for `role` with `n` processes is an array job. */
export function isPbsArray(role: JobScriptInput['role'], n: number): boolean {
  return role === 'engines' && n > 1;
}

/** The environment variable holding an array element's index: `PBS_ARRAY_INDEX` (PBS Pro) or `PBS_ARRAYID` (Torque). */
export function pbsArrayIndexVariable(flavor: PbsFlavor): string {
  return flavor === 'torque' ? 'PBS_ARRAYID' : 'PBS_ARRAY_INDEX';
}

/** The default template of a PBS job for `role` and `n`, with the option-driven directives filled in. */
export function defaultPbsTemplate(role: JobScriptInput['role'], n: number, options: PbsScriptOptions): string {
  const flavor = options.flavor ?? 'pbspro';
  const lines = ['#!/bin/sh', '#PBS -N {jobName}', '#PBS -j oe', '#PBS -o {outputPath}'];
  if (isPbsArray(role, n)) lines.push(flavor === 'torque' ? '#PBS -t 1-{n}' : '#PBS -J 1-{n}');
  if (options.queue) lines.push('#PBS -q {queue}');
  if (options.account) lines.push(`#PBS -A ${templateLiteral(options.account)}`);
  if (options.walltime) lines.push('#PBS -l walltime={walltime}');
  if (options.resources) lines.push(`#PBS -l ${templateLiteral(options.resources)}`);
  for (const arg of options.qsubArgs ?? []) lines.push(`#PBS ${templateLiteral(arg)}`);
  lines.push('{exports}cd {workDirectory} || exit 1', 'exec {command}');
  return lines.join('\n') + '\n';
}

/**
 * The PBS job script for `input`: the user's template, or {@link defaultPbsTemplate}, rendered. Output (stdout and
 * stderr joined) goes to `input.outputPath`, else `<profileDir>/log/<jobName>.out`; on PBS Pro an array's elements
 * write `<jobName>-^array_index^.out` (PBS Pro fills in the index), on Torque the server appends `-<index>` itself.
 */
export function pbsScript(input: JobScriptInput, options: PbsScriptOptions): string {
  const flavor = options.flavor ?? 'pbspro';
  const array = isPbsArray(input.role, input.n);
  const base = `${input.profileDir.replace(/\/+$/, '')}/log/${input.jobName}`;
  const outputPath = input.outputPath ?? (array && flavor === 'pbspro' ? `${base}-^array_index^.out` : `${base}.out`);
  return renderJobScript(
    { ...input, outputPath },
    defaultPbsTemplate(input.role, input.n, options),
    { queue: options.queue, walltime: options.walltime === undefined ? undefined : formatWalltime(options.walltime, 'hms') },
    'launchers.pbs.template',
  );
}

/** The PBS commands a launcher runs. */
export const pbsCommands = {
  /** Submit a script; qsub prints the job id (`123.server`, `123[].server` for an array). */
  submit: (scriptPath: string): string[] => ['qsub', scriptPath],
  /** Cancel a job (an array id cancels every element). */
  cancel: (jobId: string): string[] => ['qdel', jobId],
};
