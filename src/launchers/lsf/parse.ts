/**
 * Reading what LSF's tools print: the job id from `bsub`, job states from
 * `bjobs -noheader -o "stat exit_code exit_reason"`, and the query.
 * @module
 */
import { combineStates, matchJobId, outputTail, type CommandRunner, type ObservedJobState, type ObservedJobStatus, type ParsedJobState } from '../batch/scheduler-kit.js';

/**
 * The job id `bsub` printed: `Job <123> is submitted to queue <normal>.` (or `… to default queue <normal>.`).
 * @throws SchedulerError carrying the output when no line says so.
 */
export function parseBsubOutput(output: string, command?: readonly string[]): string {
  return matchJobId(output, /^Job <(\d+)> is submitted to (?:default )?queue <[^<>]+>\.$/, 'bsub', command);
}

/**
 * The termination reasons LSF records when `bkill` ended a job: by its owner or by root or an LSF administrator
 * (`TERM_FORCE_*` with `bkill -r` when the execution host could not be reached), or a bucket kill (`bkill -b`).
 */
const KILL_REASONS = new Set(['TERM_OWNER', 'TERM_ADMIN', 'TERM_FORCE_OWNER', 'TERM_FORCE_ADMIN', 'TERM_BUCKET_KILL']);

/**
 * The termination reason keyword at the start of a `bjobs` `exit_reason` value (`TERM_OWNER`, or
 * `TERM_OWNER: job killed by owner` as `bjobs -l` words it); undefined for `-` (none) or anything else.
 */
function lsfTerminationReason(exitReason: string | undefined): string | undefined {
  return /^(TERM_[A-Z_]+)\b/.exec(exitReason?.trim() ?? '')?.[1];
}

/**
 * An LSF job status (`STAT`) as a job state. `PEND`, `PSUSP` and `WAIT` wait; `RUN`, `USUSP`, `SSUSP`, `PROV` and
 * `ZOMBI` (being killed, not gone yet) run; `DONE` finished; `UNKWN` (the execution host lost) is unknown. `EXIT` is
 * cancelled when its termination reason says `bkill` ended it (by the owner or an administrator, whatever the job's
 * process exited with) and failed for any other reason (run or memory limit, …); without a reason (none recorded, or
 * a `bjobs` that was not asked for one), it is cancelled when the exit code is that of a `bkill` signal (128 +
 * SIGINT, SIGTERM or SIGKILL), else failed.
 */
export function lsfStateToJobState(stat: string, exitCode?: number, exitReason?: string): ObservedJobState {
  switch (stat.trim().toUpperCase()) {
    case 'PEND':
    case 'PSUSP':
    case 'WAIT':
      return 'queued';
    case 'RUN':
    case 'USUSP':
    case 'SSUSP':
    case 'PROV':
    case 'ZOMBI':
      return 'running';
    case 'DONE':
      return 'finished';
    case 'EXIT': {
      const reason = lsfTerminationReason(exitReason);
      if (reason) return KILL_REASONS.has(reason) ? 'cancelled' : 'failed';
      return exitCode === 130 || exitCode === 143 || exitCode === 137 ? 'cancelled' : 'failed';
    }
    default:
      return 'unknown';
  }
}

/**
 * The rows of `bjobs -noheader -o "stat exit_code exit_reason" ID` (one per array element): state, exit code (`-`:
 * none) and the rest of the line as the termination reason (`-`: none; it may hold spaces, so it comes last). Rows of
 * `-o "stat exit_code"` read the same, without a reason.
 */
export function parseBjobs(output: string): ParsedJobState | undefined {
  const rows = output
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols[0] && /^[A-Z]+$/.test(cols[0]));
  if (rows.length === 0) return undefined;
  const codes = rows.map((r) => (r[1] && /^\d+$/.test(r[1]) ? Number(r[1]) : undefined));
  const exitCode = codes.find((c) => c !== undefined && c !== 0) ?? codes.find((c) => c !== undefined);
  return {
    state: combineStates(rows.map((r, i) => lsfStateToJobState(r[0]!, codes[i], r.slice(2).join(' ')))),
    rawState: [...new Set(rows.map((r) => r[0]!))].join(','),
    ...(exitCode !== undefined && { exitCode }),
  };
}

/** The command runners (one per scheduler) whose `bjobs` refused the `exit_reason` field: they are asked without it. */
const withoutReason = new WeakSet<CommandRunner>();

/**
 * Ask LSF for a job's state with `bjobs -noheader -o "stat exit_code exit_reason" ID`: one call a poll, the reason
 * telling a `bkill` from a failure (an LSF whose `bjobs` refuses that field is asked for `stat exit_code` instead,
 * from its first refusal on, and its killed jobs are told by their exit codes as before). LSF keeps a finished job for `CLEAN_PERIOD` (an hour by default); a job it no
 * longer knows ("is not found") is `finished` with a message, and any other failure (LSF down) is `unknown`.
 */
export async function queryLsfJobState(jobId: string, run: CommandRunner): Promise<ObservedJobStatus> {
  const notFound = (x: { stdout: string; stderr: string }) => /is not found/.test(x.stdout + x.stderr);
  let r = await run(['bjobs', '-noheader', '-o', withoutReason.has(run) ? 'stat exit_code' : 'stat exit_code exit_reason', jobId]);
  if (r.exitCode !== 0 && !notFound(r) && !withoutReason.has(run)) {
    // A bjobs that knows no exit_reason field (an older LSF) refuses the whole call: ask without it, and from then on
    // (for this scheduler) when that works. When both fail, LSF itself is the trouble: the first answer is reported.
    const plain = await run(['bjobs', '-noheader', '-o', 'stat exit_code', jobId]);
    if (plain.exitCode === 0 || notFound(plain)) {
      withoutReason.add(run);
      r = plain;
    }
  }
  const found = r.exitCode === 0 ? parseBjobs(r.stdout) : undefined;
  if (found) return { id: jobId, ...found };
  if (notFound(r)) {
    return { id: jobId, state: 'finished', rawState: 'not found', message: `job ${jobId} is no longer known to LSF (it ended more than CLEAN_PERIOD ago); how it ended is not known` };
  }
  return { id: jobId, state: 'unknown', message: `bjobs failed (exit ${r.exitCode}): ${outputTail(r, 5)}` };
}
