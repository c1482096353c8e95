/**
 * The HTCondor launcher's own option fields (`launchers.htcondor` in config). A `z.strictObject` (unknown keys are
 * refused) whose shape extends the batch base's schema, which has the shared fields.
 * @module
 */
import { z } from 'zod';
import { walltimeOption } from '../batch/template.js';

/**
 * The fields only the `htcondor` launcher has.
 * @example
 * ```js
 * launchers: { htcondor: { requirements: '(OpSys == "LINUX") && (Arch == "X86_64")', requestMemory: '2 GB' } }
 * ```
 */
export const htcondorOptionFields = z.strictObject({
  /** A ClassAd expression the execute machines must match (`requirements =`). */
  requirements: z.string().min(1).optional(),
  /** CPUs per job (`request_cpus =`, default HTCondor's 1). */
  requestCpus: z.number().int().positive().optional(),
  /** Memory per job (`request_memory =`), e.g. `'2 GB'` or a number of MiB. */
  requestMemory: z.union([z.number().int().positive(), z.string().min(1)]).optional(),
  /**
   * The jobs' time limit: seconds, `'H:MM:SS'` or `'90m'`. HTCondor has no walltime directive; a running job is
   * removed once it has run this long (`periodic_remove`).
   */
  walltime: walltimeOption.optional(),
  /** Extra submit-description lines, e.g. `['+ProjectName = "p42"', 'rank = Memory']`. */
  submitLines: z.array(z.string().min(1)).default([]),
});

/** The HTCondor fields as written in config. */
export type HtcondorOptionInput = z.input<typeof htcondorOptionFields>;
/** The parsed HTCondor fields. */
export type HtcondorOptions = z.output<typeof htcondorOptionFields>;
