/**
 * The launcher plugins that ship with tsparallel, registered in every cluster's container.
 * @module
 */
import type { LauncherPlugin } from '../core/launcher.js';
import { inProcessLauncher } from './in-process/launcher.js';
import { localLauncher } from './local/launcher.js';
import { mpiLauncher } from './mpi/launcher.js';
import { sshLauncher } from './ssh/launcher.js';
import { windowsHpcLauncher } from './windows-hpc/launcher.js';
import { slurmLauncher } from './slurm/launcher.js';
import { pbsLauncher } from './pbs/launcher.js';
import { sgeLauncher } from './sge/launcher.js';
import { lsfLauncher } from './lsf/launcher.js';
import { htcondorLauncher } from './htcondor/launcher.js';

/**
 * The built-in launcher plugins: `local`, `mpi`, `ssh`, `windows-hpc`, `in-process`, `slurm`, `pbs`, `sge`, `lsf`,
 * `htcondor`.
 */
export const builtinLaunchers: readonly LauncherPlugin<any>[] = [
  localLauncher, mpiLauncher, sshLauncher, windowsHpcLauncher, inProcessLauncher, slurmLauncher, pbsLauncher, sgeLauncher, lsfLauncher, htcondorLauncher,
];
