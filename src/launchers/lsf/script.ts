/**
 * LSF job scripts: the default template per role. The controller is a one-task job; an engine set is a job array
 * `-J "name[1-n]"` (each element one engine, `LSB_JOBINDEX` its index). The script is submitted on standard input
 * (`bsub < script`), the form in which LSF reads its `#BSUB` lines; LSF also gives the job the submitter's
 * environment, and the script exports the cluster's variables itself as well.
 * @module
 */
import { renderJobScript, type JobScriptInput } from '../batch/scheduler-kit.js';
import { formatWalltime, templateLiteral } from '../batch/template.js';
import type { LsfOptions } from './options.js';

/** The LSF fields a script needs. */
export type LsfScriptOptions = Partial<LsfOptions>;

/** The default template of an LSF job for `role`, with the option-driven directives filled in. */
export function defaultLsfTemplate(role: JobScriptInput['role'], options: LsfScriptOptions): string {
  const lines = ['#!/bin/sh', role === 'engines' ? '#BSUB -J "{jobName}[1-{n}]"' : '#BSUB -J "{jobName}"', '#BSUB -o {outputPath}'];
  if (options.queue) lines.push('#BSUB -q {queue}');
  if (options.walltime) lines.push('#BSUB -W {walltime}');
  if (options.resources) lines.push(`#BSUB -R "${templateLiteral(options.resources)}"`);
  if (options.project) lines.push(`#BSUB -P ${templateLiteral(options.project)}`);
  for (const arg of options.bsubArgs ?? []) lines.push(`#BSUB ${templateLiteral(arg)}`);
  lines.push('{exports}cd {workDirectory} || exit 1', 'exec {command}');
  return lines.join('\n') + '\n';
}

/**
 * The LSF job script for `input`: the user's template, or {@link defaultLsfTemplate}, rendered. Output (standard
 * error joins it when no `-e` is given) goes to `input.outputPath`, else `<profileDir>/log/<jobName>-%J.out`
 * (`-%J_%I.out` for an array; LSF fills in the job id and index).
 */
export function lsfScript(input: JobScriptInput, options: LsfScriptOptions): string {
  const base = `${input.profileDir.replace(/\/+$/, '')}/log/${input.jobName}`;
  const outputPath = input.outputPath ?? (input.role === 'engines' ? `${base}-%J_%I.out` : `${base}-%J.out`);
  return renderJobScript(
    { ...input, outputPath },
    defaultLsfTemplate(input.role, options),
    { queue: options.queue, walltime: options.walltime === undefined ? undefined : formatWalltime(options.walltime, 'lsf') },
    'launchers.lsf.template',
  );
}

/** A command to run with a file on its standard input. */
export interface CommandWithInput {
  /** The argument vector. */
  argv: string[];
  /** The file to feed to its standard input. */
  stdinPath?: string;
}

/** The LSF commands a launcher runs. */
export const lsfCommands = {
  /** Submit a script on standard input (`bsub < script`), so that its `#BSUB` lines are read. */
  submit: (scriptPath: string): CommandWithInput => ({ argv: ['bsub'], stdinPath: scriptPath }),
  /** Cancel a job (every element of an array). */
  cancel: (jobId: string): string[] => ['bkill', jobId],
};
