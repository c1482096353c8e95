/**
 * Seeing an engine's death fast on its own host: a process that exited (kill -9, `process.exit`, OOM) is found by
 * its pid as soon as its socket disconnects, and at every heartbeat tick, instead of after the heartbeat timeout.
 * Heartbeats still catch hung engines and engines on other hosts.
 * @module
 */
import { readFileSync, readlinkSync } from 'node:fs';

/**
 * Whether the process `pid` on this host has exited: no such process, or a zombie (exited, not yet reaped).
 * A process we may not signal (EPERM) exists, so it is not gone.
 */
export function processGone(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] === 'Z';
  } catch {
    return false;
  }
}

/**
 * This process's pid namespace (Linux: the target of `/proc/self/ns/pid`), or `undefined` elsewhere. Two processes
 * compare pids only when they share it: a pid from another namespace names another process.
 */
export function pidNamespace(): string | undefined {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
}

/**
 * The time up to which a timer-driven heartbeat check may count a peer's silence. While this thread's event loop is
 * blocked (a synchronous task or computation, a long GC pause, the process stopped), what peers send waits unread in
 * the socket, and when the loop runs again its timers come before its I/O: a check then would count the whole stall
 * as the peers' silence and declare live peers dead. So a tick that comes more than two intervals after the previous
 * one judges as of that previous tick (up to which everything that had arrived was read); the next tick, once the
 * waiting messages are read, judges as of now again.
 */
export class SilenceClock {
  #last: number;

  /** @param everyMs how often the check runs, in ms. */
  constructor(
    private readonly everyMs: number,
    now = Date.now(),
  ) {
    this.#last = now;
  }

  /** Call once per check: the time to measure silence up to (`now`, or the previous check's time after a stall). */
  tick(now = Date.now()): number {
    const previous = this.#last;
    this.#last = now;
    return now - previous > 2 * this.everyMs ? previous : now;
  }
}
