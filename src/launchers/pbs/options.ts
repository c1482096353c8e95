/**
 * The PBS launcher's own option fields (`launchers.pbs` in config), for PBS Pro / OpenPBS and Torque. A
 * `z.strictObject` (unknown keys are refused) whose shape extends the batch base's schema, which has the fields
 * every batch launcher shares.
 * @module
 */
import { z } from 'zod';
import { walltimeOption } from '../batch/template.js';

/** The PBS flavours: they differ in the array directive, the index variable and how finished jobs are shown. */
export const PBS_FLAVORS = ['pbspro', 'torque'] as const;

/** A PBS flavour: `pbspro` (PBS Pro, OpenPBS) or `torque` (Torque, its descendants). */
export type PbsFlavor = (typeof PBS_FLAVORS)[number];

/**
 * The fields only the `pbs` launcher has.
 * @example
 * ```js
 * launchers: { pbs: { flavor: 'torque', queue: 'batch', walltime: '2h', resources: 'nodes=2:ppn=8' } }
 * ```
 */
export const pbsOptionFields = z.strictObject({
  /** `pbspro` (default; arrays with `-J 1-n`, finished jobs with `qstat -x`) or `torque` (arrays with `-t 1-n`). */
  flavor: z.union([z.literal('pbspro'), z.literal('torque')]).default('pbspro'),
  /** The queue to submit to (`-q`); the server's default queue when absent. */
  queue: z.string().min(1).optional(),
  /** The account the jobs are charged to (`-A`). */
  account: z.string().min(1).optional(),
  /** The jobs' time limit (`-l walltime=`): seconds, `'H:MM:SS'` or `'90m'`. */
  walltime: walltimeOption.optional(),
  /** Resources, as after `-l`: `'select=2:ncpus=4'` (PBS Pro) or `'nodes=2:ppn=4'` (Torque). */
  resources: z.string().min(1).optional(),
  /** Extra `qsub` options, one per `#PBS` line, e.g. `['-m abe', '-M me@example.org']`. */
  qsubArgs: z.array(z.string().min(1)).default([]),
});

/** The PBS fields as written in config. */
export type PbsOptionInput = z.input<typeof pbsOptionFields>;
/** The parsed PBS fields. */
export type PbsOptions = z.output<typeof pbsOptionFields>;
