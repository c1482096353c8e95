/**
 * Reading what HPC Pack's `task view <job id>.<task id>` prints, and wording a failed task for the launcher's exit
 * report. A task with no `StdOutFilePath`/`StdErrFilePath` has its output kept by the scheduler (a bounded amount:
 * the first 4 KB) in its `Output` property, which `task view` shows; that is the only trace of an engine that died
 * on a node when no `logDirectory` is set.
 * @module
 */
import { outputTail } from '../batch/command-scheduler.js';

/** How many lines of a task's output a failure report keeps. */
const OUTPUT_TAIL_LINES = 20;

/**
 * Property names `task view` prints, compared without spaces and case. A line starting with one of them ends the
 * multi-line `Output` value; any other line (a program's `Error: …`) belongs to it.
 */
const TASK_PROPERTIES = new Set(
  [
    'Id', 'TaskId', 'Name', 'State', 'TaskState', 'PreviousState', 'CommandLine', 'NodeName', 'AllocatedNodes',
    'RequiredNodes', 'WorkDirectory', 'StdInFilePath', 'StdOutFilePath', 'StdErrFilePath', 'ExitCode', 'ErrorMessage',
    'SubmitTime', 'CreateTime', 'StartTime', 'EndTime', 'ChangeTime', 'ProcessIds', 'RequeueCount', 'Type', 'Output',
  ].map((k) => k.toLowerCase()),
);

/** A task as `task view` described it (only what a failure report uses). */
export interface HpcTaskView {
  /** The task's state as printed (`Failed`, `Running`, …). */
  state: string;
  /** Its name. */
  name?: string;
  /** Its exit code, when it printed a number. */
  exitCode?: number;
  /** The scheduler's words on why it failed. */
  errorMessage?: string;
  /** Where its standard output went, when it had a file. */
  stdoutPath?: string;
  /** Where its standard error went, when it had a file. */
  stderrPath?: string;
  /** What the scheduler kept of its output (the streams that had no file), possibly several lines. */
  output?: string;
}

/** The property a `Name : value` line sets, or `undefined` when the line is not one of `task view`'s properties. */
function propertyLine(line: string): { key: string; value: string } | undefined {
  const m = /^\s*([A-Za-z][A-Za-z ]*?)\s*:\s*(.*)$/.exec(line);
  if (!m) return undefined;
  const key = m[1]!.replace(/\s+/g, '').toLowerCase();
  return TASK_PROPERTIES.has(key) ? { key, value: m[2]!.trim() } : undefined;
}

/** Every property of a `task view` listing; `output` keeps its continuation lines. */
function taskProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  let outputLines: string[] | undefined;
  for (const line of text.split(/\r?\n/)) {
    const prop = propertyLine(line);
    if (prop) {
      outputLines = prop.key === 'output' ? [prop.value] : undefined;
      if (!props.has(prop.key) || outputLines) props.set(prop.key, prop.value);
    } else if (outputLines) {
      outputLines.push(line);
      props.set('output', outputLines.join('\n'));
    }
  }
  return props;
}

/**
 * What `task view <job>.<task>` printed, as an {@link HpcTaskView}, or `undefined` when it shows no task state
 * (garbled or foreign output: the caller says so instead of guessing). Lines are `Name : value`; the `Output` value
 * runs on over the following lines until the next property.
 * @example
 * ```ts
 * parseTaskView('State : Failed\nExitCode : 1\nOutput : Error: boom\n    at main (engine.js:3)\n');
 * // { state: 'Failed', exitCode: 1, output: 'Error: boom\n    at main (engine.js:3)' }
 * ```
 */
export function parseTaskView(text: string): HpcTaskView | undefined {
  const props = taskProperties(text);
  const state = props.get('state') || props.get('taskstate');
  if (!state || !/^[A-Za-z]+$/.test(state)) return undefined;
  const exitCode = /^-?\d+$/.test(props.get('exitcode') ?? '') ? Number(props.get('exitcode')) : undefined;
  const view: HpcTaskView = { state };
  const optional: [keyof HpcTaskView, string][] = [
    ['name', 'name'], ['errorMessage', 'errormessage'], ['stdoutPath', 'stdoutfilepath'], ['stderrPath', 'stderrfilepath'],
  ];
  for (const [field, key] of optional) {
    const value = props.get(key);
    if (value) (view as unknown as Record<string, string>)[field] = value;
  }
  if (exitCode !== undefined) view.exitCode = exitCode;
  const output = props.get('output')?.trim();
  if (output) view.output = output;
  return view;
}

/**
 * The failure report of task `taskRef` (`<job>.<task>`): what failed, with the exit code and the scheduler's
 * message; then the files its output went to, and the last lines of what the scheduler kept of it.
 */
export function describeFailedTask(taskRef: string, view: HpcTaskView, files: { stdoutPath?: string; stderrPath?: string } = {}): string {
  const name = view.name ? ` (${view.name})` : '';
  const code = view.exitCode !== undefined ? ` with exit code ${view.exitCode}` : '';
  const said = view.errorMessage ? `: ${view.errorMessage}` : '';
  const lines = [`task ${taskRef}${name} failed${code}${said}`];
  const stdoutPath = view.stdoutPath ?? files.stdoutPath;
  const stderrPath = view.stderrPath ?? files.stderrPath;
  const inFiles = [stdoutPath && `standard output in ${stdoutPath}`, stderrPath && `standard error in ${stderrPath}`].filter(Boolean);
  if (inFiles.length) lines.push(`its ${inFiles.join(', ')}`);
  if (view.output) lines.push(`its last output (task view ${taskRef}):\n${outputTail(view.output, OUTPUT_TAIL_LINES)}`);
  else if (inFiles.length < 2) lines.push(`it printed nothing the scheduler kept (task view ${taskRef})`);
  return lines.join('\n');
}
