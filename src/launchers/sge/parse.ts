/**
 * Reading what Grid Engine's tools print: the job id from `qsub`, job states from the `qstat` table and, once a job
 * has left it, from `qacct -j`, and the query that combines them.
 * @module
 */
import { combineStates, matchJobId, outputTail, type CommandRunner, type ObservedJobState, type ObservedJobStatus } from '../batch/scheduler-kit.js';

/**
 * The job id `qsub` printed: `Your job 123 ("name") has been submitted`, `Your job-array 123.1-4:1 ("name") has been
 * submitted`, or `qsub -terse`'s `123` / `123.1-4:1`.
 * @throws SchedulerError carrying the output when no line is one of these.
 */
export function parseSgeQsubOutput(output: string, command?: readonly string[]): string {
  return matchJobId(output, /^(?:Your job(?:-array)? (\d+)(?:\.\S+)? \(".*"\) has been submitted|(\d+)(?:\.\d+-\d+:\d+)?)$/, 'qsub', command, true);
}

/**
 * A Grid Engine state code (the `state` column of `qstat`) as a job state: any `E` (error, the job will not run) is
 * failed; `r`, `t`, `R`, `s`, `S`, `T` (running, transferring, restarted, suspended) run, also while being deleted
 * (`dr`: not gone yet); `qw`, `hqw`, `hRwq` and other waiting codes are queued.
 */
export function sgeStateToJobState(code: string): ObservedJobState {
  if (code.includes('E')) return 'failed';
  if (/[rtRsST]/.test(code.replace(/^h?R(?=w?q)/, ''))) return 'running';
  if (/[qwh]/.test(code)) return 'queued';
  if (code.includes('d')) return 'running';
  return 'unknown';
}

/** The rows of the `qstat` table for job `jobId` (its tasks), as state codes; empty when the job is not listed. */
export function parseSgeQstat(output: string, jobId: string): string[] {
  const codes: string[] = [];
  for (const line of output.split('\n')) {
    const cols = line.trim().split(/\s+/);
    // job-ID prior name user state …
    if (cols.length >= 5 && cols[0] === jobId && /^\d+(\.\d+)?$/.test(cols[1]!)) codes.push(cols[4]!);
  }
  return codes;
}

/** One record of `qacct -j` output (a job, or one task of an array). */
export interface SgeAccountingRecord {
  /** The task id (`undefined` for a job that is not an array). */
  taskId?: number;
  /** The `failed` field: `0`, or a code and reason such as `100 : assumedly after job`. */
  failed: string;
  /** The `exit_status` field. */
  exitStatus: number;
}

/** The records of `qacct -j ID` output (blocks separated by `=====` lines; one per array task). */
export function parseQacct(output: string): SgeAccountingRecord[] {
  return output
    .split(/^=+\s*$/m)
    .map((block) => {
      const field = (name: string) => new RegExp(`^${name}\\s+(.*?)\\s*$`, 'm').exec(block)?.[1];
      const failed = field('failed');
      const exit = field('exit_status');
      if (failed === undefined || exit === undefined) return undefined;
      const task = field('taskid');
      return { failed, exitStatus: Number(exit.split(/\s/)[0]), ...(task && /^\d+$/.test(task) && { taskId: Number(task) }) };
    })
    .filter((r): r is SgeAccountingRecord => r !== undefined);
}

/**
 * How an accounting record ended: a task `qdel` killed (`failed` 100 "assumedly after job", exit 137 or 143) is
 * cancelled; another non-zero `failed` or `exit_status` is failed; else finished.
 */
export function sgeAccountingState(record: SgeAccountingRecord): ObservedJobState {
  const failedCode = Number(record.failed.split(/\s/)[0]);
  if (failedCode === 100 && (record.exitStatus === 137 || record.exitStatus === 143)) return 'cancelled';
  if (failedCode !== 0 || record.exitStatus !== 0) return 'failed';
  return 'finished';
}

/**
 * Ask Grid Engine for a job's state: its rows in `qstat`; once it has left `qstat`, its `qacct -j` records; without
 * those, whether `qstat -s z` lists it among the finished ("zombie") jobs. A job deleted before it ran never gets an
 * accounting record, and a site may write accounting late (`accounting_flush_time`) or not at all, so a zombie
 * without a record is `finished`, with a message saying why there is no exit status. A failing `qstat`, and a job
 * none of the three knows (yet), give `unknown`.
 */
export async function querySgeJobState(jobId: string, run: CommandRunner): Promise<ObservedJobStatus> {
  const qstat = await run(['qstat']);
  if (qstat.exitCode !== 0) return { id: jobId, state: 'unknown', message: `qstat failed (exit ${qstat.exitCode}): ${outputTail(qstat, 5)}` };
  const codes = parseSgeQstat(qstat.stdout, jobId);
  if (codes.length > 0) return { id: jobId, state: combineStates(codes.map(sgeStateToJobState)), rawState: [...new Set(codes)].join(',') };
  const qacct = await run(['qacct', '-j', jobId]);
  const records = qacct.exitCode === 0 ? parseQacct(qacct.stdout) : [];
  if (records.length > 0) {
    const failedRecord = records.find((r) => sgeAccountingState(r) !== 'finished');
    return {
      id: jobId,
      state: combineStates(records.map(sgeAccountingState)),
      rawState: `qacct failed=${(failedRecord ?? records[0]!).failed}`,
      exitCode: (failedRecord ?? records[0]!).exitStatus,
    };
  }
  const zombies = await run(['qstat', '-s', 'z']);
  if (zombies.exitCode === 0 && parseSgeQstat(zombies.stdout, jobId).length > 0) {
    return { id: jobId, state: 'finished', rawState: 'z', message: `job ${jobId} has ended (qstat -s z) but qacct has no record of it: it was deleted before it ran, or accounting is written later` };
  }
  return { id: jobId, state: 'unknown', message: `job ${jobId} has left qstat but neither qacct nor qstat -s z knows it yet: ${outputTail(qacct, 3)}` };
}
