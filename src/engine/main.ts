/**
 * Starting an engine from command-line arguments: shared by the `tsengine` command and the in-process role runner.
 * @module
 */
import { access } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { readConnectionFile } from '../wire/connection.js';
import { ConfigError } from '../core/errors.js';
import { CONNECTION_INFO_ENV, connectionInfoFromEnv } from '../wire/connection-env.js';
import type { RunningRole } from '../core/launcher.js';
import type { TransportFactory } from '../core/transport.js';
import { DEFAULT_GRACE_MS, Engine, REGISTRATION_TIMEOUT_MS } from './engine.js';
import { startEngines } from './multi.js';

import { GlobalNamespace, type Namespace } from './namespace.js';

/** The engine's command-line options, for `tsengine --help`. */
export const ENGINE_USAGE = `Usage: tsengine [--connection-file FILE] [options]
  --connection-file FILE        the engine connection file the controller wrote (security/tsparallel[-ID]-engine.json);
                                without it, the file's content (JSON) is read from TSPARALLEL_CONNECTION_INFO
  --registration-timeout-ms MS  how long to wait for the controller to accept this engine (default ${REGISTRATION_TIMEOUT_MS})
  --wait-for-file-ms MS         wait up to MS for the connection file to appear (an engine started together with
                                its controller, which writes the file once it listens); default 0: it must exist
  --mpi                         started by mpiexec/srun: the engine's id is its MPI rank (OMPI_COMM_WORLD_RANK,
                                PMI_RANK or PMIX_RANK), and \`rank\` and \`size\` are set in its namespace
  --engine-id N                 ask the controller for this id (refused when it is taken)
  --count K                     run K engines in this one process (default 1), for scale tests only: each is a full
                                engine (registration, heartbeat, isolated namespace) but they share the process's CPU,
                                answer heartbeats on the main thread and have no direct endpoint
  --grace-ms MS                 how long a task past its timeoutMs may ignore its abort signal before this engine
                                kills itself (default ${DEFAULT_GRACE_MS}; a task's own graceMs wins)
  --replaces ID                 the id of the dead engine this one replaces (set by engine supervision)
  --log-level LEVEL             debug | info | warn | error
  --help, --version`;

/** What an engine's command line carries. */
export interface EngineLaunch {
  /** The engine connection file the controller wrote. */
  connectionFile: string;
  /** How long to wait for the controller to accept the engine, in ms (default {@link REGISTRATION_TIMEOUT_MS}). */
  registrationTimeoutMs?: number;
  /** The grace of tasks past their time limit, in ms (default {@link DEFAULT_GRACE_MS}). */
  graceMs?: number;
  /** The id of the dead engine this one replaces (engine supervision). */
  replaces?: number;
  /** How long to wait for the connection file to appear, in ms (an engine started together with its controller). */
  waitForFileMs?: number;
}

/**
 * The `tsengine` arguments that start an engine: the inverse of {@link parseEngineArgs}, so the cluster and the
 * engine share one definition of the command line.
 */
export function toEngineArgs(launch: EngineLaunch): string[] {
  return [
    '--connection-file', launch.connectionFile,
    ...(launch.registrationTimeoutMs !== undefined ? ['--registration-timeout-ms', String(launch.registrationTimeoutMs)] : []),
    ...(launch.graceMs !== undefined ? ['--grace-ms', String(launch.graceMs)] : []),
    ...(launch.replaces !== undefined ? ['--replaces', String(launch.replaces)] : []),
    ...(launch.waitForFileMs ? ['--wait-for-file-ms', String(launch.waitForFileMs)] : []),
  ];
}

