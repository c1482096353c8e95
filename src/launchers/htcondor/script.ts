/**
 * HTCondor submit descriptions: the default template per role. Each engine is one process of a cluster
 * (`queue n`; `$(Process)` numbers them from 0); the controller is a cluster of one. `getenv = True` gives the job
 * the submitter's environment and `environment =` adds the cluster's variables (never on the command line).
 * @module
 */
import { renderJobScript, type JobScriptInput } from '../batch/scheduler-kit.js';
import { templateLiteral } from '../batch/template.js';
import type { HtcondorOptions } from './options.js';

/** The HTCondor fields a submit description needs. */
export type HtcondorScriptOptions = Partial<HtcondorOptions>;

/** One argument in HTCondor's "new" quoting: single quotes around it when it holds spaces or quotes. */
function condorWord(word: string): string {
  const escaped = word.replace(/"/g, '""');
  return word === '' || /[\s']/.test(word) ? `'${escaped.replace(/'/g, "''")}'` : escaped;
}

/** An `arguments =` value in HTCondor's new syntax: `"a 'b c' 'it''s'"`. */
export function condorArguments(args: readonly string[]): string {
  return `"${args.map(condorWord).join(' ')}"`;
}

/** An `environment =` value in HTCondor's new syntax: `"A=1 B='x y'"`, sorted by name. */
export function condorEnvironment(env: Readonly<Record<string, string>>): string {
  return `"${Object.keys(env)
    .sort()
    .map((k) => condorWord(`${k}=${env[k]}`))
    .join(' ')}"`;
}

/** The default submit description for `role`, with the option-driven lines filled in. */
export function defaultHtcondorTemplate(role: JobScriptInput['role'], options: HtcondorScriptOptions, hasEnv: boolean): string {
  const lines = [
    'universe = vanilla',
    'batch_name = {jobName}',
    'executable = {executable}',
    'arguments = {arguments}',
    'transfer_executable = False',
    'should_transfer_files = NO',
    'getenv = True',
  ];
  if (hasEnv) lines.push('environment = {environment}');
  lines.push('initialdir = {workDirectory}', 'output = {outputPath}', 'error = {errorPath}', 'log = {logPath}');
  if (options.requirements) lines.push(`requirements = ${templateLiteral(options.requirements)}`);
  if (options.requestCpus) lines.push(`request_cpus = ${options.requestCpus}`);
  if (options.requestMemory !== undefined) lines.push(`request_memory = ${templateLiteral(String(options.requestMemory))}`);
  if (options.walltime) lines.push('periodic_remove = (JobStatus == 2) && ((time() - EnteredCurrentStatus) > {walltime})');
  for (const line of options.submitLines ?? []) lines.push(templateLiteral(line));
  lines.push(role === 'engines' ? 'queue {n}' : 'queue 1');
  return lines.join('\n') + '\n';
}

/**
 * The submit description for `input`: the user's template, or {@link defaultHtcondorTemplate}, rendered. Besides
 * the shared variables it offers `{executable}`, `{arguments}` (the command in HTCondor's quoting), `{environment}`,
 * `{errorPath}` and `{logPath}`. Output goes to `input.outputPath`, else `<profileDir>/log/<jobName>-$(Cluster).$(Process).out`
 * (`.err` for errors; one `.log` event log per cluster). `{workDirectory}` is written bare: HTCondor takes the rest of
 * the line as the path.
 */
export function htcondorScript(input: JobScriptInput, options: HtcondorScriptOptions): string {
  const base = `${input.profileDir.replace(/\/+$/, '')}/log/${input.jobName}`;
  const [executable, ...args] = input.command;
  const hasEnv = Object.keys(input.env).length > 0;
  return renderJobScript(
    { ...input, outputPath: input.outputPath ?? `${base}-$(Cluster).$(Process).out` },
    defaultHtcondorTemplate(input.role, options, hasEnv),
    {
      queue: undefined,
      walltime: options.walltime,
      executable: executable ?? '',
      arguments: condorArguments(args),
      environment: condorEnvironment(input.env),
      errorPath: `${base}-$(Cluster).$(Process).err`,
      logPath: `${base}-$(Cluster).log`,
      workDirectory: input.workDirectory ?? input.profileDir,
      exports: undefined,
    },
    'launchers.htcondor.template',
  );
}

/** The HTCondor commands a launcher runs. */
export const htcondorCommands = {
  /** Submit a description file. */
  submit: (descriptionPath: string): string[] => ['condor_submit', descriptionPath],
  /** Remove a cluster (every process). */
  cancel: (clusterId: string): string[] => ['condor_rm', clusterId],
};
