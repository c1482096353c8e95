/**
 * The Grid Engine launcher's own option fields (`launchers.sge` in config): Son of Grid Engine, Univa/Altair Grid
 * Engine, Open Cluster Scheduler. A `z.strictObject` (unknown keys are refused) whose shape extends the batch base's
 * schema, which has the shared fields.
 * @module
 */
import { z } from 'zod';
import { walltimeOption } from '../batch/template.js';

/**
 * The fields only the `sge` launcher has.
 * @example
 * ```js
 * launchers: { sge: { queue: 'all.q', pe: 'smp 4', walltime: '2:00:00' } }
 * ```
 */
export const sgeOptionFields = z.strictObject({
  /** The queue (`-q`), e.g. `all.q`; Grid Engine picks one when absent. */
  queue: z.string().min(1).optional(),
  /** The parallel environment and slot count (`-pe`), e.g. `'smp 4'` or `'mpi 8-16'`. */
  pe: z
    .string()
    .regex(/^\S+\s+\d+(?:-\d*)?$/, { error: "must be '<parallel environment> <slots>', e.g. 'smp 4' or 'mpi 8-16'" })
    .optional(),
  /** The jobs' hard run-time limit (`-l h_rt=`): seconds, `'H:MM:SS'` or `'90m'`. */
  walltime: walltimeOption.optional(),
  /** The shell that runs the job script (`-S`, default `/bin/sh`). */
  shell: z.string().min(1).default('/bin/sh'),
  /** Extra `qsub` options, one per `#$` line, e.g. `['-l mem_free=2G', '-P myproject']`. */
  qsubArgs: z.array(z.string().min(1)).default([]),
});

/** The Grid Engine fields as written in config. */
export type SgeOptionInput = z.input<typeof sgeOptionFields>;
/** The parsed Grid Engine fields. */
export type SgeOptions = z.output<typeof sgeOptionFields>;
