/**
 * The launcher plugins that ship with tsparallel, registered in every cluster's container.
 * @module
 */
import type { LauncherPlugin } from '../core/launcher.js';
import { inProcessLauncher } from './in-process.js';
import { localLauncher } from './local.js';
import { windowsHpcLauncher } from './windows-hpc.js';

/** The built-in launcher plugins: `local`, `windows-hpc`, `in-process`. */
export const builtinLaunchers: readonly LauncherPlugin<any>[] = [localLauncher, windowsHpcLauncher, inProcessLauncher];
