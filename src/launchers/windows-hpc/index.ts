/**
 * `tsparallel/windows-hpc`: the Windows HPC Server 2008 (HPC Pack) launcher and its public helpers: the scheduler
 * over the `job` command, the job-file writer and reader, and the Windows command-line quoting rules.
 * @module tsparallel/windows-hpc
 */
export {
  WindowsHpcLauncher, windowsHpcLauncher, windowsHpcLauncherOptions, CONTROLLER_JOB_FILE, ENGINE_SET_JOB_FILE,
  type WindowsHpcLauncherInput, type WindowsHpcLauncherOptions, type CoreRange,
} from './launcher.js';
export {
  WindowsHpcScheduler, parseSubmitOutput, parseJobViewState, hpcStateToJobState,
  type WindowsHpcSchedulerOptions, type WindowsHpcJobExtra,
} from './scheduler.js';
export {
  buildJobXml, parseJobXml, hpcJobSettings, hpcJobSettingsSchema, HPC_JOB_NAMESPACE, HPC_JOB_PRIORITIES, HPC_UNIT_TYPES,
  HPC_JOB_STATES, type HpcJobSettings, type HpcJobPriority, type HpcUnitType, type HpcJobState, type ParsedHpcJob,
} from './job-xml.js';
export { readHpcJobFile } from './job-file.js';
export { quoteWindowsArg, quoteWindowsCommandLine, parseWindowsCommandLine } from './cmdline.js';
