/**
 * The `Launcher` contract and launcher plugins: how the parts of a cluster (the controller, a set of engines) are
 * started, watched and stopped.
 * @module
 */
import type { DependencyContainer } from 'tsyringe';
import type { ZodType } from 'zod';
import { ConfigError, LauncherError } from './errors.js';
import type { JobState } from './scheduler.js';
import { closestMatch } from './suggest.js';
import { token } from './tokens.js';

/** Which part of a cluster a launcher starts. */
export type LauncherRole = 'controller' | 'engines';

/** Where a launcher is in its life: `idle` → `starting` → `running` → `stopped`. */
export type LauncherState = 'idle' | 'starting' | 'running' | 'stopped';

/** How one process or job started by a launcher ended. */
export interface ExitInfo {
  /** The process id or job id that ended. */
  id: string;
  /** Its exit code, or `null` when killed by a signal or unknown. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: string | null;
  /** The last lines of its standard error, when the launcher could collect them. */
  stderrTail?: string;
}

/**
 * A batch job as the launcher that submitted it last saw it: the scheduler's state, or `unknown` while the
 * scheduler's status command fails (a busy head node: not read as an end).
 */
export interface WatchedJob {
  /** The job id the scheduler gave. */
  id: string;
  /** Its state. */
  state: JobState | 'unknown';
  /** The scheduler's own word for it (`Q`, `PEND`, `Running`, …); `submitted` until the first status answer. */
  rawState?: string;
  /** When `state` or `rawState` last changed (ms since the epoch, on the launcher's host). */
  since: number;
  /** Why the state is `unknown` (the status command's error), or how the job ended, when the scheduler said. */
  message?: string;
}

/**
 * Everything a launcher needs to start its part. Built by the cluster for each launcher.
 *
 * The command that starts a role is `[...program, ...args]`: `program` is how this installation starts it
 * (`node …/tscontroller.js`), which a batch launcher may replace with its own (`engineCommand` in config);
 * `args` are the role's arguments, which every launcher passes unchanged.
 */
export interface LauncherContext {
  /** What to start. */
  role: LauncherRole;
  /** How many processes to start: N for `engines`, 1 for `controller`. */
  n: number;
  /** The cluster's id (may be empty: the profile's default cluster). */
  clusterId: string;
  /** The profile directory (holds `security/`, `log/`, `pid/`). Job files are written here. */
  profileDir: string;
  /** How this installation starts the role's program, e.g. `[process.execPath, '/…/dist/src/cli/tsengine.js']`. */
  program: readonly string[];
  /** The role's arguments, e.g. `['--connection-file', '/…/security/tsparallel-engine.json']`. */
  args: readonly string[];
  /** Environment variables the role needs (added to the launcher's own environment). */
  env: Readonly<Record<string, string>>;
  /** The cluster's DI container: resolve a {@link Scheduler} or a {@link RoleRunner} from it. */
  container: DependencyContainer;
  /**
   * Whether what the launcher starts must outlive the starting program (`tscluster start --daemonize`, or
   * `createCluster({ detached: true })`). A local launcher then starts its processes in their own process group and
   * does not hold this program open; a batch launcher's jobs outlive it anyway. Default false.
   */
  detached?: boolean;
  /**
   * For an engine set: how to split it into batch jobs (`engines.jobs` or `engines.enginesPerJob` in config). Only a
   * launcher whose plugin says {@link LauncherPlugin.splitsEngineSets} gets it; absent: one job (or no jobs at all).
   */
  jobSplit?: EngineJobSplit;
}

/** How an engine set is split into batch jobs; at most one of the two is set (config refuses both). */
export interface EngineJobSplit {
  /** Split each engine set into this many jobs, as even as can be. */
  jobs?: number;
  /** Split each engine set into jobs of at most this many engines. */
  enginesPerJob?: number;
}

