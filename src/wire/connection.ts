/**
 * Connection files: what a client or an engine needs to reach a controller (addresses, transport, HMAC key).
 * The controller writes one for clients and one for engines into the profile's `security/`, mode 0600.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { isProcessAlive } from '../util/processes.js';

/** Who a connection file is for. */
export type ConnectionRole = 'client' | 'engine';

/** The content of a connection file. */
export interface ConnectionInfo {
  /** The file format's version. */
  version: 1;
  /** Which role it is for. */
  role: ConnectionRole;
  /** The transport every role must use (`zeromq`, `in-process`). */
  transport: string;
  /** The cluster's id ('' for the profile's default cluster). */
  clusterId: string;
  /** The HMAC-SHA256 key, hex. Secret: never logged. */
  key: string;
  /** The signature scheme; only `hmac-sha256` (large buffers enter it by a Poly1305 tag: see `wire/protocol`). */
  signatureScheme: 'hmac-sha256';
  /**
   * The controller's CURVE public key (Z85) when the wire is encrypted: every role dials with it, and a controller
   * without the matching secret key (made fresh at each start, kept in its memory only) completes no handshake.
   */
  curveServerKey?: string;
  /** How far a message's date may be from the receiver's clock, in ms (replay protection; default 300000). */
  replayWindowMs?: number;
  /** The controller's endpoint for this role (clients: requests; engines: registration and tasks). */
  address: string;
  /** Engines only: the controller's heartbeat endpoint. */
  heartbeatAddress?: string;
  /** Engines only: how often the controller pings, in ms. */
  heartbeatMs?: number;
  /** Engines only: how long without a ping before an engine decides the controller is gone, in ms. */
  heartbeatTimeoutMs?: number;
  /** Engines only: how long to wait for a silent controller to come back (a restart with `--restore`) before exiting, in ms. */
  reconnectMs?: number;
  /** The controller process, for liveness checks from the same host. */
  controller: {
    /** The controller's process id. */
    pid: number;
    /** The host it runs on. */
    hostname: string;
  };
  /** When the controller wrote the file (ISO 8601). */
  created: string;
}

export { connectionFileName } from '../util/cluster-files.js';

/** A fresh random HMAC key (256 bits, hex). */
export function newKey(): string {
  return randomBytes(32).toString('hex');
}

/** The host name written into connection files. */
export function thisHost(): string {
  return hostname();
}

/** Write a connection file atomically (temporary file, then rename) with mode 0600. */
export async function writeConnectionFile(file: string, info: ConnectionInfo): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * Read and check a connection file.
 * @throws ConfigError naming the file and the problem when it is missing or malformed.
 */
export async function readConnectionFile(file: string): Promise<ConnectionInfo> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(`cannot read connection file ${file}: ${(cause as Error).message}`, { cause });
  }
  let info: ConnectionInfo;
  try {
    info = JSON.parse(text) as ConnectionInfo;
  } catch (cause) {
    throw new ConfigError(`connection file ${file} is not valid JSON; the controller rewrites it when it starts`, { cause });
  }
  for (const field of ['transport', 'key', 'address'] as const) {
    if (typeof info[field] !== 'string' || !info[field]) {
      throw new ConfigError(`connection file ${file} has no '${field}'; it was not written by a tsparallel controller`);
    }
  }
  if (info.curveServerKey !== undefined && (typeof info.curveServerKey !== 'string' || info.curveServerKey.length !== 40)) {
    throw new ConfigError(`connection file ${file} has a malformed 'curveServerKey' (40 characters of Z85 expected); the controller rewrites it when it starts`);
  }
  return info;
}

/** Whether the controller named in a connection file is alive, when that can be told from here (same host). */
export function isControllerAlive(info: ConnectionInfo): boolean | undefined {
  if (info.controller?.hostname !== thisHost()) return undefined;
  return isProcessAlive(info.controller.pid);
}
