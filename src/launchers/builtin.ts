/**
 * The launcher plugins that ship with tsparallel, registered in every cluster's container.
 * @module
 */
import type { LauncherPlugin } from '../core/launcher.js';
import { localLauncher } from './local.js';

/** The built-in launcher plugins. */
export const builtinLaunchers: readonly LauncherPlugin<any>[] = [localLauncher];
