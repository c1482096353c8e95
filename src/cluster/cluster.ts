/**
 * `Cluster` and `createCluster()`: start a controller and N engines with the configured launchers, connect clients,
 * and stop everything.
 * @module
 */
import 'reflect-metadata';
import debug from 'debug';
import { stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import { Client, type ConnectOptions, type EngineChange } from '../client/client.js';
import { addListener } from '../util/listeners.js';
import type { ClusterConfig, UserConfig } from '../config/index.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { CONFIG_FIELD_PATHS, describeValue } from '../config/schema.js';
import { closestMatch } from '../core/suggest.js';
import { loadLauncherPlugins } from './plugins.js';
import { isControllerAlive, readConnectionFile, thisHost } from '../wire/connection.js';
import { clusterFilePaths, filesOfCluster } from '../util/cluster-files.js';
import { ConfigError, LauncherError, TimeoutError } from '../core/errors.js';
import { LAUNCHER_REGISTRY, LauncherRegistry, type EngineControl, type EngineJobSplit, type EngineRef, type ExitInfo, type Launcher } from '../core/launcher.js';
import type { JobStatus } from '../core/scheduler.js';
import { describeProfile, ensureProfileDirs, profileFlag, profileOption, type ProfilePaths } from '../config/profile.js';
import { get, getOptional, provide } from '../core/tokens.js';
import { TRANSPORT, TRANSPORT_FACTORY, type Transport } from '../core/transport.js';
import { toControllerArgs } from '../controller/main.js';
import { toEngineArgs } from '../engine/main.js';
import { registerDefaults, roleProgram } from './defaults.js';
import { describeId, discardRestorable, findRestorable, journalClusterIds, findRunningCluster, looksLikeOurs, signalPids, waitForExit, type RestorableCluster, type RunningCluster } from './running.js';
import { isProcessAlive } from '../util/processes.js';
import { OwnerSession } from './lease.js';
import { JobStateReporter, type ControllerTarget } from './job-report.js';
import { controllerBindIp, crossHostProblems, engineConnection, placementOf, type Placement } from './placement.js';

const log = debug('tsparallel:cluster');

/** Options of {@link createCluster}: any config key (they win over config files), plus where and how. */
export interface ClusterOptions extends UserConfig {
  /** The profile (default `default`): its config file is read, its `security/` gets the connection files. */
  profile?: string;
  /** The profile directory, instead of a profile name. */
  profileDir?: string;
  /** The project directory searched for a config file (default: the current directory; `null`: none). */
  projectDir?: string | null;
  /** The DI container to take implementations from (default: tsyringe's global container). */
  container?: DependencyContainer;
  /** Leave the processes running when this program exits (as `tscluster start --daemonize`). */
  detached?: boolean;
  /**
   * What to do with the journal of a controller of this cluster that died (see `controller.journal`):
   * - unset (the default): when the profile holds one, and neither that controller nor the process that started its
   *   cluster is alive, take the cluster over: a controller with `--restore` (its predecessor's ports, keys and
   *   journal) takes back the engines that come back, and new engines start only when `n` is given. `onRestore`
   *   and {@link Cluster.restored} say what was taken over. Otherwise start as usual.
   * - `true` (`tscluster start --restore`): take it over, even when the process that started it still runs; an error
   *   when there is nothing to restore.
   * - `false` (`tscluster start --no-restore`): start a fresh cluster; the dead controller's engines that still wait
   *   for it are stopped, and its journal is moved aside (`…-journal-<time>.discarded.jsonl`).
   *
   * A cluster that stopped cleanly leaves no journal, so it is never restored.
   */
  restore?: boolean;
  /** Called when a journal is taken over (`restoring`, then `restored`) or given up (`discarded`). */
  onRestore?: (event: RestoreEvent) => void;
  /** Called with progress lines while the cluster starts (the CLI prints them). */
  onProgress?: (event: { registered: number; total: number; message?: string }) => void;
  /** Called with each problem of the setup found before starting (with its fix), e.g. a loopback address for remote engines. */
  onWarning?: (message: string) => void;
  /**
   * Called with the cluster as soon as it exists, before its processes start: a caller that is interrupted while the
   * cluster starts (Ctrl-C during a slow batch submission) can `stop()` it, which stops what was already launched.
   */
  onStarting?: (cluster: Cluster) => void;
}

/** The options of {@link createCluster} that are not configuration (those are checked by the config schema), by the type they take. */
const CLUSTER_OPTION_TYPES: Readonly<Record<string, string>> = {
  profile: 'string', profileDir: 'string', projectDir: 'string or null', container: 'object', detached: 'boolean', restore: 'boolean',
  onRestore: 'function', onProgress: 'function', onWarning: 'function', onStarting: 'function',
};

/**
 * Refuse, before anything starts, a createCluster option that is neither a configuration key nor one of its own (with
 * the name meant, e.g. `profileDirr`), and an own option of the wrong type (`detached: 'yes'`). The configuration
 * keys' values are the config schema's to check.
 */
function checkClusterOptions(options: ClusterOptions): void {
  const configKeys = [...new Set(CONFIG_FIELD_PATHS.map((p) => p.split('.')[0]!))];
  const known = [...configKeys, ...Object.keys(CLUSTER_OPTION_TYPES)];
  for (const [key, value] of Object.entries(options)) {
    const type = CLUSTER_OPTION_TYPES[key];
    if (type === undefined) {
      if (configKeys.includes(key)) continue;
      const meant = closestMatch(key, known);
      throw new ConfigError(`createCluster(): unknown option '${key}'${meant ? ` (did you mean '${meant}'?)` : ''}; allowed: ${known.join(', ')}`);
    }
    if (value === undefined) continue;
    const ok = type === 'string or null' ? value === null || typeof value === 'string' : typeof value === type && value !== null;
    if (!ok) throw new ConfigError(`createCluster(): option '${key}' takes a ${type}, given ${describeValue(value)}`);
  }
}

/** What a running cluster records in the profile's `security/cluster[-ID].json`, for other processes to find it. */
export interface ClusterFile {
  /** The cluster's id. */
  clusterId: string;
  /** The profile directory. */
  profileDir: string;
  /** The process that started it (`tscluster start`, or the user's program). */
  pid: number;
  /** The host of that process (pids only mean something there). Absent in files of older versions. */
  hostname?: string;
  /** How many engines it was asked for. */
  n: number;
  /** When it started (ISO 8601). */
  created: string;
  /** The connection files. */
  connectionFiles: {
    /** The client connection file. */
    client: string;
    /** The engine connection file. */
    engine: string;
  };
  /** Each launcher's name, pids and job ids. */
  launchers: {
    /** The controller's launcher. */
    controller: LauncherSummary;
    /** The engine launchers, one per batch of engines started. */
    engines: LauncherSummary[];
  };
}

/**
 * What engine supervision did (see `engines.restart`): `replaced` when an engine that died was replaced by a fresh
 * one (`replacement`), `gave_up` when it stays down because `max` replacements were made within `windowMs` (or the
 * replacement could not start).
 */
export interface SupervisionEvent {
  /** What happened. */
  type: 'replaced' | 'gave_up';
  /** The engine that died. */
  id: number;
  /** Why it died, as the controller said. */
  reason: string;
  /** For `replaced`: the new engine's id. */
  replacement?: number;
  /** For `gave_up`: why there is no replacement, with what to do. */
  message?: string;
}

/** What a restore takes over: the state of the controller that died, as its journal tells it. */
export interface RestoreSummary {
  /** The controller that died. */
  controller: {
    /** Its pid. */
    pid: number;
    /** Its host. */
    hostname: string;
  };
  /** The engines the journal names (registered when the controller died), by id. */
  expected: number[];
  /** Those that came back with their ids (re-adopted), once the restore is done. */
  adopted: number[];
  /** Unfinished tasks that waited for an engine: queued again. */
  queued: number;
  /**
   * Unfinished tasks that ran on an engine that came back: it returns their results (in a `restoring` event, before
   * any engine is back: every task that was running).
   */
  running: number;
  /**
   * Unfinished tasks that ran on an engine that did not come back: run again elsewhere, as retries (those without
   * retries left fail with `EngineDiedError`).
   */
  rerun: number;
}

/**
 * What happened to the journal of a controller that died (see {@link ClusterOptions.restore}): `restoring` before
 * the new controller starts (`adopted` still empty), `restored` once its engines had their chance to come back,
 * `discarded` when a fresh cluster was started instead (with where the journal went, and what was stopped).
 */
export type RestoreEvent =
  | {
      /** Which step. */
      type: 'restoring' | 'restored';
      /** The cluster's id. */
      clusterId: string;
      /** What is (`restoring`) or was (`restored`) taken over. */
      summary: RestoreSummary;
    }
  | {
      /** The journal was given up. */
      type: 'discarded';
      /** The cluster's id. */
      clusterId: string;
      /** Why (a fresh start was asked for, or the journal cannot be restored, and why). */
      reason: string;
      /** Where the journal was moved. */
      archived: string;
      /** The pids of the engines that waited for the dead controller, stopped. */
      stopped: number[];
    };

/** A launcher as recorded in a {@link ClusterFile}. */
export interface LauncherSummary {
  /** Its name. */
  name: string;
  /** Local pids. */
  pids: number[];
  /** Batch job ids. */
  jobIds: string[];
  /** Jobs or processes that ended while the cluster ran (a batch job that ended or was cancelled from outside). */
  ended?: ExitInfo[];
}

/**
 * A running cluster: one controller and its engines, started by launchers. Stop it with {@link Cluster.stop} or
 * `await using`.
 */
export class Cluster {
  readonly #clients = new Set<Client>();
  readonly #engineLaunchers: Launcher[] = [];
  /** What ended by itself while the cluster ran, per launcher. */
  readonly #ended = new Map<Launcher, ExitInfo[]>();
  #controllerLauncher?: Launcher;
  #stopped = false;
  /** Aborted by stop(), so a start or addEngines() in progress stops waiting at once. */
  readonly #stopping = new AbortController();
  #monitor?: Client;
  /** When the cluster file was first written; later rewrites (after `addEngines`) keep it. */
  #created?: string;
  /** The owner's session with the controller (none for detached clusters). */
  #ownerSession?: OwnerSession;
  /** Whether `controller.ip` was configured (not the default), and where the launchers place roles. */
  #ipConfigured = false;
  #placement: Placement = { controllerRemote: false, enginesRemote: false };
  /** Engines stopped with stopEngine(), which restartEngine() can start again. */
  readonly #stoppedEngines = new Map<number, { engine: EngineRef; control: EngineControl }>();
  readonly #exitHandlers = new Set<(info: ExitInfo & { launcher: string }) => void>();
  /** When each supervised replacement was started (ms since epoch), for the `engines.restart` window. */
  readonly #restarts: number[] = [];
  /** Replacements run one after another, so each waits for its own engine. */
  #supervising: Promise<void> = Promise.resolve();
  readonly #supervisionListeners: ((event: SupervisionEvent) => void)[] = [];
  /** Reports the batch jobs' states to the controller, for the dashboard, `/metrics` and `tscluster list`. */
  readonly #jobReporter = new JobStateReporter();
  /** A restored cluster: what it took over (see {@link restored}), and the journal it took over. */
  #restored?: RestoreSummary;
  #previous?: RestorableCluster;

  private constructor(
    /** The merged configuration it runs with. */
    readonly config: ClusterConfig,
    /** The profile's paths. */
    readonly profile: ProfilePaths,
    /** The cluster's id within the profile. */
    readonly clusterId: string,
    private readonly container: DependencyContainer,
    private readonly options: ClusterOptions,
  ) {}

  /** The client connection file. */
  get clientConnectionFile(): string {
    return clusterFilePaths(this.profile, this.clusterId).clientConnectionFile;
  }
  /** The engine connection file. */
  get engineConnectionFile(): string {
    return clusterFilePaths(this.profile, this.clusterId).engineConnectionFile;
  }
  /** This cluster's file in `security/`. */
  get clusterFile(): string {
    return clusterFilePaths(this.profile, this.clusterId).clusterFile;
  }
  /** Pids of every local process the cluster started (controller first), and of the local engines it took over. */
  get pids(): number[] {
    return [...(this.#controllerLauncher?.pids ?? []), ...this.#engineLaunchers.flatMap((l) => l.pids), ...this.#adoptedHere().map((e) => e.pid)];
  }

  /** The engines on this host it took over from a controller that died (a restore), by their journal's pids. */
  #adoptedHere(): EngineRef[] {
    const adopted = new Set(this.#restored?.adopted ?? []);
    return (this.#previous?.journal.engines ?? []).filter((e) => adopted.has(e.id) && e.hostname === thisHost());
  }
  /**
   * For a cluster that took over from a controller that died (see {@link ClusterOptions.restore}): what it took
   * over. `undefined` for a cluster started afresh.
   */
  get restored(): RestoreSummary | undefined {
    return this.#restored;
  }
  /** Batch job ids the cluster submitted. */
  get jobIds(): string[] {
    return [...(this.#controllerLauncher?.jobIds ?? []), ...this.#engineLaunchers.flatMap((l) => l.jobIds)];
  }

  /**
   * Find a cluster that is already running (started by this or another process) from its cluster file's path, or
   * by profile and cluster id, to connect to it or stop it.
   * @example
   * ```ts
   * const running = await Cluster.fromFile({ profile: 'mycluster' });
   * const client = await running.connect();
   * await running.stop();
   * ```
   */
  static fromFile(target?: string | { profile?: string; profileDir?: string; clusterId?: string }): Promise<RunningCluster> {
    return findRunningCluster(target);
  }

  /** Start a cluster. Prefer {@link createCluster}. @internal */
  static async start(options: ClusterOptions = {}): Promise<Cluster> {
    checkClusterOptions(options);
    const { profile, profileDir, projectDir, container: parent, detached, onProgress, onStarting, onWarning, onRestore, restore: _restore, ...overrides } = options;
    const loaded = await loadConfig({ profile, profileDir, projectDir, overrides });
    const config = loaded.config;
    const paths = await ensureProfileDirs(loaded.profile);
    const container = registerDefaults((parent ?? globalContainer).createChildContainer());
    if (config.plugins.length) await loadConfiguredPlugins(container, config.plugins, pluginBaseDir(loaded, projectDir));
    // The registry this cluster uses (the host application's, the defaults, plus the configured plugins) decides.
    get(container, LAUNCHER_REGISTRY).checkConfiguredNames(Object.keys(config.launchers));
    const explicitId = overrides.clusterId !== undefined;
    const { restore, previous, running } = await restoreDecision(paths, config.clusterId, options);
    const clusterId = restore ? config.clusterId : await pickClusterId(paths, config.clusterId, explicitId, running);
    const cluster = new Cluster(config, paths, clusterId, container, options);
    cluster.#ipConfigured = loaded.sources['controller.ip']?.kind !== 'default';
    cluster.#placement = placementOf(config, container.resolve<LauncherRegistry>(LAUNCHER_REGISTRY));
    engineJobSplit(config, container.resolve<LauncherRegistry>(LAUNCHER_REGISTRY)); // refused before anything starts
    for (const problem of crossHostProblems(config, cluster.#placement, cluster.#ipConfigured)) {
      log('warning: %s', problem);
      onWarning?.(problem);
    }
    onStarting?.(cluster);
    try {
      if (restore && previous?.keys) onRestore?.({ type: 'restoring', clusterId, summary: restoreSummary(previous, undefined) });
      // A fresh cluster with a local controller and engines that read the connection file starts them together: the
      // engines load their modules while the controller starts, and wait for the file it writes once it listens
      // (bench/RESULTS.md, "Start-up"). A controller in a batch queue could keep them waiting past any bound.
      const alongside = !restore && config.n > 0 && !cluster.#placement.enginesRemote && config.controller.launcher === 'local';
      const controller = cluster.#startController(restore);
      const engines = alongside ? cluster.#addEngines(config.n, { alongside: controller }) : undefined;
      // Either may fail first; the other's failure is then the same one seen later (or moot): not unhandled.
      engines?.catch(() => {});
      await controller;
      await engines;
      // A restored cluster has its predecessor's engines; it starts more only when asked.
      if (restore) {
        cluster.#restored = await cluster.#waitForAdoption(previous);
        if (cluster.#restored) onRestore?.({ type: 'restored', clusterId, summary: cluster.#restored });
      }
      if (!alongside && config.n > 0 && (!restore || overrides.n !== undefined)) await cluster.addEngines(config.n);
      await cluster.#writeClusterFile();
      if (config.engines.restart.max > 0) await cluster.#supervise();
    } catch (err) {
      await cluster.stop();
      throw err;
    }
    return cluster;
  }

  /**
   * Connect a new client to this cluster (closed when the cluster stops).
   * @example `const client = await cluster.connect(); client.ids // [0, 1, 2, 3]`
   */
  async connect(options: Omit<ConnectOptions, 'connectionFile' | 'profile' | 'profileDir'> = {}): Promise<Client> {
    const client = await Client.connect({ container: this.container, transport: this.#transport(), ...options, connectionFile: this.clientConnectionFile });
    this.#clients.add(client);
    return client;
  }

  /**
   * Start `n` more engines with the configured engine launcher, and wait until they have registered.
   * @throws LauncherError when they exit before registering (with the last lines of their log).
   * @throws TimeoutError when they have not registered within `engines.startTimeoutMs`.
   * @throws ConfigError when `n` is not a positive whole number; LauncherError when the cluster was stopped.
   */
  async addEngines(n: number, options: { timeoutMs?: number } = {}): Promise<void> {
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`addEngines(n): n must be a positive whole number (e.g. addEngines(2)), got ${describeValue(n)}`);
    // Checked before the launcher runs: a stopped cluster has no controller for the engines to register with.
    if (this.#stopped) throw new LauncherError('this cluster was stopped: addEngines() cannot start engines for it; create a new one with createCluster()');
    await this.#addEngines(n, options);
  }

  /**
   * Call `listener` when engine supervision (`engines.restart`) replaces an engine that died, or gives up on one.
   * Clients (in any process) see a replacement as an engine change of type `registered` with `replaces` set. Returns
   * the function that removes the listener.
   * @example
   * ```ts
   * const off = cluster.onSupervision((e) => console.log(e.type, e.id, e.replacement ?? e.message));
   * ```
   */
  onSupervision(listener: (event: SupervisionEvent) => void): () => void {
    return addListener(this.#supervisionListeners, listener);
  }

  /** Watch for engines that die (not those stopped), and replace them within `engines.restart`. */
  async #supervise(): Promise<void> {
    const monitor = await this.#connectMonitor();
    monitor.onEngineChange((change) => {
      if (change.type !== 'unregistered' || this.#stopped || change.reason === 'it shut down') return;
      this.#supervising = this.#supervising.then(() => this.#replace(change)).catch((err: Error) => log('engine supervision failed: %s', err.message));
    });
  }

  async #replace(change: EngineChange): Promise<void> {
    if (this.#stopped) return;
    const { max, windowMs } = this.config.engines.restart;
    const reason = change.reason ?? 'unknown';
    const now = Date.now();
    while (this.#restarts.length && now - this.#restarts[0]! > windowMs) this.#restarts.shift();
    const emit = (event: SupervisionEvent) => {
      log('supervision: %o', event);
      [...this.#supervisionListeners].forEach((l) => l(event));
    };
    if (this.#restarts.length >= max) {
      return emit({
        type: 'gave_up', id: change.id, reason,
        message: `engine ${change.id} died (${reason}) and stays down: ${max} engine(s) were already replaced within the last ${windowMs} ms (engines.restart); ` +
          `find why engines die (their logs are in the profile's log/ folder), then add engines with addEngines() or \`tscluster engines -n N ${profileFlag(this.profile)}${this.clusterId ? ` --cluster-id ${this.clusterId}` : ''}\``,
      });
    }
    this.#restarts.push(now);
    const before = new Set(this.#monitor!.engines.keys());
    try {
      await this.#addEngines(1, { replaces: change.id });
    } catch (err) {
      if (this.#stopped) return;
      return emit({ type: 'gave_up', id: change.id, reason, message: `engine ${change.id} died (${reason}) and its replacement did not start: ${(err as Error).message}` });
    }
    if (this.#stopped) return;
    const replacement = [...this.#monitor!.engines.keys()].find((id) => !before.has(id));
    emit({ type: 'replaced', id: change.id, reason, replacement });
  }

  /**
   * Start `n` engines and wait until they registered. With `alongside` (the controller's start, still under way; a
   * fresh cluster whose engines read the connection file), the engines are started at once and wait for the file.
   */
  async #addEngines(n: number, options: { timeoutMs?: number; replaces?: number; alongside?: Promise<void> }): Promise<void> {
    const alongside = options.alongside;
    // Started alongside the controller, the engines are its first (it has none yet).
    const before = alongside ? 0 : (await this.#connectMonitor()).engines.size;
    const target = before + n;
    const connection = await engineConnection(this.#placement.enginesRemote, this.engineConnectionFile, () => readConnectionFile(this.engineConnectionFile));
    // The connection comes from engineConnection(); the rest of the engine command line from toEngineArgs().
    const waitForFileMs = alongside ? this.config.engines.startTimeoutMs : undefined;
    const args = [...connection.args, ...toEngineArgs({ connectionFile: '', graceMs: this.config.engines.graceMs, replaces: options.replaces, waitForFileMs }).slice(2)];
    const launcher = this.#launcher('engines', n, args, connection.env);
    launcher.onExit((info) => this.#exitHandlers.forEach((h) => h({ ...info, launcher: launcher.name })));
    const exits: ExitInfo[] = [];
    const allExited = new Promise<never>((_, reject) => {
      launcher.onExit((info) => {
        exits.push(info);
        // A local launcher reports each engine process; a batch launcher reports each job (which holds many).
        const expected = launcher.jobIds.length || n;
        if (exits.length >= expected && !this.#stopped) {
          const what = launcher.jobIds.length ? `the engine job${expected > 1 ? 's' : ''} (${launcher.jobIds.join(', ')}) ended` : `all ${n} engines exited`;
          reject(new LauncherError(`${what} before the engines registered; the last one said:\n${info.stderrTail || '(nothing)'}`, { exitCode: info.code, stderrTail: info.stderrTail }));
        }
      });
    });
    allExited.catch(() => {});
    this.#engineLaunchers.push(launcher);
    await launcher.start();
    if (alongside) {
      // The engines' exits are reported while waiting for the controller too: a controller that never starts is
      // the error to show, not the engines that stop waiting for it.
      await alongside;
    }
    const monitor = await this.#connectMonitor();
    const timeoutMs = options.timeoutMs ?? this.config.engines.startTimeoutMs;
    let last = -1;
    const progress = () => {
      const registered = Math.min(monitor.engines.size, target);
      if (registered !== last) this.options.onProgress?.({ registered: (last = registered), total: target });
    };
    // Each addEngines() call listens for as long as it waits.
    const stopReporting = monitor.onEngineChange(progress);
    progress();
    try {
      await Promise.race([this.#waitForEngines(monitor, target, timeoutMs, launcher), allExited]);
    } finally {
      stopReporting();
    }
    log('%d engines registered', monitor.engines.size);
    this.#watchEnds(launcher);
    // Engines added to a running cluster are recorded too, so `tscluster stop` and `list` see them.
    if (this.#created && !this.#stopped) await this.#writeClusterFile();
  }

  /**
   * Add a handler called whenever a process (or job) of an engine launcher ends, expectedly or not, with its exit
   * code or signal and the launcher's name. Returns the function that removes it.
   * @example `cluster.onEngineExit((e) => console.log(`${e.launcher} ${e.id} exited with ${e.code ?? e.signal}`))`
   */
  onEngineExit(handler: (info: ExitInfo & { launcher: string }) => void): () => void {
    this.#exitHandlers.add(handler);
    return () => this.#exitHandlers.delete(handler);
  }

  /**
   * Stop one engine (SIGTERM, then SIGKILL after the launcher's grace period) and wait until it is gone from the
   * controller. Works for engines of the `local`, `mpi` and `ssh` launchers.
   * @throws LauncherError when the engine is unknown, or its launcher cannot control one engine (batch jobs).
   */
  async stopEngine(id: number, options: { graceMs?: number; timeoutMs?: number } = {}): Promise<void> {
    const { engine, control } = await this.#engineControl(id);
    await control.stop(engine, { graceMs: options.graceMs });
    this.#stoppedEngines.set(id, { engine, control });
    await this.#waitForEngine(id, false, options.timeoutMs);
  }

  /**
   * Send a signal to one engine's process (e.g. `SIGUSR2`, or `SIGKILL` to simulate a crash).
   * @throws LauncherError when the engine is unknown, or its launcher cannot control one engine (batch jobs).
   */
  async signalEngine(id: number, signal: NodeJS.Signals): Promise<void> {
    const { engine, control } = await this.#engineControl(id);
    await control.signal(engine, signal);
  }

  /**
   * Stop one engine and start a replacement with the same id (on the same host, by the same launcher), and wait
   * until the replacement has registered. Its namespace starts empty. An engine stopped with {@link stopEngine} is
   * started again.
   * @throws LauncherError when the engine is unknown, or its launcher cannot control one engine (batch jobs).
   * @throws TimeoutError when the replacement has not registered within `engines.startTimeoutMs`.
   */
  async restartEngine(id: number, options: { graceMs?: number; timeoutMs?: number } = {}): Promise<void> {
    const monitor = await this.#connectMonitor();
    // An engine stopped with stopEngine() (and not re-registered since) is started again where it ran.
    const stopped = monitor.engines.has(id) ? undefined : this.#stoppedEngines.get(id);
    const { engine, control } = stopped ?? (await this.#engineControl(id));
    if (!stopped) await control.stop(engine, { graceMs: options.graceMs });
    this.#stoppedEngines.delete(id);
    await this.#waitForEngine(id, false, options.timeoutMs);
    await control.startReplacement(engine);
    await this.#waitForEngine(id, true, options.timeoutMs);
  }

  async #engineControl(id: number): Promise<{ engine: EngineRef; control: EngineControl }> {
    const monitor = await this.#connectMonitor();
    const info = monitor.engines.get(id);
    if (!info) {
      throw new LauncherError(`engine ${id} is not registered (registered: ${[...monitor.engines.keys()].join(', ') || 'none'})`);
    }
    const engine: EngineRef = { id, pid: info.pid, hostname: info.hostname };
    const owner = this.#engineLaunchers.find((l) => l.engineControl?.owns(engine));
    if (owner) return { engine, control: owner.engineControl! };
    const blind = this.#engineLaunchers.filter((l) => !l.engineControl).map((l) => l.name);
    throw new LauncherError(
      blind.length
        ? `engine ${id} (pid ${info.pid} on ${info.hostname}) cannot be controlled on its own: launcher '${blind.join("', '")}' ` +
            `cannot address one engine of its set (per-engine control works with the local, mpi and ssh launchers); stop the whole cluster instead`
        : `engine ${id} (pid ${info.pid} on ${info.hostname}) is not one this cluster's launchers started`,
    );
  }

  /** Wait until engine `id` is (or is no longer) registered. */
  async #waitForEngine(id: number, present: boolean, timeoutMs = this.config.engines.startTimeoutMs): Promise<void> {
    const monitor = this.#monitor!;
    if (monitor.engines.has(id) === present) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new TimeoutError(`engine ${id} was ${present ? 'not registered' : 'still registered'} after ${timeoutMs} ms`, timeoutMs));
      }, timeoutMs);
      const stop = monitor.onEngineChange(() => {
        if (monitor.engines.has(id) !== present) return;
        clearTimeout(timer);
        stop();
        resolve();
      });
    });
  }

  /**
   * Stop the cluster: close its clients, stop the engines, then the controller (cancelling batch jobs), and remove
   * its files. Stopping twice is harmless.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopping.abort(new LauncherError('the cluster was stopped while it was starting engines'));
    await Promise.all([...this.#clients, ...(this.#monitor ? [this.#monitor] : [])].map((c) => c.close()));
    await Promise.all(this.#engineLaunchers.map((l) => l.stop()));
    // The controller tells every engine to shut down, those no launcher of this cluster started included.
    await this.#controllerLauncher?.stop();
    await this.#jobReporter.close();
    await this.#stopAdopted();
    await this.#ownerSession?.close();
    // A controller that was killed could not remove its files.
    await Promise.all(filesOfCluster(clusterFilePaths(this.profile, this.clusterId)).map((f) => unlink(f).catch(() => {})));
    log('cluster %s stopped', this.clusterId || '(default)');
  }

  /**
   * Engines taken over from a controller that died were started by no launcher of this cluster, so nothing waits for
   * them: those on this host that have not exited within a grace period after the shutdown request are killed by
   * pid (one that hangs in synchronous code cannot answer it); those elsewhere cannot be checked from here, and
   * `onWarning` says so. Bounded by twice the grace period.
   */
  async #stopAdopted(): Promise<void> {
    const here = this.#adoptedHere().map((e) => e.pid);
    const elsewhere = (this.#restored?.adopted ?? []).filter((id) => !this.#adoptedHere().some((e) => e.id === id));
    if (here.length) {
      await waitForExit(here, ADOPTED_GRACE_MS).catch(async () => {
        const stuck = here.filter((pid) => isProcessAlive(pid) && looksLikeOurs(pid));
        log('engines (pids %o) taken over from the dead controller did not shut down within %d ms: killing them', stuck, ADOPTED_GRACE_MS);
        signalPids(stuck, 'SIGKILL');
        await waitForExit(stuck, ADOPTED_GRACE_MS).catch((err: Error) => this.options.onWarning?.(`stopping the engines taken over from the dead controller: ${err.message}`));
      });
    }
    if (elsewhere.length) {
      const message = `engines ${elsewhere.join(', ')} (taken over from the controller that died) run on other hosts and were started by no launcher of this cluster: they were asked to shut down, but whether they did cannot be checked from here`;
      log(message);
      this.options.onWarning?.(message);
    }
  }

  /** Same as {@link stop}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }

  #transport(): Transport | undefined {
    return getOptional(this.container, TRANSPORT);
  }

  #launcher(role: 'controller' | 'engines', n: number, args: string[], env: Record<string, string> = {}): Launcher {
    const name = role === 'controller' ? this.config.controller.launcher : this.config.engines.launcher;
    const registry = get(this.container, LAUNCHER_REGISTRY);
    const jobSplit = role === 'engines' ? engineJobSplit(this.config, registry) : undefined;
    const launcher = registry.create(
      name,
      {
        role, n, clusterId: this.clusterId, profileDir: this.profile.dir, program: roleProgram(role), args, env,
        container: this.container, detached: this.options.detached ?? false, ...(jobSplit && { jobSplit }),
      },
      this.config.launchers[name] ?? {},
    );
    this.#jobReporter.track(launcher, role);
    return launcher;
  }

  /**
   * Start a new controller in place of one that died, with `--restore`: it takes over the dead one's ports, key,
   * journal and engines (see `controller.journal` and `engines.reconnectMs`). `tscluster start` does this by itself
   * when its controller dies and the journal is on.
   * @throws ConfigError when the controller journal is off (there is nothing to restore from).
   */
  async restoreController(): Promise<void> {
    if (!this.config.controller.journal) {
      throw new ConfigError('restoreController(): controller.journal is off, so there is nothing to restore from; set controller.journal (and engines.reconnectMs) before the cluster starts');
    }
    await this.#controllerLauncher?.stop();
    await this.#startController(true);
    await this.#writeClusterFile();
  }

  async #startController(restore: boolean): Promise<void> {
    const c = this.config.controller;
    const args = toControllerArgs({
      profileDir: this.profile.dir,
      clusterId: this.clusterId,
      // A transport the host application registered wins over the configured one.
      controller: { ...c, ip: controllerBindIp(this.config, this.#placement, this.#ipConfigured), transport: this.#transport()?.name ?? c.transport },
      security: this.config.security,
      journal: this.config.controller.journal,
      restore,
      reconnectMs: this.config.engines.reconnectMs,
      // A detached cluster outlives this process. Otherwise a controller on this host watches this pid (exact here);
      // one placed on another host, where this pid means nothing, is owned through a lease (see ./lease.ts).
      ...this.#owner(),
    });
    // A restored controller rewrites its predecessor's files: it is ready once the engine file is a new one.
    const previous = restore ? (await readConnectionFile(this.engineConnectionFile).catch(() => undefined))?.created : undefined;
    const launcher = (this.#controllerLauncher = this.#launcher('controller', 1, args));
    let exited: ExitInfo | undefined;
    launcher.onExit((info) => (exited = info));
    await launcher.start();
    this.#watchEnds(launcher);
    // The controller writes the engine connection file last, once it listens: that file is the sign it is ready.
    const timeoutMs = this.config.engines.startTimeoutMs;
    let deadline = Date.now() + timeoutMs;
    let shown = '';
    for (;;) {
      const ready = previous === undefined
        ? await stat(this.engineConnectionFile).then(() => true, () => false)
        : (await readConnectionFile(this.engineConnectionFile).catch(() => undefined))?.created !== previous;
      if (ready) {
        this.#jobReporter.attach(() => this.#controllerTarget());
        return this.#claimLease();
      }
      // A batch job waiting in the queue does not use up the start time: the wait is shown instead.
      const queued = queuedJobs(launcher);
      if (queued.length) {
        deadline = Date.now() + timeoutMs;
        const line = `controller job ${queued.map((j) => `${j.id} ${j.rawState ?? j.state}`).join(', ')}: waiting in the queue`;
        if (line !== shown) this.options.onProgress?.({ registered: 0, total: this.config.n, message: (shown = line) });
      }
      if (exited) {
        throw new LauncherError(`the controller exited before it was ready (code ${exited.code}${exited.signal ? ', signal ' + exited.signal : ''}); it said:\n${exited.stderrTail || '(nothing)'}`, { exitCode: exited.code, stderrTail: exited.stderrTail });
      }
      if (Date.now() > deadline) {
        throw new TimeoutError(`the controller did not write ${this.engineConnectionFile} within ${timeoutMs} ms; see its log in ${this.profile.log}`, timeoutMs);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Wait until `target` engines registered. Time spent while one of the launcher's batch jobs waits in the queue
   * does not count: the wait is shown as progress instead (job id and state).
   */
  async #waitForEngines(monitor: Client, target: number, timeoutMs: number, launcher: Launcher): Promise<void> {
    let deadline = Date.now() + timeoutMs;
    let shown = '';
    const signal = this.#stopping.signal;
    while (monitor.engines.size < target) {
      if (signal.aborted) throw signal.reason;
      const queued = queuedJobs(launcher);
      if (queued.length) {
        deadline = Date.now() + timeoutMs;
        const line = `engine job ${queued.map((j) => `${j.id} ${j.rawState ?? j.state}`).join(', ')}: waiting in the queue`;
        if (line !== shown) this.options.onProgress?.({ registered: Math.min(monitor.engines.size, target), total: target, message: (shown = line) });
      }
      if (Date.now() > deadline) {
        throw new TimeoutError(`${monitor.engines.size} of ${target} engines registered within ${timeoutMs} ms (of their jobs leaving the queue, for batch jobs); check the engines' logs in ${this.profile.log}`, timeoutMs);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Record what ends while the cluster runs (an engine job cancelled from outside), for `tscluster list`. */
  #watchEnds(launcher: Launcher): void {
    launcher.onExit((info) => {
      if (this.#stopped) return;
      log('%s %s of %s ended (code %s): %s', launcher.name, info.id, launcher === this.#controllerLauncher ? 'the controller' : 'the engines', info.code, info.stderrTail ?? '');
      const list = this.#ended.get(launcher) ?? [];
      list.push(info);
      this.#ended.set(launcher, list);
      if (this.#created) void this.#writeClusterFile().catch((err: Error) => log('cannot rewrite the cluster file: %s', err.message));
    });
  }

  /**
   * The cluster's own client, which watches engines come and go. It sends no request to an engine, so it dials none
   * directly: 16 engines starting at once cost it 16 fewer connect probes and sockets, and them 16 fewer handshakes.
   */
  async #connectMonitor(): Promise<Client> {
    return (this.#monitor ??= await Client.connect({ container: this.container, transport: this.#transport(), connectionFile: this.clientConnectionFile, direct: false }));
  }

  /**
   * A restored cluster: connect the monitor, and give the predecessor's engines their chance to come back (they do
   * once they notice the silence, after `heartbeatTimeoutMs`): until every engine of the journal that may still be
   * alive is back, or the controller's adoption time (2 x `heartbeatTimeoutMs`) is over. Returns what was taken over.
   */
  async #waitForAdoption(previous: RestorableCluster | undefined): Promise<RestoreSummary | undefined> {
    const monitor = await this.#connectMonitor();
    const { heartbeatTimeoutMs } = this.config.controller;
    const deadline = Date.now() + Math.min(this.config.engines.startTimeoutMs, 2 * heartbeatTimeoutMs + 1000);
    const expected = previous?.journal.engines ?? [];
    // An engine of this host whose process is gone will not come back.
    const mayReturn = () => expected.filter((e) => !monitor.engines.has(e.id) && (e.hostname !== thisHost() || isProcessAlive(e.pid)));
    let last = -1;
    let quietSince = Date.now();
    while (Date.now() < deadline && !this.#stopped) {
      const back = expected.filter((e) => monitor.engines.has(e.id)).length;
      if (monitor.engines.size !== last) {
        last = monitor.engines.size;
        quietSince = Date.now();
        this.options.onProgress?.({ registered: back, total: expected.length, message: `engines back from the controller that died: ${back} of ${expected.length}` });
      }
      if (previous ? mayReturn().length === 0 : monitor.engines.size > 0 && Date.now() - quietSince > heartbeatTimeoutMs) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    log('restored: %d engines came back', monitor.engines.size);
    if (!previous?.keys) return undefined;
    this.#previous = previous;
    return restoreSummary(previous, expected.filter((e) => monitor.engines.has(e.id)).map((e) => e.id));
  }

  #owner(): { parentPid?: number; leaseMs?: number } {
    if (this.options.detached) return {};
    if (this.#placement.controllerRemote) return { leaseMs: this.config.controller.leaseMs };
    return { parentPid: process.pid };
  }

  /** Hold the owner lease of a controller on another host for as long as this cluster lives. */
  async #claimLease(): Promise<void> {
    if (this.options.detached || !this.#placement.controllerRemote) return;
    const info = await readConnectionFile(this.clientConnectionFile);
    const transport = this.#transport() ?? get(this.container, TRANSPORT_FACTORY).create(info.transport);
    this.#ownerSession = await OwnerSession.open(transport, info);
  }

  /** How a connection of this process reaches the controller (its transport, the client connection info). */
  async #controllerTarget(): Promise<ControllerTarget> {
    const info = await readConnectionFile(this.clientConnectionFile);
    return { info, transport: this.#transport() ?? get(this.container, TRANSPORT_FACTORY).create(info.transport) };
  }

  async #writeClusterFile(): Promise<void> {
    const summary = (l: Launcher): LauncherSummary => ({
      name: l.name, pids: [...l.pids], jobIds: [...l.jobIds], ...(this.#ended.has(l) && { ended: this.#ended.get(l) }),
    });
    const file: ClusterFile = {
      clusterId: this.clusterId,
      profileDir: this.profile.dir,
      pid: process.pid,
      hostname: hostname(),
      n: this.config.n,
      created: (this.#created ??= new Date().toISOString()),
      connectionFiles: { client: this.clientConnectionFile, engine: this.engineConnectionFile },
      launchers: {
        controller: summary(this.#controllerLauncher!),
        engines: [
          ...this.#engineLaunchers.map(summary),
          // Engines taken over from a controller that died, so that `tscluster stop` finds them too.
          ...(this.#restored ? [{ name: 'adopted', pids: this.#adoptedHere().map((e) => e.pid), jobIds: [] }] : []),
        ],
      },
    };
    await writeFile(this.clusterFile, JSON.stringify(file, null, 2) + '\n', { mode: 0o600 });
  }
}

/** The launcher's batch jobs that wait in the queue (a launcher that tracks job states says so; others have none). */
function queuedJobs(launcher: Launcher): readonly JobStatus[] {
  return ((launcher as { jobStates?: readonly JobStatus[] }).jobStates ?? []).filter((j) => j.state === 'queued');
}

/** Plugins listed in a config file resolve relative to that file's directory; others relative to the project. */
function pluginBaseDir(loaded: LoadedConfig, projectDir: string | null | undefined): string {
  const source = loaded.sources.plugins;
  if (source && (source.kind === 'profile' || source.kind === 'project')) return path.dirname(source.file);
  return projectDir ?? process.cwd();
}

/**
 * Load the configured launcher plugins into a registry of this cluster's own (a copy of the inherited one), so
 * one cluster's plugins do not leak into the container the host application shares.
 */
async function loadConfiguredPlugins(container: DependencyContainer, specs: readonly string[], baseDir: string): Promise<void> {
  const inherited = get(container, LAUNCHER_REGISTRY);
  const registry = new LauncherRegistry();
  for (const name of inherited.names()) registry.register(inherited.get(name));
  await loadLauncherPlugins(specs, { baseDir, registry });
  provide(container, LAUNCHER_REGISTRY, registry);
}

/**
 * Choose the cluster id: the configured one when free; when the profile's default cluster is already running and
 * no id was asked for, a fresh one (so two programs can each start a cluster). Stale files of dead clusters go.
 */
async function pickClusterId(paths: ProfilePaths, wanted: string, explicit: boolean, running?: string): Promise<string> {
  const file = clusterFilePaths(paths, wanted).engineConnectionFile;
  const info = await readConnectionFile(file).catch(() => undefined);
  if (running || (info && isControllerAlive(info) !== false)) {
    if (explicit) {
      throw new ConfigError(`cluster ${describeId(wanted)} of ${describeProfile(paths)} is already running (${running ?? `controller pid ${info!.controller.pid}`}): stop it with \`tscluster stop ${profileFlag(paths)}${wanted ? ' --cluster-id ' + wanted : ''}\`, or choose another clusterId`);
    }
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  }
  const { clientConnectionFile, engineConnectionFile } = clusterFilePaths(paths, wanted);
  for (const f of [clientConnectionFile, engineConnectionFile]) await unlink(f).catch(() => {});
  return wanted;
}

/** How long engines taken over from a dead controller get to exit after the shutdown request (and after SIGKILL). */
const ADOPTED_GRACE_MS = 5000;
/** How long the engines of a journal given up get to exit after SIGTERM. */
const DISCARD_GRACE_MS = 5000;

/**
 * Whether a new cluster with id `clusterId` takes over the journal a controller of that cluster left when it died
 * (see {@link ClusterOptions.restore}). `running`: why the cluster counts as running though its controller is dead
 * (the process that started it still runs), for {@link pickClusterId}. A journal given up is discarded here
 * ({@link discardRestorable}), and `onRestore` / `onWarning` say so.
 */
async function restoreDecision(paths: ProfilePaths, clusterId: string, options: ClusterOptions): Promise<{ restore: boolean; previous?: RestorableCluster; running?: string }> {
  const previous = await findRestorable(paths, clusterId);
  if (options.clusterId === undefined) {
    // Journals of other clusters of the profile are restored only when asked for by id: say they are there.
    for (const other of (await journalClusterIds(paths)).filter((id) => id !== clusterId)) {
      const r = await findRestorable(paths, other);
      if (r?.controllerAlive === false && !r.problem) {
        options.onWarning?.(`cluster ${describeId(other)} of ${describeProfile(paths)} has the journal of a controller that died: \`tscluster start ${profileFlag(paths)} --cluster-id ${other}\` (or createCluster({ ${profileOption(paths)}, clusterId: '${other}' })) restores it`);
      }
    }
  }
  if (options.restore === true) return { restore: true, ...(previous && { previous }) };
  // None, or its controller runs (or runs elsewhere): the rules for a running cluster apply.
  if (!previous || previous.controllerAlive !== false) return { restore: false };
  const owner = previous.found?.ownerAlive === true ? previous.found.info.pid : undefined;
  if (owner !== undefined) {
    return { restore: false, running: `its controller died, but the process that started it (pid ${owner}) still runs; \`tscluster start\` with controller.journal restores its own controller` };
  }
  if (options.restore === undefined && !previous.problem) return { restore: true, previous };
  const reason = options.restore === false ? 'a fresh start was asked for (restore: false, --no-restore)' : `it cannot be restored: ${previous.problem}`;
  const { archived, stopped } = await discardRestorable(paths, previous, DISCARD_GRACE_MS);
  options.onRestore?.({ type: 'discarded', clusterId, reason, archived, stopped });
  // A caller that listens to onRestore hears it there.
  if (options.restore === undefined && !options.onRestore) {
    options.onWarning?.(`the journal of the controller of cluster ${describeId(clusterId)} that died is not restored (${reason}); it was moved to ${archived}, and a fresh cluster starts`);
  }
  return { restore: false };
}

/**
 * What a restore takes over, from the journal and the engines that came back (`adopted`; `undefined` before they
 * had their chance: then every task that was running counts as `running`).
 */
function restoreSummary(previous: RestorableCluster, adopted: readonly number[] | undefined): RestoreSummary {
  const back = new Set(adopted ?? previous.journal.running.keys());
  let running = 0;
  let rerun = 0;
  for (const [engineId, count] of previous.journal.running) {
    if (back.has(engineId)) running += count;
    else rerun += count;
  }
  return {
    controller: previous.keys!.controller,
    expected: previous.journal.engines.map((e) => e.id).sort((a, b) => a - b),
    adopted: [...(adopted ?? [])].sort((a, b) => a - b),
    queued: previous.journal.queued,
    running,
    rerun,
  };
}

/**
 * Start a cluster: a controller and `n` engines with the configured launchers (by default local processes over
 * ZeroMQ). Resolves once every engine has registered.
 * @example
 * ```ts
 * import { createCluster, range } from 'tsparallel';
 * await using cluster = await createCluster({ n: 4 });
 * const client = await cluster.connect();
 * await client.view().map((x: number) => x ** 10, range(15));
 * ```
 * @throws ConfigError for bad options or config files (a key of `launchers` that names no registered launcher
 *   among them); LauncherError when a process cannot start or exits early; TimeoutError when engines do not register
 *   within `engines.startTimeoutMs`.
 */
export function createCluster(options: ClusterOptions = {}): Promise<Cluster> {
  return Cluster.start(options);
}

/**
 * How the engine sets are split into jobs (`engines.jobs` above 1 / `engines.enginesPerJob` above 0), or undefined
 * for one job per set.
 * @throws ConfigError when one is set and the engines' launcher cannot split a set (it starts processes, or its
 *   plugin does not say `splitsEngineSets`).
 */
function engineJobSplit(config: ClusterConfig, registry: LauncherRegistry): EngineJobSplit | undefined {
  const { jobs, enginesPerJob, launcher } = config.engines;
  if (jobs <= 1 && enginesPerJob === 0) return undefined;
  if (registry.get(launcher).splitsEngineSets !== true) {
    const key = jobs > 1 ? `engines.jobs (${jobs})` : `engines.enginesPerJob (${enginesPerJob})`;
    throw new ConfigError(
      `${key} splits an engine set into batch jobs, but engines.launcher '${launcher}' does not submit engine sets as ` +
        'jobs it can split: remove it, or use a batch launcher (slurm, pbs, sge, lsf, htcondor)',
    );
  }
  return enginesPerJob > 0 ? { enginesPerJob } : { jobs };
}
