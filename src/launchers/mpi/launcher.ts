/**
 * The `mpi` launcher: N engines as the ranks of one `mpiexec -n N … tsengine --mpi` (Open MPI, MPICH, or `srun`
 * inside a Slurm allocation). Each engine's id is its rank; connection info reaches the ranks through their
 * environment (named with `-x` for Open MPI, which forwards nothing else), so no shared file system is needed.
 * @module
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { constants, hostname } from 'node:os';
import path from 'node:path';
import debug from 'debug';
import { z } from 'zod';
import { defineLauncher, type EngineControl, type EngineRef, type ExitInfo, type Launcher, type LauncherContext, type LauncherState } from '../../core/launcher.js';
import { LauncherError } from '../../core/errors.js';
import { withClusterId } from '../../util/cluster-files.js';
import { addListener } from '../../util/listeners.js';
import { isProcessAlive, signalProcess } from '../../util/processes.js';
import { spawnTracked, stopTracked, type TrackedProcess } from '../process-tracker.js';
import { roleEnvironment } from '../role-env.js';

const log = debug('tsparallel:launcher:mpi');

/** Options of the mpi launcher (`launchers.mpi` in config). */
export const mpiOptions = z.strictObject({
  /** The MPI starter and its leading arguments: `['mpiexec']` (default), `['mpirun']`, `['srun']`, a full path. */
  command: z.array(z.string().min(1)).min(1).default(['mpiexec']),
  /** Arguments after `-n N`, before the engine command: `['--hostfile', 'hosts']`, `['--oversubscribe']`, `['--mpi=pmix']`. */
  args: z.array(z.string()).default([]),
  /**
   * Which MPI the starter is, for forwarding the environment: `openmpi` (`-x NAME` per variable), `mpich` (Hydra:
   * `-genvlist NAMES`), `srun` (forwards everything), or `auto` (default: `srun` by its name, else asks
   * `--version`).
   */
  flavor: z.union([z.literal('auto'), z.literal('openmpi'), z.literal('mpich'), z.literal('srun')]).default('auto'),
  /**
   * Pass `--allow-run-as-root` to Open MPI's mpiexec. Off by default: running MPI as root is refused by Open MPI
   * on purpose; containers and CI that must may set this (or OMPI_ALLOW_RUN_AS_ROOT=1 and
   * OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in their environment).
   */
  allowRunAsRoot: z.boolean().default(false),
  /** More environment variables to forward to the ranks (their values from this process's environment). */
  forwardEnv: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)).default([]),
  /** How long mpiexec gets to end its ranks after SIGTERM before SIGKILL, in ms. */
  graceMs: z.number().int().nonnegative().default(10_000),
});

/** Options of the mpi launcher, parsed. */
export type MpiOptions = z.infer<typeof mpiOptions>;

/** The MPI flavors the launcher knows how to forward the environment for. */
export type MpiFlavor = 'openmpi' | 'mpich' | 'srun';

/**
 * Which MPI a starter is: `srun` by its name, else from its `--version` output (Open MPI says "Open MPI" or
 * "OpenRTE", MPICH and Intel MPI say "HYDRA").
 */
export async function detectMpiFlavor(command: readonly string[]): Promise<MpiFlavor | undefined> {
  if (path.basename(command[0]!) === 'srun') return 'srun';
  const output = await new Promise<string>((resolve) => {
    execFile(command[0]!, [...command.slice(1), '--version'], { timeout: 10_000 }, (_err, stdout, stderr) => resolve(`${stdout}\n${stderr}`));
  });
  if (/Open MPI|OpenRTE|open-mpi/i.test(output)) return 'openmpi';
  if (/HYDRA|MPICH|Intel\(R\) MPI/i.test(output)) return 'mpich';
  return undefined;
}

/** The arguments that forward the variables `names` to every rank, for this flavor. */
export function forwardEnvArgs(flavor: MpiFlavor | undefined, names: readonly string[]): string[] {
  if (!names.length) return [];
  if (flavor === 'openmpi') return names.flatMap((n) => ['-x', n]);
  if (flavor === 'mpich') return ['-genvlist', names.join(',')];
  return []; // srun exports the whole environment by default; an unknown starter gets it through its own environment
}

/**
 * The error blocks mpiexec wrote (Open MPI frames them in lines of dashes, MPICH's Hydra prefixes its lines with
 * `[mpiexec@host]` or frames them in `=` lines), or the last lines of its output when it wrote none.
 */
export function mpiErrorBlocks(output: string): string {
  const blocks: string[] = [];
  const framed = /^(-{20,}|={20,})\s*$/;
  let current: string[] | undefined;
  for (const line of output.split('\n')) {
    if (framed.test(line)) {
      if (current) {
        if (current.some((l) => l.trim())) blocks.push(current.join('\n').trim());
        current = undefined;
      } else current = [];
    } else if (current) current.push(line);
    else if (/^\[(mpiexec|mpirun|proxy)[^\]]*\]/.test(line) || /^srun: error:/.test(line)) blocks.push(line.trim());
  }
  if (blocks.length) return blocks.join('\n\n');
  return output.trim().split('\n').slice(-20).join('\n');
}

