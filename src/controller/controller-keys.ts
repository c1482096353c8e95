/**
 * The controller's keys file, `security/tsparallel[-ID]-controller-keys.json` (mode 0600): what a controller with
 * `controller.journal` leaves next to its journal so that a successor started with `--restore` is reachable by the
 * clients and engines of the one that died. It holds the HMAC key, the CURVE key pair (when the wire is encrypted:
 * clients and engines hold its public half and complete no handshake with another), the three ports and the pid.
 *
 * The file is written once the controller listens and removed when it stops cleanly, together with the journal; so
 * a journal and a keys file naming a dead pid mean a controller that died. The secret keys are never logged and
 * never put on a command line: a restored controller reads them from here itself.
 * @module
 * @internal
 */
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';
import type { CurveKeyPair } from '../core/transport.js';
import { parseCurveKeyPair } from '../transport/curve.js';
import { controllerKeysFileName } from '../util/cluster-files.js';

/** What the keys file holds. @internal */
export interface ControllerKeys {
  /** The format's version. */
  version: 1;
  /** The cluster's id within its profile. */
  clusterId: string;
  /** The transport it listened with. */
  transport: string;
  /** The controller that wrote it. */
  controller: { pid: number; hostname: string };
  /** The HMAC key every message is signed with. */
  key: string;
  /** The ports it listens on. */
  ports: { client: number; engine: number; heart: number };
  /** Its CURVE server key pair, when the wire is encrypted. */
  curve?: CurveKeyPair;
  /** When it was written (ISO 8601). */
  created: string;
}

/** The keys file of a cluster, in its profile's `security/`. @internal */
export function controllerKeysFile(securityDir: string, clusterId: string): string {
  return path.join(securityDir, controllerKeysFileName(clusterId));
}

/** The port of a `tcp://host:port` address, or NaN. @internal */
export function portOf(address: string | undefined): number {
  return Number(/:(\d+)$/.exec(address ?? '')?.[1] ?? NaN);
}

/** Write the keys file: created 0600 under a temporary name, then renamed (a reader sees all of it or nothing). @internal */
export async function writeControllerKeys(file: string, keys: ControllerKeys): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600 });
  await rename(tmp, file);
}

/**
 * Read and check a keys file.
 * @throws ConfigError naming the file and the field at fault (never a key) when it is missing or malformed.
 */
export async function readControllerKeys(file: string): Promise<ControllerKeys> {
  let keys: Partial<ControllerKeys>;
  try {
    keys = JSON.parse(await readFile(file, 'utf8')) as Partial<ControllerKeys>;
  } catch (cause) {
    throw new ConfigError(`cannot read the controller's keys file ${file}: ${(cause as Error).message}`, { cause });
  }
  const bad = (field: string) => new ConfigError(`the controller's keys file ${file} has no valid '${field}'; it was not written by a tsparallel controller (remove it, with the journal beside it, to start afresh)`);
  if (keys?.version !== 1) throw bad('version');
  if (typeof keys.key !== 'string' || !keys.key) throw bad('key');
  if (typeof keys.transport !== 'string') throw bad('transport');
  if (typeof keys.controller?.pid !== 'number' || typeof keys.controller.hostname !== 'string') throw bad('controller');
  if (!keys.ports || !(['client', 'engine', 'heart'] as const).every((p) => Number.isInteger(keys.ports![p]) && keys.ports![p] > 0)) throw bad('ports');
  if (keys.curve !== undefined) {
    const curve = parseCurveKeyPair(keys.curve);
    if (!curve) throw bad('curve');
    keys.curve = curve;
  }
  return keys as ControllerKeys;
}

/** Remove the keys file (a clean stop: nothing is left to restore). @internal */
export async function removeControllerKeys(file: string): Promise<void> {
  await unlink(file).catch(() => {});
}
