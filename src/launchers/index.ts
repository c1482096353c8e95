/**
 * `tsparallel/launchers`: what a launcher author (and a host application that replaces an implementation) uses.
 * The {@link Launcher} and {@link Scheduler} contracts, {@link defineLauncher}, the batch base
 * ({@link BatchLauncher}, {@link batchLauncherOptions} to `.extend()`, {@link fromBatchOptions}), the job-script
 * batch base ({@link defineBatchLauncher} over a {@link BatchSystem}) with the built-in `slurm`, `pbs`, `sge`, `lsf`
 * and `htcondor` launchers and their script writers and parsers, and the typed DI tokens with their helpers.
 * @example
 * ```ts
 * import { BatchLauncher, batchLauncherOptions, defineLauncher, fromBatchOptions } from 'tsparallel/launchers';
 * import { z } from 'zod';
 * const options = batchLauncherOptions.extend({ queue: z.string().min(1).optional() });
 * export default defineLauncher({
 *   name: 'my-batch',
 *   options,
 *   create: (ctx, opts) => new BatchLauncher(ctx, { ...fromBatchOptions(ctx, opts), name: 'my-batch', scheduler: new MyScheduler(opts) }),
 * });
 * ```
 * @module tsparallel/launchers
 */
export {
  defineLauncher, LauncherRegistry, LAUNCHER_REGISTRY, ROLE_RUNNER,
  type Launcher, type LauncherContext, type EngineJobSplit, type LauncherPlugin, type LauncherRole, type LauncherState, type ExitInfo, type WatchedJob,
  type RoleRunner, type RunningRole, type EngineControl, type EngineRef,
} from '../core/launcher.js';
export { SCHEDULER, type Scheduler, type JobDescription, type JobTask, type JobState, type JobStatus } from '../core/scheduler.js';
export {
  TRANSPORT, TRANSPORT_FACTORY,
  type Transport, type TransportFactory, type Listener, type Connection, type Heart, type RoutedFrames,
  type DialOptions, type ListenOptions, type ProbeOptions, type CurveKeyPair,
} from '../core/transport.js';
export { token, get, getOptional, provide, provideDefault, type Token } from '../core/tokens.js';
export { BatchLauncher, isFinalJobState, type BatchLauncherOptions, type DetailedJobStatus } from './batch/launcher.js';
export {
  batchLauncherOptions, fromBatchOptions, argvOption, toArgv, defaultJobName, joinLike, type BatchOptions,
} from './batch/options.js';
export {
  CommandScheduler, runSchedulerCommand, outputTail,
  type SchedulerCommands, type RunCommandOptions, type CommandResult, type ParsedJobState,
} from './batch/command-scheduler.js';
export {
  scriptLauncherOptions, splitEngineSet, ScriptBatchLauncher, defineBatchLauncher, type ScriptLauncherOptions,
} from './batch/script-launcher.js';
export {
  ScriptScheduler, runCommand, outputFileTail, redactKeys, type BatchSystem, type SubmitCommand, type ScriptJobExtra,
} from './batch/script-scheduler.js';
export {
  matchJobId, combineStates, parseKeyValueBlock, renderJobScript, defaultOutputPath,
  type ScriptRole, type JobScriptInput, type ObservedJobState, type ObservedJobStatus, type CommandRunner,
  type CommandResult as ScriptCommandResult, type ParsedJobState as ObservedParsedJobState,
} from './batch/scheduler-kit.js';
export {
  TEMPLATE_VARIABLES, renderTemplate, parseWalltime, formatWalltime, shellQuote, shellCommand, shellExports,
  templateLiteral, walltimeOption, type TemplateVariable, type TemplateValues, type WalltimeFormat,
} from './batch/template.js';
export * from './slurm/index.js';
export * from './pbs/index.js';
export * from './sge/index.js';
export * from './lsf/index.js';
export * from './htcondor/index.js';
export { LocalLauncher, localLauncher, localOptions, type LocalOptions } from './local/launcher.js';
export { MpiLauncher, mpiLauncher, mpiOptions, mpiErrorBlocks, detectMpiFlavor, forwardEnvArgs, type MpiOptions, type MpiFlavor } from './mpi/launcher.js';
export { SshLauncher, sshLauncher, sshOptions, sshHostOptions, type SshOptions, type SshHostOptions, type SshPlacement, type SshRemoteProcess } from './ssh/launcher.js';
export { builtinLaunchers } from './builtin.js';
export { ZeroMqTransport } from '../transport/zeromq.js';
export { ConfigError, LauncherError, SchedulerError, TimeoutError } from '../core/errors.js';
