/**
 * A small helper process that starts processes for a large one.
 *
 * Node starts a child by forking itself (libuv's `fork()` then `exec()` on Linux), and a fork copies the page tables
 * of the whole resident set, on the main thread, once per child. From a program holding 1.9 GB, starting 16 engines
 * took 646 ms of that program's CPU (582 in the kernel) and the cluster was ready in 2.2 s, against 97 ms and 1.1 s
 * from a 76 MB program. A spawner is forked once, stays small (~40 MB), and forks the children itself; they report
 * back through its IPC channel. It costs one Node start (~25 ms of CPU), so the local launcher uses it only when the
 * copies it saves are larger ({@link useSpawner}).
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import debug from 'debug';
import type { ExitInfo } from '../core/launcher.js';
import { LauncherError } from '../core/errors.js';
import { isProcessAlive, signalProcess } from '../util/processes.js';
import { exitInfo, type TrackedProcess } from './process-tracker.js';

const log = debug('tsparallel:launcher:spawner');

/**
 * The spawner's program (plain CommonJS, run with `node -e`, so it is the same from source and compiled). Requests:
 * `{ type: 'spawn', id, command, env, cwd, logFile }`; answers: `spawned` (with the pid), `error` (with a message),
 * then `exit` (code and signal). It exits when its parent disconnects (and ignores SIGINT, which a terminal's Ctrl-C
 * sends to the parent's whole process group); children it started keep running, as a program's children do when it
 * exits.
 */
const SPAWNER_SOURCE = `
'use strict';
const { spawn } = require('node:child_process');
const { openSync, closeSync } = require('node:fs');
process.on('message', (m) => {
  if (m.type !== 'spawn') return;
  let child;
  try {
    const fd = openSync(m.logFile, 'a');
    try {
      child = spawn(m.command[0], m.command.slice(1), { env: m.env, cwd: m.cwd, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    process.send({ type: 'error', id: m.id, message: e.message });
    return;
  }
  child.once('spawn', () => process.send({ type: 'spawned', id: m.id, pid: child.pid }));
  child.once('error', (e) => process.send({ type: 'error', id: m.id, message: e.message }));
  child.once('exit', (code, signal) => { if (process.connected) process.send({ type: 'exit', id: m.id, code, signal }); });
});
process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal reaches the whole process group: the parent decides how its children stop, and this process
// must stay to report their exits; it ends with its parent's channel.
process.on('SIGINT', () => {});
`;

/** Variables the spawner does not need and Node pays for at start (preloads, the CA bundle); its children get theirs. */
const SPAWNER_DROPS = ['NODE_OPTIONS', 'NODE_EXTRA_CA_CERTS'];

/**
 * The product of engines to start and this process's resident megabytes above which a spawner pays: about 16
 * engines from 256 MB, 4 from 1 GB. Measured on the 2-core bench machine: a fork costs ~18 ms per GB resident, a
 * spawner ~40 ms before its first child starts.
 */
const SPAWNER_MIN_ENGINE_MB = 4096;

/** When the local launcher starts its processes through a spawner: `auto` by the rule above, or `always` / `never`. */
export type SpawnerMode = 'auto' | 'always' | 'never';

/** Whether starting `n` processes from this one should go through a spawner. */
export function useSpawner(mode: SpawnerMode, n: number): boolean {
  if (mode !== 'auto') return mode === 'always';
  if (process.platform === 'win32') return false; // CreateProcess copies nothing
  return n * (process.memoryUsage.rss() / 2 ** 20) >= SPAWNER_MIN_ENGINE_MB;
}

type FromSpawner =
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'error'; id: number; message: string }
  | { type: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null };

/** A process started by the spawner, until its exit is known. */
interface Started {
  command: readonly string[];
  logFile: string;
  pid?: number;
  spawned: { resolve: (proc: TrackedProcess) => void; reject: (error: Error) => void };
  exit?: (info: ExitInfo) => void;
}

/** How often the pids of a lost spawner's children are checked until each is gone. */
const ORPHAN_POLL_MS = 500;

/**
 * One spawner process: {@link spawn} starts processes through it; after {@link release} it is let go once the last of
 * them has exited.
 */
export class Spawner {
  readonly #helper: ChildProcess;
  readonly #started = new Map<number, Started>();
  #nextId = 0;
  #released = false;

