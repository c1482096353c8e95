/**
 * The LSF launcher's own option fields (`launchers.lsf` in config), for IBM Spectrum LSF and OpenLava. A
 * `z.strictObject` (unknown keys are refused) whose shape extends the batch base's schema, which has the shared
 * fields.
 * @module
 */
import { z } from 'zod';
import { walltimeOption } from '../batch/template.js';

/**
 * The fields only the `lsf` launcher has.
 * @example
 * ```js
 * launchers: { lsf: { queue: 'normal', walltime: '2h', resources: 'span[ptile=4]' } }
 * ```
 */
export const lsfOptionFields = z.strictObject({
  /** The queue (`-q`); the cluster's default queue when absent. */
  queue: z.string().min(1).optional(),
  /** The jobs' run limit (`-W [hours:]minutes`, rounded up to a minute): seconds, `'H:MM:SS'` or `'90m'`. */
  walltime: walltimeOption.optional(),
  /** A resource requirement string (`-R`), e.g. `'span[ptile=4] rusage[mem=2000]'`. */
  resources: z.string().min(1).optional(),
  /** The project the jobs are charged to (`-P`). */
  project: z.string().min(1).optional(),
  /** Extra `bsub` options, one per `#BSUB` line, e.g. `['-M 2000']`. */
  bsubArgs: z.array(z.string().min(1)).default([]),
});

/** The LSF fields as written in config. */
export type LsfOptionInput = z.input<typeof lsfOptionFields>;
/** The parsed LSF fields. */
export type LsfOptions = z.output<typeof lsfOptionFields>;
