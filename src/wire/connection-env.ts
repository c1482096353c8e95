/**
 * Connection info through the environment: engines placed on hosts without the profile's file system receive the
 * engine connection file's content (JSON) in `TSPARALLEL_CONNECTION_INFO`, so no file needs to be shared and the
 * key never appears on a command line (process lists are world-readable; a process's environment is not).
 * @module
 */
import type { ConnectionInfo } from './connection.js';
import { ConfigError } from '../core/errors.js';

/** The environment variable that carries an engine's connection info (JSON) when it gets no file. */
export const CONNECTION_INFO_ENV = 'TSPARALLEL_CONNECTION_INFO';

/**
 * The connection info in {@link CONNECTION_INFO_ENV}, or `undefined` when the variable is not set.
 * @throws ConfigError when it is set but is not a connection file's content.
 */
export function connectionInfoFromEnv(env: NodeJS.ProcessEnv = process.env): ConnectionInfo | undefined {
  const text = env[CONNECTION_INFO_ENV];
  if (!text) return undefined;
  let info: ConnectionInfo;
  try {
    info = JSON.parse(text) as ConnectionInfo;
  } catch (cause) {
    throw new ConfigError(`${CONNECTION_INFO_ENV} is not valid JSON; it must hold the content of an engine connection file`, { cause });
  }
  for (const field of ['transport', 'key', 'address'] as const) {
    if (typeof info?.[field] !== 'string' || !info[field]) {
      throw new ConfigError(`${CONNECTION_INFO_ENV} has no '${field}'; it must hold the content of an engine connection file`);
    }
  }
  return info;
}
