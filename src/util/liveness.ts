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
