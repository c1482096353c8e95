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

/** The built-in launcher plugins: `local`, `mpi`, `ssh`, `windows-hpc`, `in-process`. */
export const builtinLaunchers: readonly LauncherPlugin<any>[] = [localLauncher, mpiLauncher, sshLauncher, windowsHpcLauncher, inProcessLauncher];
