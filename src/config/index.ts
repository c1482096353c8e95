/**
 * The configuration of a cluster: its shape, its defaults and `defineConfig()`.
 * @module
 */
import { availableParallelism } from 'node:os';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../core/transport.js';

/** The task policies the controller can use to pick an engine for a load-balanced task. */
export type TaskPolicyName = 'leastload' | 'lru' | 'weighted' | 'twobin' | 'random';

/** Settings of the controller. */
export interface ControllerConfig {
  /** The launcher that starts the controller (default `local`). */
  launcher: string;
  /** The IP address the controller listens on (default `127.0.0.1`; `0.0.0.0` for every interface). */
  ip: string;
  /** The transport every role uses (default `zeromq`). */
  transport: string;
  /** How often the controller pings each engine, in ms (default 1000). */
  heartbeatMs: number;
  /** How long an engine may go without answering before it is declared dead, in ms (default 10000). */
  heartbeatTimeoutMs: number;
  /** How load-balanced tasks pick an engine (default `leastload`). */
  taskPolicy: TaskPolicyName;
  /** How many load-balanced tasks an engine may hold at once (default 16; 0 = no limit). */
  hwm: number;
  /**
   * An engine whose tasks are quick may hold more than `hwm`: as many as it runs in this many milliseconds at its
   * recent pace, up to 1024, and an idle engine is sent half of that in one message rather than one task (default 2;
   * 0: `hwm` alone decides, and tasks spread one per idle engine).
   */
  hwmMs: number;
  /**
   * The host name or address written into connection files for engines and clients to dial (default '': loopback
   * for local clusters; for launchers that place roles on other hosts, the controller host's first non-internal IPv4
   * address, else its host name).
   */
  location: string;
  /** How long the controller outlives a silent owner (the process that started the cluster), in ms (default 30000). */
  leaseMs: number;
  /**
   * Serve the dashboard and `/metrics` from the controller's process on this port (default `false`: not served;
   * `tscluster dashboard` serves one from outside instead).
   */
  dashboard: DashboardConfig | false;
  /**
   * The largest message the controller accepts from a client or an engine, in bytes (default 256 MiB): a bigger one
   * is refused by ZeroMQ and the peer disconnected, and clients refuse to send one with a clear error.
   */
  maxMessageBytes: number;
  /**
   * Keep a task journal in the profile's `security/` (default false), so that a controller that dies can be
   * restarted with `tscontroller --restore` or `tscluster start --restore` without losing tasks (set
   * `engines.reconnectMs` too, so engines wait for it).
   */
  journal: boolean;
}

/** Where the controller serves the dashboard. */
export interface DashboardConfig {
  /** The port (0: any free port; the URL is written to the profile's `security/tsparallel[-ID]-dashboard.json`). */
  port: number;
  /** The address to bind (default `127.0.0.1`: only this host; from a laptop, `ssh -L PORT:127.0.0.1:PORT host`). */
  host?: string;
}

/** Settings of the engines. */
export interface EnginesConfig {
  /** The launcher that starts the engines (default `local`). */
  launcher: string;
  /** How long to wait for the engines to register, in ms (default 60000). */
  startTimeoutMs: number;
  /**
   * Engine supervision: an engine that dies (not one that was stopped) is replaced by a fresh one, started by the
   * same launcher, up to `max` times within any `windowMs`; then it stays down. Default `{ max: 0, windowMs: 60000 }`:
   * off, for every launcher (a batch job ends for a reason, and a local engine that dies usually has a bug to see).
   */
  restart: RestartPolicy;
  /**
   * How long a task past its `timeoutMs` may ignore its abort signal before its engine process is killed, in ms
   * (default 5000); a task's own `graceMs` wins.
   */
  graceMs: number;
  /**
   * How long engines wait for a controller that went silent to come back (restarted with `--restore`) before they
   * exit, in ms (default 0: they exit once it has been silent for `controller.heartbeatTimeoutMs`).
   */
  reconnectMs: number;
  /**
   * Split each engine set into this many batch jobs, as even as can be (smaller jobs often start sooner); each is
   * submitted, watched and cancelled on its own (default 1: one job). Not with `enginesPerJob`; only for launchers
   * that submit jobs.
   */
  jobs: number;
  /** Split each engine set into batch jobs of at most this many engines (default 0: no limit). Not with `jobs`. */
  enginesPerJob: number;
}

