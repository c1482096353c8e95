/**
 * The `local` launcher: the controller or N engines as child processes of this machine.
 * @module
 */
import debug from 'debug';
import path from 'node:path';
import { z } from 'zod';
import { hostname } from 'node:os';
import { defineLauncher, type EngineControl, type EngineRef, type ExitInfo, type Launcher, type LauncherContext, type LauncherState } from '../../core/launcher.js';
import { LauncherError } from '../../core/errors.js';
import { clusterFilePaths, withClusterId } from '../../util/cluster-files.js';
import { addListener } from '../../util/listeners.js';
import { spawnTracked, stopTracked, type TrackedProcess } from '../process-tracker.js';
import { withNarrowedExtraCa } from '../extra-ca.js';
import { roleEnvironment } from '../role-env.js';
import { Spawner, useSpawner } from '../spawner.js';

const log = debug('tsparallel:launcher:local');

/** Options of the local launcher (`launchers.local` in config). */
export const localOptions = z.strictObject({
  /** How long a process gets to exit after SIGTERM before SIGKILL, in ms. */
  graceMs: z.number().int().nonnegative().default(5000),
  /**
   * Start the processes in their own process group, so they outlive the starting process. Also on when the cluster
   * asks for it ({@link LauncherContext.detached}: `tscluster start --daemonize`).
   */
  detached: z.boolean().default(false),
  /**
   * Start the processes through a small helper process (a spawner) rather than from this one: `auto` (default) does
   * when this process is large for the number started (forking it copies its page tables once per child; see
   * src/launchers/spawner.ts), `always` and `never` decide outright. Detached processes never use one.
   */
  spawner: z.union([z.literal('auto'), z.literal('always'), z.literal('never')]).default('auto'),
});

/** Options of the local launcher, parsed. */
export type LocalOptions = z.infer<typeof localOptions>;

/** Starts the controller or N engines as local child processes; logs go to the profile's `log/`. */
export class LocalLauncher implements Launcher {
  readonly name = 'local';
  #state: LauncherState = 'idle';
  readonly #procs: TrackedProcess[] = [];
  readonly #exitHandlers: ((info: ExitInfo) => void)[] = [];

  constructor(
    private readonly context: LauncherContext,
    private readonly options: LocalOptions,
  ) {}

  get #detached(): boolean {
    return this.options.detached || (this.context.detached ?? false);
  }

  get state(): LauncherState {
    return this.#state;
  }
  get pids(): number[] {
    return this.#procs.map((p) => p.pid);
  }
  get jobIds(): string[] {
    return [];
  }

  async start(): Promise<void> {
    await this.add(this.context.n);
  }

  /** One engine of the set by its pid (engines on this host only). */
  readonly engineControl: EngineControl = {
    owns: (engine) => this.#find(engine) !== undefined,
    signal: async (engine, signal) => {
      const proc = this.#get(engine);
      proc.kill(signal);
    },
    stop: async (engine, options = {}) => {
      await stopTracked(this.#get(engine), options.graceMs ?? this.options.graceMs);
    },
    startReplacement: (engine) => this.add(1, ['--engine-id', String(engine.id)]),
  };

  #find(engine: EngineRef): TrackedProcess | undefined {
    if (this.context.role !== 'engines' || engine.hostname !== hostname()) return undefined;
    return this.#procs.find((p) => p.pid === engine.pid);
  }

  #get(engine: EngineRef): TrackedProcess {
    const proc = this.#find(engine);
    if (!proc) throw new LauncherError(`engine ${engine.id} (pid ${engine.pid} on ${engine.hostname}) is not one the local launcher started`);
    return proc;
  }

  /**
   * Start `n` more processes of the same role (how `tscluster engines -n` grows a cluster), with `extraArgs` after
   * the role's arguments.
   */
  async add(n: number, extraArgs: readonly string[] = []): Promise<void> {
    this.#state = 'starting';
    const { role, program, args, env, profileDir, clusterId } = this.context;
    const command = [...program, ...args, ...extraArgs];
    log('starting %d %s: %s', n, role, command.join(' '));
    // Engines keep NODE_EXTRA_CA_CERTS (tasks may need its CAs), less the roots Node bundles anyway: every boot parses it.
    const base = roleEnvironment(role, env);
    const { extraCaFile } = clusterFilePaths({ security: path.join(profileDir, 'security'), pid: '' }, clusterId);
    const childEnv = role === 'engines' ? await withNarrowedExtraCa(base, command, extraCaFile) : base;
    const spawner = !this.#detached && useSpawner(this.options.spawner, n) ? await Spawner.start() : undefined;
    if (spawner) log('starting them through spawner %d', spawner.pid);
    let started: TrackedProcess[];
    try {
      started = await Promise.all(
        Array.from({ length: n }, async (_, i) => {
          const logFile = path.join(profileDir, 'log', `${withClusterId(role === 'controller' ? 'controller' : 'engine', clusterId)}-${process.pid}-${Date.now()}-${i}.log`);
          const options = { env: childEnv, logFile };
          return spawner ? spawner.spawn(command, options) : spawnTracked(command, { ...options, detached: this.#detached });
        }),
      );
    } finally {
      spawner?.release();
    }
    for (const proc of started) {
      this.#procs.push(proc);
      void proc.exited.then((info) => {
        log('%s process %d exited (code %s, signal %s)', role, proc.pid, info.code, info.signal);
        [...this.#exitHandlers].forEach((h) => h(info));
      });
    }
    this.#state = 'running';
  }

  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#state === 'stopped') return;
    const graceMs = options.graceMs ?? this.options.graceMs;
    await Promise.all(this.#procs.map((p) => stopTracked(p, graceMs)));
    this.#state = 'stopped';
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    for (const p of this.#procs) p.kill(signal);
  }

  onExit(handler: (info: ExitInfo) => void): () => void {
    return addListener(this.#exitHandlers, handler);
  }
}

/** The `local` launcher plugin. */
export const localLauncher = defineLauncher({
  name: 'local',
  description: 'child processes on this machine',
  options: localOptions,
  create: (context, options) => new LocalLauncher(context, options),
});