/** The rank whose end made mpiexec end the job, as Open MPI reports it, and how it ended. */
export interface MpiFailedRank {
  /** Its rank in the job's world. */
  rank: number;
  /** Its exit code, when it exited. */
  code: number | null;
  /** The signal that ended it, when one did. */
  signal: string | null;
}

/**
 * Which rank made mpiexec end the job, from Open MPI's report: `Process name: [[jobid,1],RANK]` followed by
 * `Exit code: N` (a non-zero exit; Open MPI then ends every rank, unless `--mca orte_abort_on_non_zero_status 0`),
 * or `process rank R with PID P on node H exited on signal N`. Undefined when the output names none (MPICH, srun).
 */
export function mpiFailedRank(output: string): MpiFailedRank | undefined {
  const exited = /Process name:\s*\[\[\d+,\d+\],(\d+)\]\s*\n\s*Exit code:\s*(\d+)/.exec(output);
  if (exited) return { rank: Number(exited[1]), code: Number(exited[2]), signal: null };
  const signalled = /process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+)/.exec(output);
  if (signalled) return { rank: Number(signalled[1]), code: null, signal: signalName(Number(signalled[2])) };
  return undefined;
}

/** The name of signal number `n`, from the host's table (`9` → `SIGKILL`), or `SIG<n>`. */
function signalName(n: number): string {
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `SIG${n}`;
}

/** The parent pid of a process on this host (Linux `/proc`), or undefined. */
function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Whether `pid` is `ancestor` or one of its descendants (Linux `/proc`). */
function descendsFrom(pid: number, ancestor: number): boolean {
  for (let p: number | undefined = pid, hops = 0; p && p > 1 && hops < 32; p = parentPid(p), hops++) {
    if (p === ancestor) return true;
  }
  return false;
}

/** One mpiexec the launcher started: the N ranks, or a one-rank replacement. */
interface MpiRun {
  proc: TrackedProcess;
  /** The engine ids it holds (its ranks, or the id a replacement asked for). */
  ids: number[];
  /** Ids whose end was already reported. */
  reported: Set<number>;
}

/** Starts N engines as the ranks of one `mpiexec`; the ranks' ids are their MPI ranks. */
export class MpiLauncher implements Launcher {
  readonly name = 'mpi';
  #state: LauncherState = 'idle';
  readonly #runs: MpiRun[] = [];
  readonly #exitHandlers: ((info: ExitInfo) => void)[] = [];
  #flavor?: MpiFlavor;

  constructor(
    private readonly context: LauncherContext,
    private readonly options: MpiOptions,
  ) {
    if (context.role !== 'engines') {
      throw new LauncherError(`the mpi launcher starts engines only; set controller.launcher to 'local' (or 'ssh') and engines.launcher to 'mpi'`);
    }
  }

  get state(): LauncherState {
    return this.#state;
  }
  /** The pids of the mpiexec processes (the ranks are their children, on this host or others). */
  get pids(): number[] {
    return this.#runs.map((r) => r.proc.pid);
  }
  get jobIds(): string[] {
    return [];
  }

  /** The command line of one mpiexec of `n` ranks (exported for tests and `tscluster doctor`). */
  commandLine(n: number, extraArgs: readonly string[] = []): string[] {
    const { command, args, allowRunAsRoot, forwardEnv } = this.options;
    const flavor = this.#flavor;
    return [
      ...command,
      '-n', String(n),
      ...(allowRunAsRoot && flavor === 'openmpi' ? ['--allow-run-as-root'] : []),
      // Only the names go on the command line; the values (the connection key among them) stay in the environment.
      ...forwardEnvArgs(flavor, [...Object.keys(this.context.env), ...forwardEnv]),
      ...args,
      ...this.context.program,
      ...this.context.args,
      '--mpi',
      ...extraArgs,
    ];
  }

