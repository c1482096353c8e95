/**
 * Reading what PBS's tools print: the job id from `qsub`, job states from `qstat -f` (and `qstat -fx` for finished
 * jobs on PBS Pro), and the query that combines them.
 * @module
 */
import { combineStates, matchJobId, outputTail, parseKeyValueBlock, type CommandRunner, type ObservedJobState, type ObservedJobStatus, type ParsedJobState } from '../batch/scheduler-kit.js';
import type { PbsFlavor } from './options.js';

/**
 * The job id `qsub` printed: `123.server` (`123[].server` for an array job; `123` on servers that print no name).
 * @throws SchedulerError carrying the output when no line is a job id.
 */
export function parseQsubOutput(output: string, command?: readonly string[]): string {
  return matchJobId(output, /^(\d+(?:\[\d*\])?(?:\.[A-Za-z0-9][\w.-]*)?)$/, 'qsub', command);
}

/**
 * A PBS `job_state` letter as a job state. `Q`, `H`, `W`, `T`, `M` wait; `R`, `E` (exiting), `B` (array begun),
 * `S`/`U` (suspended) run; `F` (PBS Pro, finished), `C` (Torque, completed) and `X` (a finished array element) are
 * final, and `exitStatus` decides how: 0 finished, 256 + SIGTERM/SIGKILL (a `qdel`) cancelled, else failed.
 */
export function pbsStateToJobState(letter: string, exitStatus?: number): ObservedJobState {
  switch (letter.trim().toUpperCase()) {
    case 'Q':
    case 'H':
    case 'W':
    case 'T':
    case 'M':
      return 'queued';
    case 'R':
    case 'E':
    case 'B':
    case 'S':
    case 'U':
      return 'running';
    case 'F':
    case 'C':
    case 'X':
      if (exitStatus === undefined || exitStatus === 0) return 'finished';
      // PBS reports a job killed by a signal as 256 + the signal; qdel sends SIGTERM, then SIGKILL.
      return exitStatus === 256 + 15 || exitStatus === 256 + 9 ? 'cancelled' : 'failed';
    default:
      return 'unknown';
  }
}

/** One job of a `qstat -f` listing. */
export interface PbsJobRecord {
  /** The id after `Job Id:`. */
  id: string;
  /** Every `key = value` attribute (continuation lines joined). */
  attributes: Map<string, string>;
  /** The `job_state` letter. */
  jobState?: string;
  /** `Exit_status` (PBS Pro) or `exit_status` (Torque), when present. */
  exitStatus?: number;
}

/** The job records of `qstat -f` (or `-fx`) output: one per `Job Id:` block. */
export function parseQstatFull(output: string): PbsJobRecord[] {
  const blocks = output.split(/^(?=Job Id:)/m).filter((b) => b.startsWith('Job Id:'));
  return blocks.map((block) => {
    const id = /^Job Id:\s*(\S+)/.exec(block)![1]!;
    const attributes = parseKeyValueBlock(block);
    const exit = attributes.get('Exit_status') ?? attributes.get('exit_status');
    return {
      id,
      attributes,
      ...(attributes.has('job_state') && { jobState: attributes.get('job_state')! }),
      ...(exit !== undefined && /^-?\d+$/.test(exit) && { exitStatus: Number(exit) }),
    };
  });
}

/** The state of a `qstat -f` listing (its records combined); undefined when it holds no `job_state`. */
export function pbsStateOfListing(output: string): ParsedJobState | undefined {
  const records = parseQstatFull(output).filter((r) => r.jobState !== undefined);
  if (records.length === 0) return undefined;
  const exitCode = records.map((r) => r.exitStatus).find((e) => e !== undefined && e !== 0) ?? records.find((r) => r.exitStatus !== undefined)?.exitStatus;
  return {
    state: combineStates(records.map((r) => pbsStateToJobState(r.jobState!, r.exitStatus))),
    rawState: [...new Set(records.map((r) => r.jobState!))].join(','),
    ...(exitCode !== undefined && { exitCode }),
  };
}

/** `qstat` saying the job is no longer in the server's queue (it finished, or the server forgot it). */
const HAS_FINISHED = /Job has finished/i;
const UNKNOWN_JOB = /Unknown Job Id/i;

/**
 * Ask PBS for a job's state with `qstat -f ID`. PBS Pro answers "Job has finished" for a job no longer queued:
 * then `qstat -fx ID` gives its final record. Torque keeps a completed job in state `C` for a while. A job the
 * server does not know (any more) is `finished` with a message; any other failure is `unknown`.
 */
export async function queryPbsJobState(jobId: string, run: CommandRunner, flavor: PbsFlavor = 'pbspro'): Promise<ObservedJobStatus> {
  const current = await run(['qstat', '-f', jobId]);
  const text = current.stdout + current.stderr;
  if (current.exitCode === 0) {
    const found = pbsStateOfListing(current.stdout);
    if (found) return { id: jobId, ...found };
    return { id: jobId, state: 'unknown', message: `qstat -f printed no job_state: ${outputTail(current, 5)}` };
  }
  if (flavor === 'pbspro' && (HAS_FINISHED.test(text) || UNKNOWN_JOB.test(text))) {
    const history = await run(['qstat', '-fx', jobId]);
    if (history.exitCode === 0) {
      const found = pbsStateOfListing(history.stdout);
      if (found) return { id: jobId, ...found };
    } else if (!UNKNOWN_JOB.test(history.stdout + history.stderr)) {
      return { id: jobId, state: 'unknown', message: `qstat -fx failed (exit ${history.exitCode}): ${outputTail(history, 5)}` };
    }
  }
  if (UNKNOWN_JOB.test(text) || HAS_FINISHED.test(text)) {
    return {
      id: jobId,
      state: 'finished',
      rawState: 'unknown to server',
      message: `job ${jobId} is no longer known to the PBS server (its history was purged); how it ended is not known`,
    };
  }
  return { id: jobId, state: 'unknown', message: `qstat -f failed (exit ${current.exitCode}): ${outputTail(current, 5)}` };
}
