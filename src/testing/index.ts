/**
 * `tsparallel/testing`: run clusters and launchers in tests without the real infrastructure. The in-process
 * scheduler (real local processes with a batch system's states and cancel semantics) and its launcher, the
 * in-process transport (every role in one process), and the job simulators (faithful stand-ins for a scheduler's
 * commands, e.g. HPC Pack's `job`).
 * @example
 * ```ts
 * import { createCluster } from 'tsparallel';
 * await using cluster = await createCluster({ n: 2, engines: { launcher: 'in-process' } });
 * ```
 * @module tsparallel/testing
 */
export { InProcessScheduler, type InProcessSchedulerOptions, type InProcessJobExtra } from '../launchers/in-process/scheduler.js';
export { InProcessLauncher, inProcessLauncher, inProcessLauncherOptions, type InProcessLauncherOptions } from '../launchers/in-process/launcher.js';
export { InProcessTransport } from '../transport/in-process.js';
export { hpcJobSimulatorCommand, hpcTaskSimulatorCommand, batchSimulatorCommand, type BatchSimulatorKind } from './simulators.js';