/**
 * Starts and stops one part of a cluster: the controller, or a set of N engines.
 *
 * `start()` resolves once the processes or jobs are started (not once engines registered: the cluster waits for
 * that); it throws {@link LauncherError} (or {@link SchedulerError}) when they cannot be started. `stop()` ends
 * everything the launcher started (SIGTERM, then SIGKILL after `graceMs`; or cancels batch jobs); stopping twice
 * is harmless.
 */
export interface Launcher {
  /** The launcher's registered name (`local`, `windows-hpc`, …). */
  readonly name: string;
  /** Its state. */
  readonly state: LauncherState;
  /** Process ids of the local processes it started (empty for jobs on other hosts). */
  readonly pids: readonly number[];
  /** Ids of batch jobs it submitted (empty for local processes). */
  readonly jobIds: readonly string[];
  /**
   * Its batch jobs as last seen (absent for launchers of processes). A batch launcher watches each job with the
   * scheduler's status command; see {@link Launcher.onJobChange}.
   */
  readonly watchedJobs?: readonly WatchedJob[];
  /**
   * Add a handler called each time one of its batch jobs changes state: submitted, queued → running, ended, or
   * `unknown` while the status command fails. Returns the function that removes it. Absent for launchers of
   * processes. The cluster reports these changes to the controller, whose statistics (the dashboard, `/metrics`,
   * `tscluster list`) carry them.
   */
  onJobChange?(handler: (job: WatchedJob) => void): () => void;
  /** Start the part. */
  start(options?: { signal?: AbortSignal }): Promise<void>;
  /** Stop the part and wait until everything it started has ended. */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Send a signal to every process it started (no-op for batch jobs). */
  signal(signal: NodeJS.Signals): Promise<void>;
  /**
   * Add a handler called once for every process or job that ends (expectedly or not). Returns the function that
   * removes it.
   */
  onExit(handler: (info: ExitInfo) => void): () => void;
  /**
   * Control of one engine of the set, when the launcher can address one (`local`, `mpi`, `ssh`). Absent when it
   * cannot (a batch job holds all its engines): the cluster's `stopEngine`, `signalEngine` and `restartEngine` then
   * fail with a LauncherError saying so.
   */
  readonly engineControl?: EngineControl;
}

/** One engine as it reported itself when it registered: what a launcher needs to find its process. */
export interface EngineRef {
  /** The engine's id. */
  id: number;
  /** Its process id, on its host. */
  pid: number;
  /** Its host's name, as the engine reported it. */
  hostname: string;
}

/**
 * Per-engine control, offered by a launcher whose processes can be addressed one by one (see
 * {@link Launcher.engineControl}).
 */
export interface EngineControl {
  /** Whether this engine is one of the processes the launcher started. */
  owns(engine: EngineRef): boolean;
  /** Send a signal to the engine's process. @throws LauncherError when it cannot be reached. */
  signal(engine: EngineRef, signal: NodeJS.Signals): Promise<void>;
  /**
   * Stop the engine's process (SIGTERM, then SIGKILL after `graceMs`) and resolve once it has ended.
   * @throws LauncherError when it cannot be reached.
   */
  stop(engine: EngineRef, options?: { graceMs?: number }): Promise<void>;
  /**
   * Start one engine like the others of the set (same host for ssh), asking the controller for `engine.id`
   * (`tsengine --engine-id`). Resolves once it is started, not registered.
   */
  startReplacement(engine: EngineRef): Promise<void>;
}

/**
 * A launcher plugin: a named factory with a schema for its options (the object under `launchers[name]` in config).
 * Write one with {@link defineLauncher}.
 */