/** Parse `tsengine` arguments. @throws ConfigError on a bad or missing argument. */
export function parseEngineArgs(argv: readonly string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        'connection-file': { type: 'string' },
        'registration-timeout-ms': { type: 'string', default: String(REGISTRATION_TIMEOUT_MS) },
        count: { type: 'string', default: '1' },
        'grace-ms': { type: 'string', default: String(DEFAULT_GRACE_MS) },
        replaces: { type: 'string' },
        'wait-for-file-ms': { type: 'string', default: '0' },
        'log-level': { type: 'string' },
        mpi: { type: 'boolean' },
        'engine-id': { type: 'string' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (cause) {
    throw new ConfigError(`${(cause as Error).message}\n${ENGINE_USAGE}`, { cause });
  }
  if (!values['connection-file'] && !values.help && !values.version && !process.env[CONNECTION_INFO_ENV]) {
    throw new ConfigError(`tsengine needs --connection-file FILE (the engine connection file in the profile's security/), or the file's content in ${CONNECTION_INFO_ENV}\n${ENGINE_USAGE}`);
  }
  const timeout = Number(values['registration-timeout-ms']);
  if (!Number.isInteger(timeout) || timeout <= 0) throw new ConfigError(`--registration-timeout-ms takes a positive whole number, got '${values['registration-timeout-ms']}'`);
  let engineId: number | undefined;
  if (values['engine-id'] !== undefined) {
    engineId = Number(values['engine-id']);
    if (!Number.isSafeInteger(engineId) || engineId < 0) throw new ConfigError(`--engine-id takes a whole number >= 0, got '${values['engine-id']}'`);
  }
  const count = Number(values.count);
  if (!Number.isInteger(count) || count <= 0) throw new ConfigError(`--count takes a positive whole number of engines, got '${values.count}'`);
  const graceMs = Number(values['grace-ms']);
  if (!Number.isInteger(graceMs) || graceMs < 0) throw new ConfigError(`--grace-ms takes a whole number >= 0, got '${values['grace-ms']}'`);
  const waitForFileMs = Number(values['wait-for-file-ms']);
  if (!Number.isInteger(waitForFileMs) || waitForFileMs < 0) throw new ConfigError(`--wait-for-file-ms takes a whole number >= 0, got '${values['wait-for-file-ms']}'`);
  const replaces = values.replaces === undefined ? undefined : Number(values.replaces);
  if (replaces !== undefined && !(Number.isInteger(replaces) && replaces >= 0)) throw new ConfigError(`--replaces takes an engine id (a whole number >= 0), got '${values.replaces}'`);
  return {
    connectionFile: values['connection-file'] ?? '',
    mpi: values.mpi ?? false,
    engineId,
    registrationTimeoutMs: timeout,
    count,
    graceMs,
    replaces,
    waitForFileMs,
    logLevel: values['log-level'],
    help: values.help ?? false,
    version: values.version ?? false,
  };
}

/**
 * Start an engine from its command-line arguments. `killWhenStuck` (the `tsengine` process only, never an engine
 * sharing a process with others) lets the task watchdog kill the process; see `engine/watchdog.ts`.
 */
export async function startEngine(
  argv: readonly string[],
  transports: TransportFactory,
  options: { namespace?: Namespace; killWhenStuck?: boolean } = {},
): Promise<RunningRole & { engine: Engine }> {
  const args = parseEngineArgs(argv);
  // Stacks of errors in user modules compiled with source maps (TypeScript's sourceMap) point at the .ts lines.
  process.setSourceMapsEnabled(true);
  if (args.connectionFile && args.waitForFileMs > 0) await waitForFile(args.connectionFile, args.waitForFileMs);
  const info = args.connectionFile ? await readConnectionFile(args.connectionFile) : connectionInfoFromEnv()!;
  if (args.count > 1) {
    const many = await startEngines({ count: args.count, info, transport: transports.create(info.transport), registrationTimeoutMs: args.registrationTimeoutMs });
    return { ...many, engine: many.engines[0]! };
  }
  const mpi = args.mpi ? mpiWorld() : undefined;
  const namespace = options.namespace ?? new GlobalNamespace();
  if (mpi) {
    namespace.set('rank', mpi.rank);
    namespace.set('size', mpi.size);
    // Thousands of ranks registering at once would flood the controller: above 100, they come in waves of 100.
    const delay = mpiStaggerMs(mpi);
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  }
  const engine = new Engine({
    transport: transports.create(info.transport),
    info,
    namespace,
    registrationTimeoutMs: args.registrationTimeoutMs,
    catchProcessErrors: true,
    requestedId: args.engineId ?? mpi?.rank,
    killWhenStuck: options.killWhenStuck ?? false,
    graceMs: args.graceMs,
    replaces: args.replaces,
  });
  await engine.start();
  // A task (or anything) calling process.exit() ends the process without stopping the engine: tell the controller
  // the code first. Prepended, so this runs before any other 'exit' listener.
  const onExit = (code: number) => engine.exiting(code);
  process.prependListener('exit', onExit);
  void engine.stopped.then(() => process.off('exit', onExit));
  return { engine, exited: engine.stopped, stop: () => engine.stop(0) };
}

/**
 * Wait until `file` exists, for at most `timeoutMs`. The controller writes its connection files by renaming a
 * finished temporary file, so once the name exists the content is complete.
 * @throws ConfigError when it does not appear in time.
 */
async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await access(file).then(() => true, () => false))) {
    if (Date.now() > deadline) {
      throw new ConfigError(`the connection file ${file} did not appear within ${timeoutMs} ms (--wait-for-file-ms): did the controller start? See its log in the profile's log/ directory`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** An MPI process's place in its world. */
export interface MpiWorld {
  /** Its rank (0 … size-1). */
  rank: number;
  /** How many ranks the world has. */
  size: number;
}

/** The environment variables that carry the rank and the size: Open MPI's, MPICH/Hydra's (PMI), PMIx's. */
const MPI_ENV = [
  ['OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE'],
  ['PMI_RANK', 'PMI_SIZE'],
  ['PMIX_RANK', 'PMIX_SIZE'],
] as const;

/**
 * This process's MPI rank and world size, from the variables mpiexec (Open MPI, MPICH) or srun set.
 * @throws ConfigError when none is set (`--mpi` outside mpiexec).
 */
export function mpiWorld(env: NodeJS.ProcessEnv = process.env): MpiWorld {
  for (const [rankVar, sizeVar] of MPI_ENV) {
    const text = env[rankVar];
    if (text === undefined || text === '') continue;
    const rank = Number(text);
    if (!Number.isSafeInteger(rank) || rank < 0) throw new ConfigError(`${rankVar} is '${text}', not an MPI rank`);
    const size = Number(env[sizeVar] ?? env.SLURM_NTASKS ?? NaN);
    return { rank, size: Number.isSafeInteger(size) && size > rank ? size : rank + 1 };
  }
  throw new ConfigError(
    `tsengine --mpi found no MPI rank (none of ${MPI_ENV.map(([r]) => r).join(', ')} is set): start it with mpiexec or srun, or drop --mpi`,
  );
}

/** How long a rank waits before registering: 0 up to 100 ranks; above, 250 ms per wave of 100 ranks. */
export function mpiStaggerMs(world: MpiWorld): number {
  return world.size > 100 ? Math.floor(world.rank / 100) * 250 : 0;
}