  async start(): Promise<void> {
    this.#state = 'starting';
    this.#flavor = this.options.flavor === 'auto' ? await detectMpiFlavor(this.options.command) : this.options.flavor;
    log('MPI flavor: %s', this.#flavor ?? 'unknown');
    await this.#run(this.context.n, Array.from({ length: this.context.n }, (_, i) => i), []);
    this.#state = 'running';
  }

  async #run(n: number, ids: number[], extraArgs: string[]): Promise<void> {
    const command = this.commandLine(n, extraArgs);
    const { profileDir, clusterId, env } = this.context;
    const logFile = path.join(profileDir, 'log', `${withClusterId('mpiexec', clusterId)}-${process.pid}-${Date.now()}-${this.#runs.length}.log`);
    log('starting %s', command.join(' '));
    const proc = await spawnTracked(command, { env: roleEnvironment(this.context.role, env), logFile, detached: this.context.detached ?? false });
    const run: MpiRun = { proc, ids, reported: new Set() };
    this.#runs.push(run);
    void proc.exited.then((info) => {
      log('mpiexec %d exited (code %s, signal %s)', proc.pid, info.code, info.signal);
      const said = mpiErrorBlocks(info.stderrTail ?? '');
      // When Open MPI ends a job because one rank ended badly, that rank gets its own code or signal; the others
      // were ended by mpiexec, which their reports say.
      const failed = mpiFailedRank(info.stderrTail ?? '');
      const culprit = failed && ids[failed.rank];
      const how = failed && (failed.signal ? `was killed by ${failed.signal}` : `exited with code ${failed.code}`);
      // When mpiexec ends, every rank it held has ended: one report per rank not reported yet.
      for (const id of ids) {
        if (run.reported.has(id)) continue;
        run.reported.add(id);
        const where = `rank ${id} (mpiexec ${proc.pid})`;
        if (culprit === undefined) this.#emit({ id: where, code: info.code, signal: info.signal, stderrTail: said });
        else if (id === culprit) this.#emit({ id: where, code: failed!.code, signal: failed!.signal, stderrTail: said });
        else this.#emit({ id: where, code: null, signal: null, stderrTail: `ended by mpiexec: rank ${failed!.rank} ${how}, and Open MPI then ends the whole job\n${said}` });
      }
    });
  }

  #emit(info: ExitInfo): void {
    [...this.#exitHandlers].forEach((h) => h(info));
  }

  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#state === 'stopped') return;
    // mpiexec forwards SIGTERM to its ranks and waits for them.
    await Promise.all(this.#runs.map((r) => stopTracked(r.proc, options.graceMs ?? this.options.graceMs)));
    this.#state = 'stopped';
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    // Open MPI and Hydra forward SIGTERM, SIGINT, SIGUSR1/2 to every rank.
    for (const r of this.#runs) r.proc.kill(signal);
  }

  onExit(handler: (info: ExitInfo) => void): () => void {
    return addListener(this.#exitHandlers, handler);
  }

  /**
   * One rank by its pid, for ranks on this host (the children of a local mpiexec). A rank that ends cleanly
   * (exit 0, as an engine does on SIGTERM) leaves the others running; a replacement is a one-rank mpiexec whose
   * engine asks for the old id (`rank` and `size` in its namespace are then those of its own world: 0 and 1).
   */
  readonly engineControl: EngineControl = {
    owns: (engine) => this.#runOf(engine) !== undefined,
    signal: async (engine, signal) => {
      this.#local(engine);
      signalProcess(engine.pid, signal);
    },
    stop: async (engine, options = {}) => {
      const run = this.#local(engine);
      signalProcess(engine.pid, 'SIGTERM');
      const deadline = Date.now() + (options.graceMs ?? this.options.graceMs);
      while (isProcessAlive(engine.pid) && descendsFrom(engine.pid, run.proc.pid)) {
        if (Date.now() > deadline) signalProcess(engine.pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 50));
      }
      if (!run.reported.has(engine.id)) {
        run.reported.add(engine.id);
        this.#emit({ id: `rank ${engine.id} (pid ${engine.pid})`, code: null, signal: null });
      }
    },
    startReplacement: (engine) => this.#run(1, [engine.id], ['--engine-id', String(engine.id)]),
  };

  #runOf(engine: EngineRef): MpiRun | undefined {
    const live = this.#runs.filter((r) => r.proc.running);
    if (engine.hostname === hostname()) {
      const local = live.find((r) => descendsFrom(engine.pid, r.proc.pid));
      if (local) return local;
    }
    // A rank on another host: known by its id, but not reachable from here.
    return live.find((r) => r.ids.includes(engine.id) && !r.reported.has(engine.id));
  }

  #local(engine: EngineRef): MpiRun {
    const run = this.#runOf(engine);
    if (!run) throw new LauncherError(`engine ${engine.id} (pid ${engine.pid} on ${engine.hostname}) is not a rank of this mpi launcher`);
    if (engine.hostname !== hostname() || !descendsFrom(engine.pid, run.proc.pid)) {
      throw new LauncherError(
        `engine ${engine.id} is MPI rank ${engine.id} on host ${engine.hostname}: the mpi launcher controls single ranks on this host ` +
          `(${hostname()}) only; stop the whole set with cluster.stop(), or start engines on other hosts with the ssh launcher`,
      );
    }
    return run;
  }
}

/** The `mpi` launcher plugin. */
export const mpiLauncher = defineLauncher({
  name: 'mpi',
  description: 'engines as the ranks of one mpiexec (Open MPI, MPICH) or srun; engine id = MPI rank',
  options: mpiOptions,
  placesRemotely: true,
  create: (context, options) => new MpiLauncher(context, options),
});
