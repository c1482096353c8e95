/**
 * The error classes of tsparallel. Every error the library throws is a {@link TsParallelError}, so
 * `err instanceof TsParallelError` tells ours from anything else; each subclass names one kind of failure.
 * Messages say what failed, with the value involved, and what to do about it.
 * @module
 */

/** Options accepted by every tsparallel error: the underlying cause, as in `Error`. */
export interface TsParallelErrorOptions {
  /** The error that led to this one. */
  cause?: unknown;
}

/** The root of every error tsparallel throws. */
export class TsParallelError extends Error {
  constructor(message: string, options?: TsParallelErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A configuration value, option or config file is missing or wrong. The message names the key and the fix. */
export class ConfigError extends TsParallelError {}

/** Evidence attached to a {@link LauncherError} or {@link SchedulerError}: what was run and how it ended. */
export interface CommandEvidence {
  /** The command line that was run, as an argument vector. */
  command?: readonly string[];
  /** Its exit code, or `null` when it was killed by a signal or never started. */
  exitCode?: number | null;
  /** The last lines of its standard error (or combined output). */
  stderrTail?: string;
}

/** A launcher failed to start or stop its part of the cluster (a process exited early, a command failed). */
export class LauncherError extends TsParallelError {
  /** The command that was run. */
  readonly command?: readonly string[];
  /** Its exit code, if it exited. */
  readonly exitCode?: number | null;
  /** The last lines it wrote to stderr. */
  readonly stderrTail?: string;
  constructor(message: string, evidence: CommandEvidence & TsParallelErrorOptions = {}) {
    super(message, { cause: evidence.cause });
    this.command = evidence.command;
    this.exitCode = evidence.exitCode;
    this.stderrTail = evidence.stderrTail;
  }
}

/** A job scheduler (Windows HPC, Slurm, …) refused or failed a submit, query or cancel. */
export class SchedulerError extends TsParallelError {
  /** The scheduler command that was run. */
  readonly command?: readonly string[];
  /** Its exit code. */
  readonly exitCode?: number | null;
  /** What it printed (stdout and stderr, last lines). */
  readonly output?: string;
  constructor(message: string, evidence: { command?: readonly string[]; exitCode?: number | null; output?: string } & TsParallelErrorOptions = {}) {
    super(message, { cause: evidence.cause });
    this.command = evidence.command;
    this.exitCode = evidence.exitCode;
    this.output = evidence.output;
  }
}

/** A message could not be sent or received, or a peer could not be reached. */
export class TransportError extends TsParallelError {}

/** An operation did not finish within its time limit. */
export class TimeoutError extends TsParallelError {
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number, options?: TsParallelErrorOptions) {
    super(message, options);
    this.timeoutMs = timeoutMs;
  }
}

/** What an engine reports about an error raised by user code it ran. */
export interface RemoteErrorInfo {
  /** The id of the engine where it was raised. */
  engineId: number;
  /** The remote error's class name, e.g. `TypeError`. */
  remoteName: string;
  /** The remote error's message. */
  message: string;
  /** The remote stack trace, as text. */
  remoteStack?: string;
  /** The host of the engine's process. */
  hostname?: string;
  /** The engine's process id. */
  pid?: number;
  /** The id of the task (request) that raised it. */
  taskId?: string;
  /** The remote error's own properties with primitive values (`code`, `errno`, `syscall`, …), when it had any. */
  remoteProps?: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * User code raised an error on an engine. Carries the engine id, host, pid and task id, the remote error's name,
 * message, stack and own primitive properties, and the remote error itself as `cause` (an Error with the remote name,
 * message, stack and those properties, so printing this error shows where it was raised: with source maps, the
 * user's `.ts` file and line).
 * @example
 * ```ts
 * try {
 *   await client.view(0).apply(() => process.getBuiltinModule('node:fs').readFileSync('/missing'));
 * } catch (e) {
 *   if (e instanceof RemoteError && e.remoteProps?.code === 'ENOENT') console.log('no such file on the engine');
 * }
 * ```
 */
export class RemoteError extends TsParallelError {
  /** The engine where the error was raised. */
  readonly engineId: number;
  /** The remote error's class name. */
  readonly remoteName: string;
  /** The remote stack trace. */
  readonly remoteStack?: string;
  /** The host of the engine's process, when the engine said. */
  readonly hostname?: string;
  /** The engine's process id, when the engine said. */
  readonly pid?: number;
  /** The id of the task that raised it, when known. */
  readonly taskId?: string;
  /**
   * The remote error's own enumerable properties with primitive values (`code`, `errno`, `syscall`, `path`, and
   * whatever the code set), when it had any; also set on `cause`. At most 20, strings cut to 1000 characters.
   */
  readonly remoteProps?: Readonly<Record<string, string | number | boolean | null>>;
  constructor(info: RemoteErrorInfo) {
    super(`[engine ${info.engineId}] ${info.remoteName}: ${info.message}`, { cause: remoteCause(info) });
    this.engineId = info.engineId;
    this.remoteName = info.remoteName;
    this.remoteStack = info.remoteStack;
    this.hostname = info.hostname;
    this.pid = info.pid;
    this.taskId = info.taskId;
    if (info.remoteProps) this.remoteProps = info.remoteProps;
  }
}

/** The remote error as a local Error object: its name, message and remote stack, and where it was raised. */
function remoteCause(info: RemoteErrorInfo): Error {
  const cause = new Error(info.message);
  cause.name = info.remoteName;
  if (info.remoteStack) cause.stack = info.remoteStack;
  const where = { engineId: info.engineId, hostname: info.hostname, pid: info.pid, taskId: info.taskId };
  for (const [k, v] of Object.entries(where)) if (v !== undefined) Object.defineProperty(cause, k, { value: v, enumerable: true });
  // As they were on the remote error; never over what the cause already has (its name, message, stack, where).
  for (const [k, v] of Object.entries(info.remoteProps ?? {})) if (!(k in cause)) Object.defineProperty(cause, k, { value: v, enumerable: true });
  return cause;
}

/** Several engines failed in one call; {@link CompositeError.errors} holds each failure. */
export class CompositeError extends TsParallelError {
  /** Each engine's error, in the order of the call's targets. */
  readonly errors: readonly Error[];
  constructor(errors: readonly Error[]) {
    super(`${errors.length} tasks failed:\n` + errors.map((e) => `  ${e.message.split('\n')[0]}${describeWhere(e)}`).join('\n'));
    this.errors = errors;
  }
}

/** The engine running (or holding) a task died before answering: its process exited or stopped answering heartbeats. */
export class EngineDiedError extends TsParallelError {
  /** The engine that died. */
  readonly engineId: number;
  /**
   * The code its process exited with, when the engine could say (`process.exit(3)` in a task: 3); undefined when it
   * was killed or went silent (the launcher's exit info, `cluster.onEngineExit`, has the signal then).
   */
  readonly exitCode?: number;
  constructor(engineId: number, message?: string, options?: TsParallelErrorOptions & { exitCode?: number }) {
    super(message ?? `engine ${engineId} died before answering (its process exited or stopped answering heartbeats)`, { cause: options?.cause });
    this.engineId = engineId;
    if (options?.exitCode !== undefined) this.exitCode = options.exitCode;
  }
}

/** A value cannot be sent to or from an engine (a function as an argument, a socket, a class instance's methods…). */
export class SerializationError extends TsParallelError {}

/** A task was aborted before it ran. */
export class TaskAbortedError extends TsParallelError {}

/** A task's dependencies can never be met: a dependency failed, is unknown, or ran where no engine can follow it. */
export class DependencyError extends TsParallelError {}

/** Where a remote failure happened, for a CompositeError's list: its task and its first stack frame. */
function describeWhere(e: Error): string {
  if (!(e instanceof RemoteError)) return '';
  const frame = e.remoteStack?.split('\n').find((line) => /^\s+at /.test(line))?.trim();
  return `${e.taskId ? ` (task ${e.taskId})` : ''}${frame ? `\n      ${frame}` : ''}`;
}

/**
 * A peer rejected a message as malformed (a field of the wrong type or shape for its type), or a message could not
 * be sent because it breaks a limit (too large). The message names the field; fix the call that made it.
 */
export class ProtocolError extends TsParallelError {}

/**
 * The client lost its controller (it stopped answering heartbeats, or its socket went away): every request that
 * was waiting rejects with this error, and new requests fail at once until the client connects again.
 */
export class ControllerLostError extends TsParallelError {
  /** The controller's address. */
  readonly address: string;
  /** The ids of the requests that were waiting when it was lost (empty for a request made afterwards). */
  readonly pending: readonly string[];
  constructor(address: string, pending: readonly string[], detail: string, options?: TsParallelErrorOptions) {
    super(
      `lost the controller at ${address} (${detail}); ${pending.length} request(s) were waiting` +
        (pending.length ? ` (${pending.slice(0, 5).join(', ')}${pending.length > 5 ? ', …' : ''})` : '') +
        `: restart the cluster and connect again with Client.connect()`,
      options,
    );
    this.address = address;
    this.pending = pending;
  }
}
