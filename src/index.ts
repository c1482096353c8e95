/**
 * tsparallel: interactive parallel computing for TypeScript, in IPython's parallel architecture. A cluster is one
 * controller and N engine processes; a {@link Client} in your program drives them through views.
 *
 * ```ts
 * import { createCluster, range } from 'tsparallel';
 * await using cluster = await createCluster({ n: 4 });
 * const client = await cluster.connect();
 * await client.view().map((x: number) => x ** 10, range(15));
 * ```
 *
 * Importing this module registers the default implementations (ZeroMQ transport, built-in launchers) in
 * tsyringe's global container; register your own under the same tokens to replace them.
 * @module
 */
import 'reflect-metadata';
import { container } from 'tsyringe';
import { registerDefaults } from './cluster/defaults.js';

registerDefaults(container);

export { createCluster, Cluster, type ClusterOptions, type ClusterFile, type LauncherSummary } from './cluster/cluster.js';
export { RunningCluster, findRunningCluster, stopRunningCluster, readClusterFile, type FoundCluster, type StopStep } from './cluster/running.js';
export { registerDefaults, defaultTransports, InProcessRoleRunner } from './cluster/defaults.js';
export { Client, type ConnectOptions, type EngineInfo, type EngineChange, type EngineEvent } from './client/client.js';
export { DirectView, type PerEngine, type RemoteFunction, type ViewHost } from './client/direct-view.js';
export { AsyncResult, Part, type ResultMetadata, type Progress } from './client/async-result.js';
export { LoadBalancedView, type TaskOptions, type MapOptions, type Dependency, type BalancedHost } from './client/load-balanced-view.js';
export * from './core/tasks.js';
export { TASK_POLICIES, type Candidate, type TaskPolicy } from './controller/policies/index.js';
export { TaskDispatcher, type DispatcherIO, type DispatcherLimits, type AbortOutcome, type DirectTaskReport } from './controller/task-dispatcher.js';
export type { Sequence } from './client/partition.js';
export { Controller, type ControllerOptions, type EngineRecord } from './controller/controller.js';
export { Engine, type EngineOptions, type ErrorInfo } from './engine/engine.js';
export { GlobalNamespace, IsolatedNamespace, type Namespace, type Captured } from './engine/namespace.js';
export { ZeroMqTransport } from './transport/zeromq.js';
export { InProcessTransport } from './transport/in-process.js';
export { LocalLauncher, localLauncher, localOptions, type LocalOptions } from './launchers/local.js';
export { builtinLaunchers } from './launchers/builtin.js';
export { BatchLauncher, isFinalJobState, type BatchLauncherOptions, type DetailedJobStatus } from './launchers/batch.js';
export {
  WindowsHpcScheduler, WindowsHpcLauncher, windowsHpcLauncher, windowsHpcLauncherOptions, parseSubmitOutput, parseJobViewState,
  hpcStateToJobState, CONTROLLER_JOB_FILE, ENGINE_SET_JOB_FILE,
  type WindowsHpcSchedulerOptions, type WindowsHpcJobExtra, type WindowsHpcLauncherInput, type WindowsHpcLauncherOptions, type CoreRange,
} from './launchers/windows-hpc.js';
export { InProcessScheduler, InProcessLauncher, inProcessLauncher, inProcessLauncherOptions, type InProcessJobExtra, type InProcessSchedulerOptions, type InProcessLauncherOptions } from './launchers/in-process.js';
export {
  buildJobXml, parseJobXml, hpcJobSettings, hpcJobSettingsSchema, HPC_JOB_NAMESPACE, HPC_JOB_PRIORITIES, HPC_UNIT_TYPES, HPC_JOB_STATES,
  type HpcJobSettings, type HpcJobPriority, type HpcUnitType, type HpcJobState, type ParsedHpcJob,
} from './launchers/hpc-job-xml.js';
export { quoteWindowsArg, quoteWindowsCommandLine, parseWindowsCommandLine } from './launchers/windows-cmdline.js';
export { loadLauncherPlugins, type LoadLauncherPluginsOptions } from './core/plugins.js';
export * from './core/errors.js';
export * from './core/launcher.js';
export * from './core/scheduler.js';
export * from './core/transport.js';
export * from './core/config.js';
export { loadConfig, leafPaths, type LoadConfigOptions, type LoadedConfig, type ConfigSource, type DefaultSource, type FileSource, type EnvSource, type OverrideSource } from './core/config-load.js';
export { createProfile, listProfiles, locateProfile, type CreateProfileOptions, type CreatedProfile, type ProfileLookupOptions } from './core/profile-create.js';
export * from './core/profile.js';
export * from './core/connection.js';
export { fromModule, isModuleFunction, encodeFunction, type FunctionSpec, type ModuleFunction, type Remote } from './core/functions.js';
export { Session, DELIMITER, PROTOCOL_VERSION, type Message, type MessageHeader, type DropCounts } from './core/protocol.js';
export { serialize, deserialize, OUT_OF_BAND_BYTES } from './core/serialize.js';
export { range } from './core/range.js';