/** How often engines that die are replaced (see {@link EnginesConfig.restart}). */
export interface RestartPolicy {
  /** How many replacements within `windowMs` (0: none). */
  max: number;
  /** The sliding window, in ms. */
  windowMs: number;
}

/** Settings of the wire's security (every role follows the controller's, through the connection files). */
export interface SecurityConfig {
  /**
   * Encrypt every socket with ZeroMQ CURVE: `true`, `false`, or `'auto'` (default): whenever a role listens beyond
   * loopback. HMAC signing of every message applies either way.
   */
  curve: boolean | 'auto';
  /** How far a message's date may be from the receiver's clock, in ms; older (or later) ones are dropped as replays (default 300000). */
  replayWindowMs: number;
}

/** The whole configuration, after defaults are applied. */
export interface ClusterConfig {
  /** How many engines to start (default: the number of CPUs). */
  n: number;
  /** The cluster's id within its profile ('' is the profile's default cluster). */
  clusterId: string;
  /** Controller settings. */
  controller: ControllerConfig;
  /** Engine settings. */
  engines: EnginesConfig;
  /** Wire security settings. */
  security: SecurityConfig;
  /** Options of each launcher, under its name (e.g. `launchers['windows-hpc'].scheduler`). */
  launchers: Record<string, Record<string, unknown>>;
  /** Packages or files whose default export declares launcher plugins. */
  plugins: string[];
}

/** A configuration as written by a user: every key optional, nested objects partial. */
export type UserConfig = Partial<Omit<ClusterConfig, 'controller' | 'engines' | 'security'>> & {
  /** Controller settings (any subset). */
  controller?: Partial<ControllerConfig>;
  /** Engine settings (any subset). */
  engines?: Partial<EnginesConfig>;
  /** Wire security settings (any subset). */
  security?: Partial<SecurityConfig>;
};

/** The defaults every configuration starts from. */
export function defaultConfig(): ClusterConfig {
  return {
    n: availableParallelism(),
    clusterId: '',
    controller: {
      launcher: 'local',
      ip: '127.0.0.1',
      transport: 'zeromq',
      heartbeatMs: 1000,
      heartbeatTimeoutMs: 10_000,
      taskPolicy: 'leastload',
      hwm: 16,
      hwmMs: 2,
      location: '',
      leaseMs: 30_000,
      dashboard: false,
      maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
      journal: false,
    },
    engines: { launcher: 'local', startTimeoutMs: 60_000, restart: { max: 0, windowMs: 60_000 }, graceMs: 5000, reconnectMs: 0, jobs: 1, enginesPerJob: 0 },
    security: { curve: 'auto', replayWindowMs: 300_000 },
    launchers: {},
    plugins: [],
  };
}

/**
 * Give a config file's default export its type.
 * @example
 * ```js
 * // tsparallel.config.mjs
 * import { defineConfig } from 'tsparallel';
 * export default defineConfig({ n: 4, engines: { launcher: 'local' } });
 * ```
 */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}

/** Merge `layers` over `base`, later layers winning; nested `controller`, `engines`, `security` and `launchers` merge by key. */
export function mergeConfig(base: ClusterConfig, ...layers: readonly (UserConfig | undefined)[]): ClusterConfig {
  const out: ClusterConfig = structuredClone(base);
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value === undefined) continue;
      if (key === 'controller' || key === 'engines' || key === 'security') {
        Object.assign(out[key], stripUndefined(value as object));
      } else if (key === 'launchers') {
        for (const [name, opts] of Object.entries(value as Record<string, Record<string, unknown>>)) {
          out.launchers[name] = { ...(out.launchers[name] ?? {}), ...opts };
        }
      } else {
        (out as unknown as Record<string, unknown>)[key] = value;
      }
    }
  }
  return out;
}

function stripUndefined(obj: object): object {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}
