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
 * This is the application's entry point. Launcher authors import `tsparallel/launchers`; tests of code that uses a
 * cluster import `tsparallel/testing`; the Windows HPC helpers are in `tsparallel/windows-hpc`.
 *
 * Importing this module registers the default implementations (ZeroMQ transport, built-in launchers) in
 * tsyringe's global container; register your own under the same tokens (see `tsparallel/launchers`) to replace them.
 * @document ../docs/guides/getting-started.md
 * @document ../docs/guides/configuration.md
 * @document ../docs/guides/launcher-plugins.md
 * @document ../docs/guides/windows-hpc.md
 * @document ../docs/guides/batch-schedulers.md
 * @document ../docs/guides/mpi-ssh.md
 * @document ../docs/guides/dashboard.md
 * @document ../docs/guides/troubleshooting.md
 * @document ../docs/guides/coming-from-ipyparallel.md
 * @module tsparallel
 */
import 'reflect-metadata';
import { container } from 'tsyringe';
import { registerDefaults } from './cluster/defaults.js';

registerDefaults(container);

export { createCluster, Cluster, type ClusterOptions, type ClusterFile, type LauncherSummary, type SupervisionEvent, type RestoreEvent, type RestoreSummary } from './cluster/cluster.js';
export type { RunningCluster, StopStep } from './cluster/running.js';
export { Client, type ConnectOptions, type EngineInfo, type EngineChange, type EngineEvent, type ControllerEvent } from './client/client.js';
export type { ConnectionInfo, ConnectionRole } from './wire/connection.js';
export type { ProfilePaths } from './config/profile.js';
export { DirectView, type PerEngine, type RemoteFunction } from './client/direct-view.js';
export { LoadBalancedView, type TaskOptions, type MapOptions, type Dependency } from './client/load-balanced-view.js';
export { AsyncResult, type Part, type ResultMetadata, type Progress } from './client/async-result.js';
export type { Sequence } from './client/partition.js';
export { range } from './client/range.js';
export { fromModule, type ModuleFunction } from './wire/functions.js';
export type { TaskRecord, TaskState, TaskFlags } from './core/tasks.js';
export { TASK_STATES } from './core/tasks.js';
export {
  defineConfig, type UserConfig, type ClusterConfig, type ControllerConfig, type DashboardConfig, type EnginesConfig, type RestartPolicy, type SecurityConfig, type TaskPolicyName,
} from './config/index.js';
export {
  TsParallelError, ConfigError, LauncherError, SchedulerError, TransportError, TimeoutError, RemoteError, CompositeError,
  EngineDiedError, SerializationError, TaskAbortedError, DependencyError, ProtocolError, ControllerLostError,
  type TsParallelErrorOptions, type CommandEvidence, type RemoteErrorInfo,
} from './core/errors.js';
