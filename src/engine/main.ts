/**
 * Starting an engine from command-line arguments: shared by the `tsengine` command and the in-process role runner.
 * @module
 */
import { parseArgs } from 'node:util';
import { readConnectionFile } from '../wire/connection.js';
import { ConfigError } from '../core/errors.js';
import { CONNECTION_INFO_ENV, connectionInfoFromEnv } from '../wire/connection-env.js';
import type { RunningRole } from '../core/launcher.js';
import type { TransportFactory } from '../core/transport.js';
import { Engine, REGISTRATION_TIMEOUT_MS } from './engine.js';
import { startEngines } from './multi.js';

import type { Namespace } from './namespace.js';

/** The engine's command-line options, for `tsengine --help`. */
export const ENGINE_USAGE = `Usage: tsengine [--connection-file FILE] [options]
  --connection-file FILE        the engine connection file the controller wrote (security/tsparallel[-ID]-engine.json);
                                without it, the file's content (JSON) is read from TSPARALLEL_CONNECTION_INFO
  --registration-timeout-ms MS  how long to wait for the controller to accept this engine (default ${REGISTRATION_TIMEOUT_MS})
  --count K                     run K engines in this one process (default 1), for scale tests only: each is a full
                                engine (registration, heartbeat, isolated namespace) but they share the process's CPU,
                                answer heartbeats on the main thread and have no direct endpoint
  --log-level LEVEL             debug | info | warn | error
  --help, --version`;

/** What an engine's command line carries. */
export interface EngineLaunch {
  /** The engine connection file the controller wrote. */
  connectionFile: string;
  /** How long to wait for the controller to accept the engine, in ms (default {@link REGISTRATION_TIMEOUT_MS}). */
  registrationTimeoutMs?: number;
}

/**
 * The `tsengine` arguments that start an engine: the inverse of {@link parseEngineArgs}, so the cluster and the
 * engine share one definition of the command line.
 */
export function toEngineArgs(launch: EngineLaunch): string[] {
  return [
    '--connection-file', launch.connectionFile,
    ...(launch.registrationTimeoutMs !== undefined ? ['--registration-timeout-ms', String(launch.registrationTimeoutMs)] : []),
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
        'log-level': { type: 'string' },
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
  const count = Number(values.count);
  if (!Number.isInteger(count) || count <= 0) throw new ConfigError(`--count takes a positive whole number of engines, got '${values.count}'`);
  return {
    connectionFile: values['connection-file'] ?? '',
    registrationTimeoutMs: timeout,
    count,
    logLevel: values['log-level'],
    help: values.help ?? false,
    version: values.version ?? false,
  };
}

/** Start an engine from its command-line arguments. */
export async function startEngine(
  argv: readonly string[],
  transports: TransportFactory,
  options: { namespace?: Namespace } = {},
): Promise<RunningRole & { engine: Engine }> {
  const args = parseEngineArgs(argv);
  // Stacks of errors in user modules compiled with source maps (TypeScript's sourceMap) point at the .ts lines.
  process.setSourceMapsEnabled(true);
  const info = args.connectionFile ? await readConnectionFile(args.connectionFile) : connectionInfoFromEnv()!;
  if (args.count > 1) {
    const many = await startEngines({ count: args.count, info, transport: transports.create(info.transport), registrationTimeoutMs: args.registrationTimeoutMs });
    return { ...many, engine: many.engines[0]! };
  }
  const engine = new Engine({
    transport: transports.create(info.transport),
    info,
    namespace: options.namespace,
    registrationTimeoutMs: args.registrationTimeoutMs,
  });
  await engine.start();
  return { engine, exited: engine.stopped, stop: () => engine.stop(0) };
}