export interface LauncherPlugin<Options = unknown> {
  /** The name config uses to pick it (`controller.launcher`, `engines.launcher`). */
  readonly name: string;
  /** One line on what it does (shown by the CLI). */
  readonly description?: string;
  /**
   * A zod schema for its options; the parsed value is passed to `create`. Make objects with `z.strictObject` (or
   * extend `batchLauncherOptions`), so a misspelled option is an error naming the key meant rather than dropped.
   */
  readonly options?: ZodType<Options>;
  /**
   * Whether it places roles on other hosts (batch schedulers, ssh, mpiexec). Then the controller listens on every
   * interface and advertises an address others can reach, and engines get their connection info through their
   * environment (`TSPARALLEL_CONNECTION_INFO`) instead of a file path. Default false (this host: loopback).
   */
  readonly placesRemotely?: boolean;
  /**
   * Whether it can split an engine set into several batch jobs, each submitted, watched and cancelled on its own
   * (it reads {@link LauncherContext.jobSplit}). The cluster refuses `engines.jobs` / `engines.enginesPerJob` for a
   * launcher without it. Default false.
   */
  readonly splitsEngineSets?: boolean;
  /** Make a launcher for one part of a cluster. */
  create(context: LauncherContext, options: Options): Launcher;
}

/**
 * Declare a launcher plugin with types. A plugin file or package default-exports one, or an array of them.
 * @example
 * ```ts
 * import { defineLauncher } from 'tsparallel';
 * import { z } from 'zod';
 * export default defineLauncher({
 *   name: 'my-batch',
 *   options: z.strictObject({ queue: z.string() }),
 *   create(ctx, opts) { return new MyBatchLauncher(ctx, opts); },
 * });
 * ```
 */
export function defineLauncher<Options>(plugin: LauncherPlugin<Options>): LauncherPlugin<Options> {
  return plugin;
}

/** The launcher plugins a container knows, by name. */
export class LauncherRegistry {
  readonly #plugins = new Map<string, LauncherPlugin<any>>();

  /** Add (or replace) a plugin under its name. */
  register(plugin: LauncherPlugin<any>): this {
    this.#plugins.set(plugin.name, plugin);
    return this;
  }