  private constructor(helper: ChildProcess) {
    this.#helper = helper;
    helper.on('message', (m: FromSpawner) => this.#onMessage(m));
    // A send on a closed channel is reported here; the exit handler deals with what the spawner leaves behind.
    helper.on('error', (err) => log('spawner %d: %s', helper.pid, err.message));
    helper.once('exit', (code, signal) => this.#onHelperExit(code, signal));
  }

  /**
   * Start a spawner.
   * @throws LauncherError when it cannot be started.
   */
  static async start(): Promise<Spawner> {
    const env = { ...process.env };
    for (const name of SPAWNER_DROPS) delete env[name];
    const helper = spawn(process.execPath, ['-e', SPAWNER_SOURCE], { env, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    await new Promise<void>((resolve, reject) => {
      helper.once('spawn', resolve);
      helper.once('error', (cause) => reject(new LauncherError(`cannot start the spawner (${process.execPath}): ${cause.message}`, { exitCode: null, cause })));
    });
    log('spawner %d started', helper.pid);
    return new Spawner(helper);
  }

  /** The spawner's pid. */
  get pid(): number {
    return this.#helper.pid!;
  }

  /**
   * Start `command` through the spawner, its output appended to `logFile`; resolves once it runs.
   * @throws LauncherError when it cannot be started.
   */
  spawn(command: readonly string[], options: { env: NodeJS.ProcessEnv; logFile: string; cwd?: string }): Promise<TrackedProcess> {
    if (this.#released) throw new Error('Spawner.spawn after release()');
    if (!this.#helper.connected) return Promise.reject(new LauncherError(`cannot start ${command[0]}: the spawner has exited`, { command, exitCode: null }));
    const id = this.#nextId++;
    return new Promise<TrackedProcess>((resolve, reject) => {
      this.#started.set(id, { command, logFile: options.logFile, spawned: { resolve, reject } });
      this.#helper.send({ type: 'spawn', id, command, env: options.env, cwd: options.cwd, logFile: options.logFile });
    });
  }

  /** No more {@link spawn}s: the spawner is disconnected (and exits) once every process it started has exited. */
  release(): void {
    this.#released = true;
    this.#disconnectWhenIdle();
  }

  #disconnectWhenIdle(): void {
    if (this.#released && this.#started.size === 0 && this.#helper.connected) this.#helper.disconnect();
  }

  #onMessage(m: FromSpawner): void {
    const entry = this.#started.get(m.id);
    if (!entry) return;
    if (m.type === 'spawned') {
      entry.pid = m.pid;
      const exited = new Promise<ExitInfo>((resolve) => (entry.exit = resolve));
      let running = true;
      void exited.then(() => (running = false));
      entry.spawned.resolve({
        pid: m.pid,
        logFile: entry.logFile,
        exited,
        get running() {
          return running;
        },
        // The spawner reports an exit as soon as it reaps the child; until then the pid cannot have been reused.
        kill: (signal) => {
          // Gone between its exit and the spawner's report (stopTracked's SIGKILL timer can land there): not an error.
          if (running) signalProcess(m.pid, signal);
        },
      });
    } else if (m.type === 'error') {
      if (entry.pid !== undefined) return void log('spawner: process %d: %s', entry.pid, m.message);
      this.#started.delete(m.id);
      entry.spawned.reject(new LauncherError(`cannot start ${entry.command[0]}: ${m.message}`, { command: entry.command, exitCode: null }));
      this.#disconnectWhenIdle();
    } else {
      this.#started.delete(m.id);
      void exitInfo(entry.pid!, m.code, m.signal, entry.logFile).then(entry.exit);
      this.#disconnectWhenIdle();
    }
  }

  /**
   * The spawner ended. After a release with nothing left that is expected; otherwise (killed) its children live on
   * without anyone to report their exits, so their pids are watched until each is gone (exit code unknown).
   */
  #onHelperExit(code: number | null, signal: NodeJS.Signals | null): void {
    log('spawner %d exited (code %s, signal %s)', this.#helper.pid, code, signal);
    for (const [id, entry] of this.#started) {
      if (entry.pid === undefined) {
        this.#started.delete(id);
        entry.spawned.reject(new LauncherError(`cannot start ${entry.command[0]}: the spawner exited (code ${code}, signal ${signal})`, { command: entry.command, exitCode: null }));
        continue;
      }
      const pid = entry.pid;
      const timer = setInterval(() => {
        if (isProcessAlive(pid)) return;
        clearInterval(timer);
        this.#started.delete(id);
        void exitInfo(pid, null, null, entry.logFile).then(entry.exit);
      }, ORPHAN_POLL_MS);
    }
  }
}
