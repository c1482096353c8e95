/**
 * Running clusters as other processes see them: the cluster files in a profile's `security/`, whether the processes
 * they name are alive, stopping a cluster from its file, and cleaning the files dead clusters left behind. Used by
 * `tscluster stop`, `list`, `engines` and `shell`.
 * @module
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import debug from 'debug';
import { readClusterFile, type ClusterFile } from '../cluster/cluster.js';
import { connectionFileName, isControllerAlive, readConnectionFile } from '../core/connection.js';
import { ConfigError, TimeoutError, TsParallelError } from '../core/errors.js';
import type { ProfilePaths } from '../core/profile.js';
import { controlAddress } from './control.js';

const log = debug('tsparallel:cli:running');

/** The cluster file's name for a cluster id (as `Cluster` writes it). */
export function clusterFileName(clusterId: string): string {
  return `cluster${clusterId ? '-' + clusterId : ''}.json`;
}

/** The pid file `tscluster start` writes in the profile's `pid/`: `tscluster[-ID].pid`. */
export function pidFilePath(profile: ProfilePaths, clusterId: string): string {
  return path.join(profile.pid, `tscluster${clusterId ? '-' + clusterId : ''}.pid`);
}

/** How a cluster's id reads in messages: the default cluster has the empty id. */
export function describeId(clusterId: string): string {
  return clusterId ? `'${clusterId}'` : '(default)';
}

/** Whether a process exists here and has not exited (a zombie that is not reaped yet counts as gone). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform === 'linux') {
    try {
      return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
    } catch {
      return true;
    }
  }
  return true;
}

/**
 * Whether a live pid recorded long ago still looks like one of our processes. Pids are reused, so before signalling a
 * recorded pid whose owner is gone we check its command line where the system shows it (Linux); elsewhere we trust it.
 */
export function looksLikeOurs(pid: number): boolean {
  if (process.platform !== 'linux') return true;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /ts(engine|controller|cluster)|tsparallel/.test(cmdline);
  } catch {
    return true;
  }
}

/** A cluster file found in a profile, with what could be told about its processes. */
export interface FoundCluster {
  /** The profile it belongs to. */
  profile: ProfilePaths;
  /** The cluster file's path. */
  file: string;
  /** Its content. */
  info: ClusterFile;
  /** Whether the process that started it is alive (`undefined`: it runs on another host). */
  ownerAlive: boolean | undefined;
  /** Whether its controller is alive (`undefined`: cannot be told from here). */
  controllerAlive: boolean | undefined;
  /** Whether `tscluster start` runs it (its pid file names the owner). */
  startedByCli: boolean;
}

/** Whether a found cluster is dead: neither the process that started it nor its controller is alive here. */
export function isStale(found: FoundCluster): boolean {
  return found.ownerAlive === false && found.controllerAlive !== true;
}

/** Every pid a cluster file records (controller first), without duplicates. */
export function recordedPids(info: ClusterFile): number[] {
  const pids = [...(info.launchers?.controller?.pids ?? []), ...(info.launchers?.engines ?? []).flatMap((l) => l.pids)];
  return [...new Set(pids)];
}

/** Read the cluster files of a profile (unreadable ones are skipped with a debug line). */
export async function findClusters(profile: ProfilePaths): Promise<FoundCluster[]> {
  const names = (await readdir(profile.security).catch(() => [] as string[])).filter((n) => /^cluster(-.+)?\.json$/.test(n)).sort();
  const found: FoundCluster[] = [];
  for (const name of names) {
    const file = path.join(profile.security, name);
    let info: ClusterFile;
    try {
      info = await readClusterFile(file);
    } catch (err) {
      log('skipping %s: %s', file, (err as Error).message);
      continue;
    }
    found.push(await describeCluster(profile, file, info));
  }
  return found;
}

async function describeCluster(profile: ProfilePaths, file: string, info: ClusterFile): Promise<FoundCluster> {
  const here = !info.hostname || info.hostname === hostname();
  const ownerAlive = here ? isPidAlive(info.pid) : undefined;
  let controllerAlive: boolean | undefined;
  const connection = await readConnectionFile(info.connectionFiles?.client ?? path.join(profile.security, connectionFileName(info.clusterId, 'client'))).catch(() => undefined);
  if (connection) controllerAlive = isControllerAlive(connection);
  else if (here) controllerAlive = (info.launchers?.controller?.pids ?? []).some(isPidAlive);
  const pidText = await readFile(pidFilePath(profile, info.clusterId), 'utf8').catch(() => '');
  return { profile, file, info, ownerAlive, controllerAlive, startedByCli: Number(pidText.trim()) === info.pid };
}

/**
 * The running cluster of a profile that a command should act on: the one with `clusterId` when given; otherwise
 * the default cluster when it runs, or the only running one.
 * @throws TsParallelError (exit 1) when there is none; ConfigError (exit 2) when several run and none was chosen.
 */
