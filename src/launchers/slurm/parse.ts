/**
 * Reading what Slurm's tools print: the job id from `sbatch --parsable`, job states from `squeue`,
 * `scontrol show job` and `sacct`, and the query that combines them.
 * @module
 */
import { combineStates, matchJobId, outputTail, type CommandRunner, type ObservedJobState, type ObservedJobStatus, type ParsedJobState } from '../batch/scheduler-kit.js';

/**
 * The job id in `sbatch --parsable` output (`123`, or `123;cluster` on a multi-cluster setup); `Submitted batch job
 * 123` (sbatch without `--parsable`) is read too.
 * @throws SchedulerError carrying the output when no line is a job id.
 */
export function parseSbatchOutput(output: string, command?: readonly string[]): string {
  try {
    return matchJobId(output, /^(\d+)(?:;[\w.-]+)?$/, 'sbatch', command);
  } catch (err) {
    for (const line of output.split('\n')) {
      const m = /^Submitted batch job (\d+)$/.exec(line.trim());
      if (m) return m[1]!;
    }
    throw err;
  }
}

const SLURM_STATES: Record<string, ObservedJobState> = {
  PENDING: 'queued',
  CONFIGURING: 'queued',
  REQUEUED: 'queued',
  REQUEUE_HOLD: 'queued',
  REQUEUE_FED: 'queued',
  RESV_DEL_HOLD: 'queued',
  RUNNING: 'running',
  COMPLETING: 'running',
  SUSPENDED: 'running',
  STOPPED: 'running',
  SIGNALING: 'running',
  STAGE_OUT: 'running',
  RESIZING: 'running',
  COMPLETED: 'finished',
  CANCELLED: 'cancelled',
  FAILED: 'failed',
  TIMEOUT: 'failed',
  NODE_FAIL: 'failed',
  PREEMPTED: 'failed',
  BOOT_FAIL: 'failed',
  DEADLINE: 'failed',
  OUT_OF_MEMORY: 'failed',
  REVOKED: 'cancelled',
  SPECIAL_EXIT: 'failed',
};

/** A Slurm state word (`RUNNING`, `CANCELLED by 1000`, `PD`) as a job state; `unknown` for a word Slurm does not use. */
export function slurmStateToJobState(raw: string): ObservedJobState {
  const word = raw.trim().split(/\s+/)[0]?.toUpperCase().replace(/\+$/, '') ?? '';
  const short: Record<string, string> = { PD: 'PENDING', R: 'RUNNING', CG: 'COMPLETING', CD: 'COMPLETED', CA: 'CANCELLED', F: 'FAILED', TO: 'TIMEOUT', NF: 'NODE_FAIL', PR: 'PREEMPTED', S: 'SUSPENDED', OOM: 'OUT_OF_MEMORY', CF: 'CONFIGURING', BF: 'BOOT_FAIL', DL: 'DEADLINE' };
  return SLURM_STATES[short[word] ?? word] ?? 'unknown';
}

/** The states of `squeue -h -o %T --jobs=ID` (one line per array element or job); undefined when it printed none. */
export function parseSqueueStates(output: string): ParsedJobState | undefined {
  const words = output.split('\n').map((l) => l.trim()).filter(Boolean);
  if (words.length === 0) return undefined;
  return { state: combineStates(words.map(slurmStateToJobState)), rawState: [...new Set(words)].join(',') };
}

/**
 * The state of `scontrol show job ID` output: every `JobState=` (one record per array element, records separated by
 * blank lines) combined, with the first non-zero `ExitCode=code:signal`. Undefined when it names no state.
 */
export function parseScontrolJob(output: string): ParsedJobState | undefined {
  const states = [...output.matchAll(/(?:^|\s)JobState=(\S+)/g)].map((m) => m[1]!);
  if (states.length === 0) return undefined;
  const codes = [...output.matchAll(/(?:^|\s)ExitCode=(\d+):(\d+)/g)].map((m) => Number(m[1]) || (Number(m[2]) ? 128 + Number(m[2]) : 0));
  const exitCode = codes.find((c) => c !== 0) ?? codes[0];
  return {
    state: combineStates(states.map(slurmStateToJobState)),
    rawState: [...new Set(states)].join(','),
    ...(exitCode !== undefined && { exitCode }),
  };
}

/** The state of `sacct -n -X -P -o State,ExitCode -j ID` output (`COMPLETED|0:0` lines); undefined when empty. */
export function parseSacct(output: string): ParsedJobState | undefined {
  const rows = output.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => l.split('|'));
  if (rows.length === 0) return undefined;
  const codes = rows.map((r) => /^(\d+):(\d+)$/.exec(r[1] ?? '')).filter((m) => m !== null).map((m) => Number(m[1]));
  const exitCode = codes.find((c) => c !== 0) ?? codes[0];
  return {
    state: combineStates(rows.map((r) => slurmStateToJobState(r[0]!))),
    rawState: [...new Set(rows.map((r) => r[0]!))].join(','),
    ...(exitCode !== undefined && { exitCode }),
  };
}

const INVALID_JOB = /Invalid job id specified/i;

/**
 * Ask Slurm for a job's state: `squeue -h -o %T -t all --jobs=ID`; when squeue prints nothing, `scontrol show job ID`;
 * when slurmctld has forgotten it, `sacct`. A command that fails otherwise (slurmctld down, a timeout) gives
 * `unknown`. A job none of them knows is reported `finished` with a message saying its end is not known.
 */
export async function querySlurmJobState(jobId: string, run: CommandRunner): Promise<ObservedJobStatus> {
  // `-j` takes an optional argument, so it must be glued to the id (`-j 12` would list every job); `-t all`
  // shows jobs that ended too, while slurmctld still holds them (MinJobAge).
  const squeue = await run(['squeue', '-h', '-o', '%T', '-t', 'all', `--jobs=${jobId}`]);
  if (squeue.exitCode === 0) {
    const found = parseSqueueStates(squeue.stdout);
    if (found) return { id: jobId, ...found };
  } else if (!INVALID_JOB.test(squeue.stderr + squeue.stdout)) {
    return { id: jobId, state: 'unknown', message: `squeue failed (exit ${squeue.exitCode}): ${outputTail(squeue, 5)}` };
  }
  const scontrol = await run(['scontrol', 'show', 'job', jobId]);
  if (scontrol.exitCode === 0) {
    const found = parseScontrolJob(scontrol.stdout);
    if (found) return { id: jobId, ...found };
  } else if (!INVALID_JOB.test(scontrol.stderr + scontrol.stdout)) {
    return { id: jobId, state: 'unknown', message: `scontrol failed (exit ${scontrol.exitCode}): ${outputTail(scontrol, 5)}` };
  }
  const sacct = await run(['sacct', '-n', '-X', '-P', '-o', 'State,ExitCode', '-j', jobId]);
  if (sacct.exitCode === 0) {
    const found = parseSacct(sacct.stdout);
    if (found) return { id: jobId, ...found };
  }
  return {
    id: jobId,
    state: 'finished',
    rawState: 'NOT_FOUND',
    message: `job ${jobId} is no longer known to slurmctld (it ended more than MinJobAge ago) and accounting has no record of it; how it ended is not known`,
  };
}
