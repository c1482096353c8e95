/**
 * The Slurm launcher's own option fields (`launchers.slurm` in config). A `z.strictObject` (unknown keys are
 * refused) whose shape extends the batch base's schema, which has the fields every batch launcher shares
 * (`template`, `templateFile`, `vars`, …).
 * @module
 */
import { z } from 'zod';
import { walltimeOption } from '../batch/template.js';

/**
 * The fields only the `slurm` launcher has.
 * @example
 * ```js
 * launchers: { slurm: { partition: 'debug', account: 'proj42', walltime: '1:00:00', engineMode: 'srun' } }
 * ```
 */
export const slurmOptionFields = z.strictObject({
  /** The partition to submit to (`sbatch --partition`); Slurm's default partition when absent. */
  partition: z.string().min(1).optional(),
  /** The account the jobs are charged to (`--account`). */
  account: z.string().min(1).optional(),
  /** The quality of service (`--qos`). */
  qos: z.string().min(1).optional(),
  /** The jobs' time limit (`--time`): seconds, `'H:MM:SS'`, `'D-HH:MM:SS'` or `'90m'`. */
  walltime: walltimeOption.optional(),
  /** Extra `sbatch` options, one per `#SBATCH` line, e.g. `['--mem-per-cpu=2G', '--constraint=haswell']`. */
  sbatchArgs: z.array(z.string().min(1)).default([]),
  /**
   * How an engine set runs: `srun` (default) is one job of `--ntasks=n` whose script starts the n engines with
   * `srun`; `array` is a job array of n one-task elements (`--array=1-n`), which may start bit by bit.
   */
  engineMode: z.union([z.literal('srun'), z.literal('array')]).default('srun'),
});

/** The Slurm fields as written in config. */
export type SlurmOptionInput = z.input<typeof slurmOptionFields>;
/** The parsed Slurm fields. */
export type SlurmOptions = z.output<typeof slurmOptionFields>;
