/**
 * The task watchdog: a worker thread that kills its own engine process when a task runs past its time limit and
 * then ignores its abort signal for the grace period.
 *
 * A task in a synchronous loop holds the engine's main thread, so nothing on that thread (not the abort request,
 * not a shutdown request) can stop it; the heartbeat, answered from another thread, even keeps it looking alive.
 * The watchdog runs on its own thread with its own event loop: the main thread arms it as each task with a time
 * limit starts (`timeoutMs + graceMs` from then) and disarms it when the task ends. If the deadline passes first, the
 * watchdog writes one line to the engine's stderr (its log) and sends SIGKILL to its own process. This works the
 * same on every host and with every launcher (nothing needs to reach the process from outside), and it measures
 * from when the task really started on the engine, not from when the controller sent it (tasks may queue there).
 * The controller then sees the engine die (socket and pid checks, or heartbeats), its other tasks run again
 * elsewhere (with retries), and a supervised cluster starts a replacement.
 * @module
 */
import debug from 'debug';
import { Worker } from 'node:worker_threads';

const log = debug('tsparallel:engine');

/** The worker's source (plain CommonJS, evaluated, so it is the same whether run from source or compiled). */
const WATCHDOG_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
let timer;
parentPort.on('message', (msg) => {
  if (msg.type === 'arm') {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try { writeSync(2, 'tsengine: ' + msg.why + '; killing this engine (pid ' + process.pid + ')\\n'); } catch {}
      process.kill(process.pid, 'SIGKILL');
    }, Math.max(0, msg.deadline - Date.now()));
  } else if (msg.type === 'disarm') {
    clearTimeout(timer);
    timer = undefined;
  } else if (msg.type === 'close') {
    clearTimeout(timer);
    parentPort.close();
  }
});
`;

/**
 * Kills this process when a task outlives its time limit plus grace; see the module's description. The thread starts
 * with the first task that has a time limit: a worker thread costs about as much CPU to start as a bare `node`
 * process, and 16 engines starting at once on 2 cores pay that 16 times (bench/RESULTS.md, "Start-up"). The deadline
 * travels as a time of day, so the thread's start-up does not lengthen the first task's limit.
 */
export class TaskWatchdog {
  #worker?: Worker;

  #started(): Worker {
    if (this.#worker) return this.#worker;
    const worker = (this.#worker = new Worker(WATCHDOG_SOURCE, { eval: true }));
    // It must never keep the engine alive by itself.
    worker.unref();
    worker.on('error', (err) => log('the task watchdog failed: %s', err.message));
    return worker;
  }

  /** Kill this process in `ms` unless {@link disarm} is called first; `why` goes to stderr before the kill. */
  arm(ms: number, why: string): void {
    this.#started().postMessage({ type: 'arm', deadline: Date.now() + ms, why });
  }

  /** The task ended: do not kill. */
  disarm(): void {
    this.#worker?.postMessage({ type: 'disarm' });
  }

  /** Stop the worker. */
  async close(): Promise<void> {
    if (!this.#worker) return;
    this.#worker.postMessage({ type: 'close' });
    await this.#worker.terminate();
  }
}
