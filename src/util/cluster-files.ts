/**
 * The names of a cluster's files, written once. Every file of a cluster carries its id, except the profile's
 * default cluster (the empty id): `cluster.json` and `cluster-ID.json`, `tsparallel-client.json` and
 * `tsparallel-ID-client.json`, and so on.
 * @module
 * @internal
 */
import path from 'node:path';

/**
 * `stem` with the cluster id appended (`stem-ID`), or `stem` alone for the default cluster.
 * @internal
 */
export function withClusterId(stem: string, clusterId: string): string {
  return clusterId ? `${stem}-${clusterId}` : stem;
}

/** Where a cluster's files are, in its profile. @internal */
export interface ClusterFilePaths {
  /** The client connection file: `security/tsparallel[-ID]-client.json`. */
  clientConnectionFile: string;
  /** The engine connection file: `security/tsparallel[-ID]-engine.json`. */
  engineConnectionFile: string;
  /** The cluster file: `security/cluster[-ID].json`. */
  clusterFile: string;
  /** The pid file `tscluster start` writes: `pid/tscluster[-ID].pid`. */
  pidFile: string;
  /** The control socket `tscluster start` listens on, when its path fits: `security/tscluster[-ID].sock`. */
  controlSocket: string;
  /**
   * The CA certificates local engines read instead of `NODE_EXTRA_CA_CERTS`, less Node's own roots:
   * `security/tsparallel[-ID]-extra-ca.pem` (src/launchers/extra-ca.ts).
   */
  extraCaFile: string;
}

/**
 * The paths of a cluster's files in a profile (`security` and `pid` are the profile's folders).
 * @internal
 */
export function clusterFilePaths(profile: { security: string; pid: string }, clusterId: string): ClusterFilePaths {
  return {
    clientConnectionFile: path.join(profile.security, connectionFileName(clusterId, 'client')),
    engineConnectionFile: path.join(profile.security, connectionFileName(clusterId, 'engine')),
    clusterFile: path.join(profile.security, clusterFileName(clusterId)),
    pidFile: path.join(profile.pid, `${withClusterId('tscluster', clusterId)}.pid`),
    controlSocket: path.join(profile.security, `${withClusterId('tscluster', clusterId)}.sock`),
    extraCaFile: path.join(profile.security, `${withClusterId('tsparallel', clusterId)}-extra-ca.pem`),
  };
}

/**
 * The files a cluster writes into its profile and removes when it stops: its cluster file, its connection files and
 * the engines' CA file. (`tscluster start` adds its pid file and control socket, and removes those itself.)
 * @internal
 */
export function filesOfCluster(paths: ClusterFilePaths): string[] {
  return [paths.clusterFile, paths.clientConnectionFile, paths.engineConnectionFile, paths.extraCaFile];
}

/** The file name of a connection file: `tsparallel[-ID]-<role>.json` (re-exported by the wire's connection module). */
export function connectionFileName(clusterId: string, role: 'client' | 'engine'): string {
  return `${withClusterId('tsparallel', clusterId)}-${role}.json`;
}

/**
 * The controller's task journal's name: `tsparallel[-ID]-journal.jsonl` (in the profile's `security/`).
 * @internal
 */
export function journalFileName(clusterId: string): string {
  return `${withClusterId('tsparallel', clusterId)}-journal.jsonl`;
}

/**
 * The file next to the journal that holds what a restored controller needs besides it (its predecessor's HMAC key,
 * CURVE key pair, ports and pid): `tsparallel[-ID]-controller-keys.json` (in the profile's `security/`, mode 0600).
 * @internal
 */
export function controllerKeysFileName(clusterId: string): string {
  return `${withClusterId('tsparallel', clusterId)}-controller-keys.json`;
}

/**
 * The cluster file's name: `cluster[-ID].json`.
 * @internal
 */
export function clusterFileName(clusterId: string): string {
  return `${withClusterId('cluster', clusterId)}.json`;
}
