/**
 * Process checks and signals by pid, written once: whether a process is alive (a zombie counts as gone), and
 * signalling a process or its whole process group without failing when it has already gone.
 * @module
 * @internal
 */
import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid exists here and has not exited. A process that exited but is not reaped yet (a
 * zombie) counts as gone; one this user may not signal (EPERM) counts as alive.
 * @internal
 */
export function isProcessAlive(pid: number | undefined): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return true; // it went between the two checks, or /proc is not readable: trust signal 0
    }
  }
  return true;
}

/**
 * Send `signal` to one process; a process that is already gone is fine. Returns whether the signal was sent.
 * @internal
 */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Send `signal` to the process group led by `pid` (so what the process started gets it too), falling back to the
 * process alone when it leads no group; a group already gone is fine.
 * @internal
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    signalProcess(pid, signal);
  }
}
