/**
 * Child processes tracked from spawn to exit: their output goes to a log file, the last lines of which explain an
 * early exit; stopping sends SIGTERM, then SIGKILL after a grace period.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { tailOf } from '../util/files.js';
import type { ExitInfo } from '../core/launcher.js';
import { LauncherError } from '../core/errors.js';

/** One tracked process: a child of this process, or of a {@link Spawner} it asked. */
export interface TrackedProcess {
  /** Its pid. */
  pid: number;
  /** The log file that holds its stdout and stderr. */
  logFile: string;
  /** Resolves when it has exited. */
  exited: Promise<ExitInfo>;
  /** True until its exit has been seen. */
  readonly running: boolean;
  /** Send it `signal` while it runs (nothing once it has exited). */
  kill(signal: NodeJS.Signals): void;
}

/** The exit of a process whose output went to `logFile`, with that file's last lines. */
export async function exitInfo(pid: number, code: number | null, signal: NodeJS.Signals | null, logFile: string): Promise<ExitInfo> {
  return { id: String(pid), code, signal, stderrTail: await tailOf(logFile) };
}

/**
 * Start `command` with its output appended to `logFile`. Resolves once the process is running. A detached process
 * gets its own process group and does not keep this program alive.
 * @throws LauncherError when it cannot be started (e.g. the program does not exist).
 */
export async function spawnTracked(
  command: readonly string[],
  options: { env: NodeJS.ProcessEnv; logFile: string; cwd?: string; detached?: boolean },
): Promise<TrackedProcess> {
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command[0]!, command.slice(1), {
      env: options.env,
      cwd: options.cwd,
      stdio: ['ignore', fd, fd],
      detached: options.detached ?? false,
    });
  } finally {
    closeSync(fd);
  }
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (cause) =>
      reject(new LauncherError(`cannot start ${command[0]}: ${cause.message}`, { command, exitCode: null, cause })),
    );
  });
  if (options.detached) child.unref();
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => void exitInfo(child.pid!, code, signal, options.logFile).then(resolve));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid!,
    logFile: options.logFile,
    exited,
    get running() {
      return running();
    },
    kill: (signal) => {
      if (running()) child.kill(signal);
    },
  };
}

/** Stop a process: SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves when it has exited. */
export async function stopTracked(proc: TrackedProcess, graceMs: number): Promise<ExitInfo> {
  if (proc.running) {
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
    const info = await proc.exited;
    clearTimeout(timer);
    return info;
  }
  return proc.exited;
}
