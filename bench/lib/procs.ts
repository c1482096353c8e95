/**
 * Process bookkeeping for the bench: every process a system starts is recorded (pid plus its start time from
 * `/proc/<pid>/stat`, so a reused pid is not mistaken for ours), and at the end the harness checks each one by pid
 * and kills any survivor. Linux only (reads /proc), which is where the bench runs.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';

/** One process as seen in /proc. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot (field 22 of /proc/<pid>/stat): with the pid, a unique identity. */
  startTime: number;
  /** Process state letter (R, S, D, Z, …). */
  state: string;
  /** The command line, for messages. */
  command: string;
}

/** Read one process from /proc, or `undefined` when it does not exist (any more). */
export function readProcess(pid: number): ProcessInfo | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and ')': split after the last ')'.
  const close = stat.lastIndexOf(')');
  const rest = stat.slice(close + 2).split(' ');
  let command = '';
  try {
    command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    // The process exited between the two reads; the stat line is enough.
  }
  return { pid, state: rest[0]!, ppid: Number(rest[1]), startTime: Number(rest[19]), command };
}

/** Every process below `rootPid` (children, grandchildren, …), not including `rootPid` itself. */
export function descendantsOf(rootPid: number): ProcessInfo[] {
  const byParent = new Map<number, ProcessInfo[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const info = readProcess(Number(entry));
    if (!info) continue;
    const siblings = byParent.get(info.ppid) ?? [];
    siblings.push(info);
    byParent.set(info.ppid, siblings);
  }
  const found: ProcessInfo[] = [];
  const queue = [rootPid];
  while (queue.length > 0) {
    for (const child of byParent.get(queue.shift()!) ?? []) {
      found.push(child);
      queue.push(child.pid);
    }
  }
  return found;
}

/** True when the recorded process still runs (same pid, same start time, not a zombie). */
export function isAlive(recorded: Pick<ProcessInfo, 'pid' | 'startTime'>): boolean {
  const now = readProcess(recorded.pid);
  return now !== undefined && now.startTime === recorded.startTime && now.state !== 'Z';
}

/**
 * tsx's esbuild service: when the bench runs from source, tsx starts it (also from inside worker threads) to compile
 * TypeScript. It belongs to the tool running the bench, not to a system under test, and it ends with its parent.
 */
const TOOLING = /\/esbuild(\.exe)? --service=/;

/** The processes a bench run started, by owner, checked at the end. */
export class ProcessLedger {
  readonly #records = new Map<string, ProcessInfo & { owner: string }>();
  readonly #ignored = new Set<string>();

  /** Record `processes` as started by `owner` (a system's name), except ignored ones and tsx's esbuild service. */
  add(owner: string, processes: readonly ProcessInfo[]): void {
    for (const p of processes) {
      const key = `${p.pid}:${p.startTime}`;
      if (this.#ignored.has(key) || TOOLING.test(p.command) || this.#records.has(key)) continue;
      this.#records.set(key, { ...p, owner });
    }
  }

  /** Never record the processes that exist below `rootPid` now: they were there before the system under test ran. */
  ignoreExisting(rootPid: number = process.pid): void {
    for (const p of descendantsOf(rootPid)) this.#ignored.add(`${p.pid}:${p.startTime}`);
  }

  /** Record everything below `rootPid` now. */
  addDescendants(owner: string, rootPid: number = process.pid): void {
    this.add(owner, descendantsOf(rootPid));
  }

  /** How many processes are recorded. */
  get size(): number {
    return this.#records.size;
  }

  /** The recorded processes of `owner` (or of everyone) that are still alive. */
  survivors(owner?: string): (ProcessInfo & { owner: string })[] {
    return [...this.#records.values()].filter((p) => (owner === undefined || p.owner === owner) && isAlive(p));
  }

  /**
   * Give the recorded processes of `owner` (or of everyone) up to `graceMs` to exit on their own (helpers such as
   * Python's multiprocessing resource tracker end only after their parent did), then kill (SIGKILL) the survivors and
   * wait until they are gone. Returns those that had to be killed: each one is a leak.
   */
  async killSurvivors(owner?: string, graceMs = 5_000): Promise<(ProcessInfo & { owner: string })[]> {
    await waitUntilGone(() => this.survivors(owner), graceMs);
    const survivors = this.survivors(owner);
    for (const p of survivors) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // It exited between the check and the kill: that is what we wanted.
      }
    }
    await waitUntilGone(() => this.survivors(owner), 5_000);
    return survivors;
  }
}

async function waitUntilGone(survivors: () => readonly unknown[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (survivors().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
