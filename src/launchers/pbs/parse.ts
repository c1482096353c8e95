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
 * PBS Pro's `substate` of a job in its history (OpenPBS `src/include/job.h`): the server gives 91 to a job a delete
 * request (`qdel`) ended, queued or running, whatever its exit status; 92 to one that finished with exit status 0
 * (or none); 93 to one that failed. Torque shows `substate` to operators and managers only.
 */
const PBS_HISTORY_SUBSTATES = { terminated: 91, finished: 92, failed: 93 } as const;

/**
 * A PBS `job_state` letter as a job state. `Q`, `H`, `W`, `T`, `M` wait; `R`, `E` (exiting), `B` (array begun),
 * `S`/`U` (suspended) run; `F` (PBS Pro, finished), `C` (Torque, completed) and `X` (a finished array element) are
 * final. How a final job ended is read from its `substate` when the listing has one (PBS Pro: 91 deleted, so
 * cancelled; 92 finished; 93 failed), else from `exitStatus`: 0 or none finished, 256 + SIGTERM/SIGKILL (how PBS
 * records a process a qdel killed, and what Torque gives a queued job a qdel removed) cancelled, any other failed.
 * Without a substate, a deleted job whose process exited 0 on SIGTERM cannot be told from one that finished.
 */
export function pbsStateToJobState(letter: string, exitStatus?: number, substate?: number): ObservedJobState {
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
      // The substate is the server's own record of a delete: a job that caught qdel's SIGTERM and exited 0 is still
      // 91, and one killed by SIGTERM from elsewhere (a walltime kill on older servers) is 93, not a cancel.
      if (substate === PBS_HISTORY_SUBSTATES.terminated) return 'cancelled';
      if (substate === PBS_HISTORY_SUBSTATES.finished) return 'finished';
      if (substate === PBS_HISTORY_SUBSTATES.failed) return 'failed';
      if (exitStatus === undefined || exitStatus === 0) return 'finished';
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
  /** `substate`, when present (PBS Pro; Torque shows it to operators and managers). */
  substate?: number;
}

/** The job records of `qstat -f` (or `-fx`) output: one per `Job Id:` block. */
export function parseQstatFull(output: string): PbsJobRecord[] {
  const blocks = output.split(/^(?=Job Id:)/m).filter((b) => b.startsWith('Job Id:'));
  return blocks.map((block) => {
    const id = /^Job Id:\s*(\S+)/.exec(block)![1]!;
    const attributes = parseKeyValueBlock(block);
    const exit = attributes.get('Exit_status') ?? attributes.get('exit_status');
    const substate = attributes.get('substate');
    return {
      id,
      attributes,
      ...(attributes.has('job_state') && { jobState: attributes.get('job_state')! }),
      ...(exit !== undefined && /^-?\d+$/.test(exit) && { exitStatus: Number(exit) }),
      ...(substate !== undefined && /^\d+$/.test(substate) && { substate: Number(substate) }),
    };
  });
}

/** The state of a `qstat -f` listing (its records combined); undefined when it holds no `job_state`. */
export function pbsStateOfListing(output: string): ParsedJobState | undefined {
  const records = parseQstatFull(output).filter((r) => r.jobState !== undefined);
  if (records.length === 0) return undefined;
  const exitCode = records.map((r) => r.exitStatus).find((e) => e !== undefined && e !== 0) ?? records.find((r) => r.exitStatus !== undefined)?.exitStatus;
  return {
    state: combineStates(records.map((r) => pbsStateToJobState(r.jobState!, r.exitStatus, r.substate))),
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
