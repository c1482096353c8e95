/**
 * How an engine in a batch job knows when its job ends: the batch launcher puts the job's walltime in the engines'
 * environment, and the engine tells the controller its end time when it registers, so the controller does not
 * start a task the job cannot finish.
 * @module
 */

/** The variable a batch launcher sets to the job's walltime in seconds (each array element counts from its start). */
export const WALLTIME_ENV = 'TSPARALLEL_WALLTIME_SECONDS';

/**
 * When this process's batch job ends (ms since the epoch): the process's start plus the walltime in
 * `TSPARALLEL_WALLTIME_SECONDS`; undefined outside a job with a walltime.
 */
export function jobEndFromEnvironment(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const seconds = Number(env[WALLTIME_ENV]);
  return Number.isFinite(seconds) && seconds > 0 ? Math.floor(performance.timeOrigin) + seconds * 1000 : undefined;
}