export async function pickRunningCluster(profile: ProfilePaths, clusterId: string | undefined): Promise<FoundCluster> {
  const all = await findClusters(profile);
  const running = all.filter((c) => !isStale(c));
  const how = `start one with \`tscluster start --profile ${profile.name}\``;
  if (clusterId !== undefined) {
    const match = all.find((c) => c.info.clusterId === clusterId);
    if (!match) throw new TsParallelError(`no cluster ${describeId(clusterId)} in profile '${profile.name}' (no ${path.join(profile.security, clusterFileName(clusterId))}); running: ${running.map((c) => describeId(c.info.clusterId)).join(', ') || 'none'}`);
    return match;
  }
  if (running.length === 0) {
    const stale = all.length ? ` (${all.length} stale cluster file(s) of dead clusters; \`tscluster list\` cleans them)` : '';
    throw new TsParallelError(`no running cluster in profile '${profile.name}'${stale}: ${how}`);
  }
  const byDefault = running.find((c) => c.info.clusterId === '');
  if (byDefault) return byDefault;
  if (running.length === 1) return running[0]!;
  throw new ConfigError(
    `profile '${profile.name}' has ${running.length} running clusters (${running.map((c) => describeId(c.info.clusterId)).join(', ')}); choose one with --cluster-id ID`,
  );
}

/** Remove the files a cluster leaves in its profile: cluster file, connection files, pid file, control socket. */
export async function removeClusterFiles(profile: ProfilePaths, info: ClusterFile): Promise<string[]> {
  const files = [
    path.join(profile.security, clusterFileName(info.clusterId)),
    info.connectionFiles?.client ?? path.join(profile.security, connectionFileName(info.clusterId, 'client')),
    info.connectionFiles?.engine ?? path.join(profile.security, connectionFileName(info.clusterId, 'engine')),
    pidFilePath(profile, info.clusterId),
    ...(process.platform === 'win32' ? [] : [controlAddress(profile.security, info.clusterId)]),
  ];
  const removed: string[] = [];
  for (const f of files) {
    try {
      await unlink(f);
      removed.push(f);
    } catch {
      // already gone
    }
  }
  return removed;
}

/**
 * Files of dead clusters that have no cluster file: connection files whose controller is gone, and `tscluster`
 * pid files whose process is gone. Returns their paths (not removed).
 */
export async function findOrphanFiles(profile: ProfilePaths, clusters: readonly FoundCluster[]): Promise<string[]> {
  const known = new Set(clusters.map((c) => c.info.clusterId));
  const orphans: string[] = [];
  for (const name of await readdir(profile.security).catch(() => [] as string[])) {
    const m = /^tsparallel(?:-(.+))?-(client|engine)\.json$/.exec(name);
    if (!m || known.has(m[1] ?? '')) continue;
    const file = path.join(profile.security, name);
    const info = await readConnectionFile(file).catch(() => undefined);
    if (!info || isControllerAlive(info) === false) orphans.push(file);
  }
  for (const name of await readdir(profile.pid).catch(() => [] as string[])) {
    const m = /^tscluster(?:-(.+))?\.pid$/.exec(name);
    if (!m || known.has(m[1] ?? '')) continue;
    const file = path.join(profile.pid, name);
    const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!isPidAlive(pid)) orphans.push(file);
  }
  return orphans;
}

/** Wait until none of `pids` is alive. @throws TimeoutError listing the survivors after `timeoutMs`. */
export async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isPidAlive);
    if (alive.length === 0) return;
    if (Date.now() > deadline) throw new TimeoutError(`processes ${alive.join(', ')} are still running after ${timeoutMs} ms`, timeoutMs);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Send `signal` to each pid that is alive, ignoring ones that exit meanwhile. */
export function signalPids(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      if (isPidAlive(pid)) process.kill(pid, signal);
    } catch {
      // exited between the check and the signal
    }
  }
}

/**
 * Stop a cluster's recorded processes directly (when the process that started it is gone): SIGTERM, then SIGKILL
 * after `graceMs`; then remove its files. Pids that no longer look like ours are left alone.
 */
export async function stopRecordedProcesses(found: FoundCluster, graceMs: number): Promise<{ stopped: number[]; skipped: number[] }> {
  const pids = recordedPids(found.info).filter(isPidAlive);
  const ours = pids.filter(looksLikeOurs);
  const skipped = pids.filter((p) => !ours.includes(p));
  // Engines first, then the controller, as a cluster stops itself.
  const controllerPids = new Set(found.info.launchers?.controller?.pids ?? []);
  for (const group of [ours.filter((p) => !controllerPids.has(p)), ours.filter((p) => controllerPids.has(p))]) {
    signalPids(group, 'SIGTERM');
    await waitForExit(group, graceMs).catch(() => signalPids(group, 'SIGKILL'));
  }
  await waitForExit(ours, graceMs);
  return { stopped: ours, skipped };
}
