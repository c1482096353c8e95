/**
 * What the per-scheduler modules (`slurm/`, `pbs/`, `sge/`, `lsf/`, `htcondor/`) share: the input of a job-script
 * writer, the result of a scheduler command, the observed job state (with `unknown`), and helpers for anchored
 * output parsing.
 * @module
 */
import { ConfigError, SchedulerError } from '../../core/errors.js';
import type { JobState } from '../../core/scheduler.js';
import { renderTemplate, shellCommand, shellExports, shellQuote, TEMPLATE_VARIABLES, type TemplateValues } from './template.js';

/** Which job a script is for: the controller (one task) or an engine set (n tasks). */
export type ScriptRole = 'controller' | 'engines';

/** What every scheduler's job-script writer is given. */
export interface JobScriptInput {
  /** The controller's job or an engine set's job. */
  role: ScriptRole;
  /** How many processes the job starts (1 for the controller). */
  n: number;
  /** The job's name in the queue. */
  jobName: string;
  /** The command each task runs, as an argument vector. */
  command: readonly string[];
  /** Environment variables the script exports before running the command. */
  env: Readonly<Record<string, string>>;
  /** The profile directory (job files, logs). */
  profileDir: string;
  /** The cluster's id (may be empty). */
  clusterId: string;
  /** Where the job's output goes (a path the nodes can write); the scheduler's own pattern when absent. */
  outputPath?: string;
  /** The directory the job runs in (default: the profile directory). */
  workDirectory?: string;
  /** The user's template (replaces the default one); rendered with the same variables. */
  template?: string;
  /** The user's extra template variables. */
  vars?: Readonly<Record<string, string | number>>;
}

/** A job state as a status command observed it: a {@link JobState}, or `unknown` when the command failed. */
export type ObservedJobState = JobState | 'unknown';

/** What a status query found out about a job. */
export interface ObservedJobStatus {
  /** The job id asked about. */
  id: string;
  /** The state. `unknown` when a status command failed: never read as "finished". */
  state: ObservedJobState;
  /** The scheduler's own words for the state (`RUNNING`, `R`, `qw`, `PEND`, `2`, …), one per task when they differ. */
  rawState?: string;
  /** The exit code the job ended with, when the scheduler says. */
  exitCode?: number;
  /** Why the state is what it is, when it is not plain (a failed command's output, a job no longer known). */
  message?: string;
}

/** A job state read from one status command's output, before it is tied to a job id. */
export interface ParsedJobState {
  /** The state (the tasks' states combined). */
  state: ObservedJobState;
  /** The scheduler's own words for it, distinct values joined with `,`. */
  rawState: string;
  /** The exit code the output reports (the first non-zero one of the tasks), when it reports one. */
  exitCode?: number;
}

/** How one run of a scheduler command ended. */
export interface CommandResult {
  /** The argument vector that was run. */
  command: readonly string[];
  /** The exit code (`null` when killed or never started). */
  exitCode: number | null;
  /** What it wrote to standard output. */
  stdout: string;
  /** What it wrote to standard error. */
  stderr: string;
}

/** Runs a scheduler command; never rejects for a non-zero exit (that is in the result). */
export type CommandRunner = (argv: readonly string[]) => Promise<CommandResult>;

/** The last `lines` lines of a command's combined output, for error messages. */
export function outputTail(result: Pick<CommandResult, 'stdout' | 'stderr'>, lines = 20): string {
  return `${result.stdout}${result.stderr}`.trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * The first capture of `pattern` on any line of `output` (lines trimmed of `\r` and spaces), else a
 * {@link SchedulerError} carrying the command and its output. The pattern should be anchored (`^…$`) so that a
 * stray number in a warning is never taken for a job id. With `anyGroup`, the first capture group that matched
 * (for patterns with alternatives).
 */
export function matchJobId(output: string, pattern: RegExp, what: string, command?: readonly string[], anyGroup = false): string {
  for (const line of output.split('\n')) {
    const m = pattern.exec(line.trim());
    const id = anyGroup ? m?.slice(1).find((g) => g !== undefined) : m?.[1];
    if (id) return id;
  }
  throw new SchedulerError(
    `${what} printed no job id${command ? ` (command: ${command.join(' ')})` : ''}; its output was:\n${output.trimEnd() || '(nothing)'}\n` +
      'Check the job script and the options (queue, account, resources) the scheduler refused.',
    { ...(command && { command }), output },
  );
}

/**
 * Combine the states of a job's tasks (array elements, processes) into the job's: `unknown` if any is unknown,
 * `running` if any runs, `queued` if any waits, else (all final) `cancelled` if any was cancelled, `failed` if any
 * failed, else `finished`.
 */
export function combineStates(states: readonly ObservedJobState[]): ObservedJobState {
  if (states.length === 0) return 'unknown';
  for (const s of ['unknown', 'running', 'queued', 'cancelled', 'failed'] as const) if (states.includes(s)) return s;
  return 'finished';
}

/** The `Key = value` pairs of a multi-line `key = value` listing (`qstat -f`), continuation lines joined. */
export function parseKeyValueBlock(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let last: string | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const m = /^\s+([A-Za-z_][\w.]*)\s=\s?(.*)$/.exec(line);
    if (m) {
      last = m[1]!;
      out.set(last, m[2]!.trim());
    } else if (last && /^\t/.test(line)) {
      // qstat -f wraps long values onto lines that start with a tab
      out.set(last, out.get(last)! + line.trim());
    }
  }
  return out;
}

/**
 * Render a job script: the user's `input.template` when given, else `defaultTemplate`, with the built-in variables
 * (`{n}`, `{profileDir}`, `{clusterId}`, `{command}` as a shell command line, plus `{queue}` and `{walltime}` from
 * `values`), `{exports}` (the `export NAME=value` lines of `input.env`), `{jobName}`, `{outputPath}`,
 * `{workDirectory}` and the user's `vars`. A user variable may not replace a built-in one.
 * @param where The config key of the template, for error messages.
 * @throws ConfigError for an unknown variable or a `vars` entry that shadows a built-in.
 */
export function renderJobScript(input: JobScriptInput, defaultTemplate: string, values: TemplateValues, where: string): string {
  const builtIn: Record<string, string | number | undefined> = {
    n: input.n,
    profileDir: input.profileDir,
    clusterId: input.clusterId,
    command: shellCommand(input.command),
    exports: shellExports(input.env),
    jobName: input.jobName,
    outputPath: input.outputPath,
    workDirectory: shellQuote(input.workDirectory ?? input.profileDir),
    ...values,
  };
  for (const name of Object.keys(input.vars ?? {})) {
    if (name in builtIn || (TEMPLATE_VARIABLES as readonly string[]).includes(name)) {
      throw new ConfigError(`vars.${name} would replace the built-in template variable {${name}}: give it another name`);
    }
  }
  return renderTemplate(input.template ?? defaultTemplate, { ...input.vars, ...builtIn }, input.template ? where : `the default template (${where})`);
}

/** The default output file of a job: `<profileDir>/log/<jobName>-<pattern>.out`. */
export function defaultOutputPath(input: JobScriptInput, pattern: string): string {
  return input.outputPath ?? `${input.profileDir.replace(/\/+$/, '')}/log/${input.jobName}-${pattern}.out`;
}
