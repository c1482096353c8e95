/**
 * Reading what LSF's tools print: the job id from `bsub`, job states from `bjobs -noheader -o "stat exit_code"`,
 * and the query.
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
 * An LSF job status (`STAT`) as a job state. `PEND`, `PSUSP` and `WAIT` wait; `RUN`, `USUSP`, `SSUSP`, `PROV` and
 * `ZOMBI` (being killed, not gone yet) run; `DONE` finished; `EXIT` failed, or cancelled when the exit code is that
 * of a `bkill` (128 + SIGINT, SIGTERM or SIGKILL); `UNKWN` (the execution host lost) is unknown.
 */
export function lsfStateToJobState(stat: string, exitCode?: number): ObservedJobState {
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
    case 'EXIT':
      return exitCode === 130 || exitCode === 143 || exitCode === 137 ? 'cancelled' : 'failed';
    default:
      return 'unknown';
  }
}

/** The rows of `bjobs -noheader -o "stat exit_code" ID` (one per array element): state and exit code (`-`: none). */
export function parseBjobs(output: string): ParsedJobState | undefined {
  const rows = output
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((cols) => cols[0] && /^[A-Z]+$/.test(cols[0]));
  if (rows.length === 0) return undefined;
  const codes = rows.map((r) => (r[1] && /^\d+$/.test(r[1]) ? Number(r[1]) : undefined));
  const exitCode = codes.find((c) => c !== undefined && c !== 0) ?? codes.find((c) => c !== undefined);
  return {
    state: combineStates(rows.map((r, i) => lsfStateToJobState(r[0]!, codes[i]))),
    rawState: [...new Set(rows.map((r) => r[0]!))].join(','),
    ...(exitCode !== undefined && { exitCode }),
  };
}

/**
 * Ask LSF for a job's state with `bjobs -noheader -o "stat exit_code" ID`. LSF keeps a finished job for
 * `CLEAN_PERIOD` (an hour by default); a job it no longer knows ("is not found") is `finished` with a message, and
 * any other failure (LSF down) is `unknown`.
 */
export async function queryLsfJobState(jobId: string, run: CommandRunner): Promise<ObservedJobStatus> {
  const r = await run(['bjobs', '-noheader', '-o', 'stat exit_code', jobId]);
  const found = r.exitCode === 0 ? parseBjobs(r.stdout) : undefined;
  if (found) return { id: jobId, ...found };
  if (/is not found/.test(r.stdout + r.stderr)) {
    return { id: jobId, state: 'finished', rawState: 'not found', message: `job ${jobId} is no longer known to LSF (it ended more than CLEAN_PERIOD ago); how it ended is not known` };
  }
  return { id: jobId, state: 'unknown', message: `bjobs failed (exit ${r.exitCode}): ${outputTail(r, 5)}` };
}