  /** The names of every registered launcher. */
  names(): string[] {
    return [...this.#plugins.keys()].sort();
  }

  /**
   * Check that each name (the keys of `launchers` in config) is a registered launcher's, so options for a misspelled
   * launcher (`launchers.lokal`) are an error rather than silently unused. Check once every plugin is registered.
   * @throws ConfigError naming each unknown name and the closest registered one, and listing the registered ones.
   */
  checkConfiguredNames(names: Iterable<string>): void {
    const known = this.names();
    const problems = [...names]
      .filter((name) => !this.#plugins.has(name))
      .map((name) => {
        const meant = closestMatch(name, known);
        return `launchers.${name}: no launcher '${name}' is registered${meant ? ` (did you mean '${meant}'?)` : ''}`;
      });
    if (problems.length) {
      throw new ConfigError(
        `${problems.join('; ')}; known launchers: ${known.join(', ')} (a plugin package or file listed in 'plugins' can add more)`,
      );
    }
  }

  /**
   * The plugin with this name.
   * @throws ConfigError naming the known launchers when there is none.
   */
  get(name: string): LauncherPlugin<any> {
    const plugin = this.#plugins.get(name);
    if (!plugin) {
      const meant = closestMatch(name, this.names());
      throw new ConfigError(
        `unknown launcher '${name}'${meant ? ` (did you mean '${meant}'?)` : ''}; known launchers: ${this.names().join(', ')} ` +
          `(a plugin package or file listed in 'plugins' can add more)`,
      );
    }
    return plugin;
  }

  /**
   * Make a launcher: validate `rawOptions` against the plugin's schema, then call its `create`.
   * @throws ConfigError naming the option path and the problem when the options are wrong.
   */
  create(name: string, context: LauncherContext, rawOptions: unknown = {}): Launcher {
    const plugin = this.get(name);
    let options: unknown = rawOptions;
    if (plugin.options) {
      const parsed = plugin.options.safeParse(rawOptions ?? {});
      if (!parsed.success) {
        const schema = plugin.options;
        const problems = parsed.error.issues.flatMap((issue) => describeIssue(name, schema, issue)).join('; ');
        throw new ConfigError(`bad options for launcher '${name}': ${problems}`);
      }
      options = parsed.data;
    }
    const launcher = plugin.create(context, options) as Partial<Launcher> | undefined;
    // A plugin is user code: check what it made before the cluster calls into it (else `onExit is not a function`).
    const missing = (['start', 'stop', 'signal', 'onExit'] as const).filter((m) => typeof launcher?.[m] !== 'function');
    if (missing.length) {
      throw new LauncherError(
        `launcher plugin '${name}': create() returned ${launcher === null || typeof launcher !== 'object' ? String(launcher) : 'an object'} ` +
          `without ${missing.join(', ')}: it must return a Launcher (start, stop, signal, onExit, name, state, pids, jobIds); ` +
          'see docs/guides/launcher-plugins.md',
      );
    }
    return launcher as Launcher;
  }
}

/** What {@link describeIssue} reads of a zod issue (of zod 4 or of the zod 3 a plugin may bring). */
interface OptionIssue {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly keys?: readonly string[];
}

/**
 * One issue of a launcher's options as `launchers.<name>.<path>: <problem>`. An unknown key gets one problem of its
 * own, with the key of that object it most likely meant, else the keys there are.
 */
function describeIssue(launcher: string, schema: ZodType, issue: OptionIssue): string[] {
  const at = `launchers.${launcher}${issue.path.length ? '.' + issue.path.join('.') : ''}`;
  if (issue.code !== 'unrecognized_keys' || !issue.keys) return [`${at}: ${issue.message}`];
  const known = objectKeysAt(schema, issue.path);
  return issue.keys.map((key) => {
    const meant = closestMatch(key, known);
    const hint = meant ? ` (did you mean '${meant}'?)` : known.length ? ` (known keys: ${known.join(', ')})` : '';
    return `${at}: unknown key '${key}'${hint}`;
  });
}

/** The parts of a zod 4 schema's definition (`schema._zod.def`, zod's introspection surface) the walk reads. */
interface SchemaDef {
  type: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  in?: unknown;
  valueType?: unknown;
  element?: unknown;
  options?: readonly unknown[];
}

/**
 * The keys of the object `schema` expects at `path`: through objects' shapes, array elements, record values,
 * every option of a union, the input of a transform and wrappers such as `.optional()` and `.default()`. Empty
 * where the schema at the path is no object it can read (a lazy schema, a schema of zod 3).
 */
function objectKeysAt(schema: unknown, path: readonly PropertyKey[]): string[] {
  const def = (schema as { _zod?: { def?: SchemaDef } } | undefined)?._zod?.def;
  if (!def) return [];
  const [head, ...rest] = path;
  switch (def.type) {
    case 'object':
      if (head === undefined) return Object.keys(def.shape ?? {});
      return typeof head === 'string' ? objectKeysAt(def.shape?.[head], rest) : [];
    case 'record':
      return head === undefined ? [] : objectKeysAt(def.valueType, rest);
    case 'array':
      return head === undefined ? [] : objectKeysAt(def.element, rest);
    case 'union':
      return [...new Set((def.options ?? []).flatMap((option) => objectKeysAt(option, path)))];
    case 'pipe':
      return objectKeysAt(def.in, path);
    default:
      return objectKeysAt(def.innerType, path);
  }
}

/** DI token for the container's {@link LauncherRegistry}. */
export const LAUNCHER_REGISTRY = token<LauncherRegistry>('tsparallel.LauncherRegistry');

/** A role running inside this process (started by a {@link RoleRunner}). */
export interface RunningRole {
  /** Resolves with the exit code when the role ends by itself or is stopped. */
  readonly exited: Promise<number>;
  /** Stop it (as SIGTERM would stop its process). */
  stop(): Promise<void>;
}

/**
 * Runs a controller or an engine inside the current process, from the same arguments its command line takes.
 * The in-process launcher uses it; the cluster's composition root registers the implementation, so launchers
 * need not import the roles.
 */
export interface RoleRunner {
  /** Start one controller (`role: 'controller'`) or one engine (`role: 'engines'`) from its command-line arguments. */
  run(role: LauncherRole, args: readonly string[]): Promise<RunningRole>;
}

/** DI token for the {@link RoleRunner}. */
export const ROLE_RUNNER = token<RoleRunner>('tsparallel.RoleRunner');
