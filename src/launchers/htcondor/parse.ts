/**
 * Reading what HTCondor's tools print: the cluster id from `condor_submit`, job states from
 * `condor_q ID -af JobStatus ExitCode` and, once a job has left the queue, `condor_history ID -af JobStatus ExitCode`.
 * @module
 */
import { combineStates, matchJobId, outputTail, type CommandRunner, type ObservedJobState, type ObservedJobStatus, type ParsedJobState } from '../batch/scheduler-kit.js';

/**
 * The cluster id `condor_submit` printed: `3 job(s) submitted to cluster 123.`.
 * @throws SchedulerError carrying the output when no line says so.
 */
export function parseCondorSubmitOutput(output: string, command?: readonly string[]): string {
  return matchJobId(output, /^\d+ job\(s\) submitted to cluster (\d+)\.$/, 'condor_submit', command);
}

/** HTCondor's `JobStatus` numbers. */
export const CONDOR_JOB_STATUS: Readonly<Record<number, string>> = {
  1: 'Idle',
  2: 'Running',
  3: 'Removed',
  4: 'Completed',
  5: 'Held',
  6: 'Transferring Output',
  7: 'Suspended',
};

/**
 * A `JobStatus` as a job state. In the queue (`condor_q`), a removed job (3) is still being taken down, so it is
 * not final yet (running); idle (1) and held (5) wait. In the history, 3 is cancelled and 4 (completed) is finished
 * when `ExitCode` is 0, else failed (a job killed by a signal has no `ExitCode`).
 */
export function condorStatusToJobState(status: number, exitCode: number | undefined, inHistory: boolean): ObservedJobState {
  switch (status) {
    case 1:
    case 5:
      return 'queued';
    case 2:
    case 6:
    case 7:
      return 'running';
    case 3:
      return inHistory ? 'cancelled' : 'running';
    case 4:
      return exitCode === 0 ? 'finished' : 'failed';
    default:
      return 'unknown';
  }
}

/** The rows of `-af JobStatus ExitCode` output (one per process; `undefined` for a missing attribute). */
export function parseCondorAutoformat(output: string, inHistory: boolean): ParsedJobState | undefined {
  const rows = output
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => c[0] && /^\d+$/.test(c[0]));
  if (rows.length === 0) return undefined;
  const codes = rows.map((r) => (r[1] && /^-?\d+$/.test(r[1]) ? Number(r[1]) : undefined));
  const exitCode = codes.find((c) => c !== undefined && c !== 0) ?? codes.find((c) => c !== undefined);
  return {
    state: combineStates(rows.map((r, i) => condorStatusToJobState(Number(r[0]), codes[i], inHistory))),
    rawState: [...new Set(rows.map((r) => CONDOR_JOB_STATUS[Number(r[0])] ?? r[0]!))].join(','),
    ...(exitCode !== undefined && { exitCode }),
  };
}

/**
 * Ask HTCondor for a cluster's state: `condor_q` while any of its processes is in the queue, else
 * `condor_history`. A failing command, or a cluster neither knows, is `unknown`.
 */
export async function queryHtcondorJobState(clusterId: string, run: CommandRunner): Promise<ObservedJobStatus> {
  const q = await run(['condor_q', clusterId, '-af', 'JobStatus', 'ExitCode']);
  if (q.exitCode !== 0) return { id: clusterId, state: 'unknown', message: `condor_q failed (exit ${q.exitCode}): ${outputTail(q, 5)}` };
  const queued = parseCondorAutoformat(q.stdout, false);
  if (queued) return { id: clusterId, ...queued };
  const h = await run(['condor_history', clusterId, '-af', 'JobStatus', 'ExitCode']);
  if (h.exitCode !== 0) return { id: clusterId, state: 'unknown', message: `condor_history failed (exit ${h.exitCode}): ${outputTail(h, 5)}` };
  const past = parseCondorAutoformat(h.stdout, true);
  if (past) return { id: clusterId, ...past };
  return { id: clusterId, state: 'unknown', message: `cluster ${clusterId} is neither in condor_q nor in condor_history` };
}
