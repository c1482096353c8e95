/**
 * Running clusters as other processes see them: the cluster files in a profile's `security/`, whether the processes
 * they name are alive, stopping a cluster from its file, and cleaning the files dead clusters left behind. Used by
 * `Cluster.fromFile()` and by `tscluster stop`, `list`, `engines` and `shell`.
 * @module
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import debug from 'debug';
import { Client } from '../client/client.js';
import type { ClusterFile } from './cluster.js';
import { isControllerAlive, readConnectionFile, thisHost } from '../wire/connection.js';
import { clusterFileName, clusterFilePaths, filesOfCluster, journalFileName } from '../util/cluster-files.js';
import { archiveJournal, summarizeJournal, type JournalSummary } from '../controller/journal.js';
import { controllerKeysFile, readControllerKeys, removeControllerKeys, type ControllerKeys } from '../controller/controller-keys.js';
import { isProcessAlive, signalProcess } from '../util/processes.js';
import { ConfigError, TimeoutError, TsParallelError } from '../core/errors.js';
import { describeProfile, profileFlag, profilePaths, type ProfilePaths } from '../config/profile.js';

const log = debug('tsparallel:cluster');

/** Unix socket paths longer than this do not fit in `sockaddr_un` on every system (104 bytes on macOS). */
const MAX_SOCKET_PATH = 100;

/**
 * The control socket's address of a cluster run by `tscluster start`: `security/tscluster[-ID].sock`; when that
 * path is too long for a Unix socket, a socket named by a hash of it in a private per-user folder of the temp
 * directory; on Windows a named pipe.
 */
export function controlAddress(securityDir: string, clusterId: string): string {
  const preferred = clusterFilePaths({ security: securityDir, pid: '' }, clusterId).controlSocket;
  const hash = createHash('sha256').update(preferred).digest('hex').slice(0, 24);
  if (process.platform === 'win32') return `\\\\.\\pipe\\tsparallel-${hash}`;
  if (Buffer.byteLength(preferred) <= MAX_SOCKET_PATH) return preferred;
  const dir = path.join(tmpdir(), `tsparallel-${process.getuid?.() ?? 'user'}`);
  return path.join(dir, `${hash}.sock`);
}

/** Read a cluster file. */
export async function readClusterFile(file: string): Promise<ClusterFile> {
  return JSON.parse(await readFile(file, 'utf8')) as ClusterFile;
}


/** How a cluster's id reads in messages: the default cluster has the empty id. */
export function describeId(clusterId: string): string {
  return clusterId ? `'${clusterId}'` : '(default)';
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

/** Tell what can be told about a cluster file's processes from here. */
export async function describeCluster(profile: ProfilePaths, file: string, info: ClusterFile): Promise<FoundCluster> {
  const here = !info.hostname || info.hostname === hostname();
  const ownerAlive = here ? isProcessAlive(info.pid) : undefined;
  let controllerAlive: boolean | undefined;
  const connection = await readConnectionFile(info.connectionFiles?.client ?? clusterFilePaths(profile, info.clusterId).clientConnectionFile).catch(() => undefined);
  if (connection) controllerAlive = isControllerAlive(connection);
  else if (here) controllerAlive = (info.launchers?.controller?.pids ?? []).some(isProcessAlive);
  const pidText = await readFile(clusterFilePaths(profile, info.clusterId).pidFile, 'utf8').catch(() => '');
  return { profile, file, info, ownerAlive, controllerAlive, startedByCli: Number(pidText.trim()) === info.pid };
}

/**
 * The running cluster of a profile that a command should act on: the one with `clusterId` when given; otherwise
 * the default cluster when it runs, or the only running one. With `orDead` (`tscluster stop`), when none runs: the
 * dead cluster (the default one, or the only one) whose controller left a journal.
 * @throws TsParallelError (exit 1) when there is none; ConfigError (exit 2) when several run and none was chosen.
 */
export async function pickRunningCluster(profile: ProfilePaths, clusterId: string | undefined, options: { orDead?: boolean } = {}): Promise<FoundCluster> {
  const all = await findClusters(profile);
  const running = all.filter((c) => !isStale(c));
  if (options.orDead && clusterId === undefined && running.length === 0) {
    // `tscluster stop`: a dead cluster whose controller left a journal may have engines that still wait for it.
    const dead: FoundCluster[] = [];
    for (const c of all) if ((await findRestorable(profile, c.info.clusterId))?.controllerAlive === false) dead.push(c);
    const pick = dead.find((c) => c.info.clusterId === '') ?? (dead.length === 1 ? dead[0] : undefined);
    if (pick) return pick;
  }
  const how = `start one with \`tscluster start ${profileFlag(profile)}\``;
  if (clusterId !== undefined) {
    const match = all.find((c) => c.info.clusterId === clusterId);
    if (!match) throw new TsParallelError(`no cluster ${describeId(clusterId)} in ${describeProfile(profile)} (no ${path.join(profile.security, clusterFileName(clusterId))}); running: ${running.map((c) => describeId(c.info.clusterId)).join(', ') || 'none'}`);
    return match;
  }
  if (running.length === 0) {
    const stale = all.length ? ` (${all.length} stale cluster file(s) of dead clusters; \`tscluster list\` cleans them)` : '';
    throw new TsParallelError(`no running cluster in ${describeProfile(profile)}${stale}: ${how}`);
  }
  const byDefault = running.find((c) => c.info.clusterId === '');
  if (byDefault) return byDefault;
  if (running.length === 1) return running[0]!;
  throw new ConfigError(
    `${describeProfile(profile)} has ${running.length} running clusters (${running.map((c) => describeId(c.info.clusterId)).join(', ')}); choose one with --cluster-id ID`,
  );
}

/**
 * Remove the files a cluster leaves in its profile: cluster file, connection files, pid file, control socket, the
 * engines' CA file.
 */
export async function removeClusterFiles(profile: ProfilePaths, info: ClusterFile): Promise<string[]> {
  const defaults = clusterFilePaths(profile, info.clusterId);
  // The cluster file names the connection files it wrote, wherever they are.
  const paths = {
    ...defaults,
    clientConnectionFile: info.connectionFiles?.client ?? defaults.clientConnectionFile,
    engineConnectionFile: info.connectionFiles?.engine ?? defaults.engineConnectionFile,
  };
  const files = [...filesOfCluster(paths), paths.pidFile, ...(process.platform === 'win32' ? [] : [controlAddress(profile.security, info.clusterId)])];
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
    if (!isProcessAlive(pid)) orphans.push(file);
  }
  return orphans;
}

/** Wait until none of `pids` is alive. @throws TimeoutError listing the survivors after `timeoutMs`. */
export async function waitForExit(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isProcessAlive);
    if (alive.length === 0) return;
    if (Date.now() > deadline) throw new TimeoutError(`processes ${alive.join(', ')} are still running after ${timeoutMs} ms`, timeoutMs);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Send `signal` to each pid that is alive, ignoring ones that exit meanwhile. */
export function signalPids(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    if (isProcessAlive(pid)) signalProcess(pid, signal); // one that exits meanwhile is fine
  }
}

/**
 * SIGTERM to each pid that is alive, then SIGKILL to those still alive after `graceMs`; resolves once they are gone.
 * @throws TimeoutError listing the survivors when even SIGKILL did not end them within `graceMs` more.
 */
export async function terminatePids(pids: readonly number[], graceMs: number): Promise<void> {
  signalPids(pids, 'SIGTERM');
  await waitForExit(pids, graceMs).catch(() => signalPids(pids, 'SIGKILL'));
  await waitForExit(pids, graceMs);
}

/**
 * Stop a cluster's recorded processes directly (when the process that started it is gone): SIGTERM, then SIGKILL
 * after `graceMs`; then remove its files. Pids that no longer look like ours are left alone.
 */
export async function stopRecordedProcesses(found: FoundCluster, graceMs: number): Promise<{ stopped: number[]; skipped: number[] }> {
  const pids = recordedPids(found.info).filter(isProcessAlive);
  const ours = pids.filter(looksLikeOurs);
  const skipped = pids.filter((p) => !ours.includes(p));
  // Engines first, then the controller, as a cluster stops itself.
  const controllerPids = new Set(found.info.launchers?.controller?.pids ?? []);
  let survivors: unknown;
  for (const group of [ours.filter((p) => !controllerPids.has(p)), ours.filter((p) => controllerPids.has(p))]) {
    await terminatePids(group, graceMs).catch((err: unknown) => (survivors ??= err));
  }
  if (survivors) throw survivors;
  return { stopped: ours, skipped };
}

/**
 * The journal of a controller that did not stop cleanly (`controller.journal`), found in a profile: what
 * `tscluster start` and `createCluster()` restore by default (see {@link findRestorable}).
 */
export interface RestorableCluster {
  /** The cluster's id. */
  clusterId: string;
  /** The journal. */
  journalFile: string;
  /** The keys file beside it. */
  keysFile: string;
  /** What the keys file holds; absent when it is missing or unreadable (see `problem`). */
  keys?: ControllerKeys;
  /** Why it cannot be restored, when it cannot (the journal stays, and is archived by a fresh start). */
  problem?: string;
  /** Whether the controller that wrote it is alive (`undefined`: it ran on another host, or cannot be told). */
  controllerAlive: boolean | undefined;
  /** The cluster file of the cluster it belonged to, when it is still there. */
  found?: FoundCluster;
  /** What the journal holds. */
  journal: JournalSummary;
}

/**
 * The journal a controller of cluster `clusterId` left in the profile, if any. A clean stop removes the journal and
 * its keys file, so one that is there comes from a controller that died (or still runs: see `controllerAlive`). A
 * keys file whose journal is gone (a controller that died while it stopped) is removed here.
 */
export async function findRestorable(profile: ProfilePaths, clusterId: string): Promise<RestorableCluster | undefined> {
  const journalFile = path.join(profile.security, journalFileName(clusterId));
  const keysFile = controllerKeysFile(profile.security, clusterId);
  const paths = clusterFilePaths(profile, clusterId);
  const keys = await readControllerKeys(keysFile).catch((err: Error) => err);
  const here = (c: { pid: number; hostname: string }) => (c.hostname === thisHost() ? isProcessAlive(c.pid) : undefined);
  if (!existsSync(journalFile)) {
    if (!(keys instanceof Error) && here(keys.controller) === false) await removeControllerKeys(keysFile);
    return undefined;
  }
  let journal: JournalSummary;
  let problem: string | undefined;
  try {
    journal = summarizeJournal(journalFile);
  } catch (err) {
    journal = { queued: 0, running: new Map(), engines: [] };
    problem = `its journal ${journalFile} cannot be read (${(err as Error).message})`;
  }
  if (keys instanceof Error) {
    problem ??= existsSync(keysFile)
      ? keys.message
      : `its keys file ${keysFile} is missing (the controller died while it started, or was not started with --journal by this version), so its clients and engines cannot be reached`;
  }
  // Without the keys file, the connection files (when still there) say whose the journal is.
  const connection = keys instanceof Error ? await readConnectionFile(paths.engineConnectionFile).catch(() => undefined) : undefined;
  const controllerAlive = keys instanceof Error ? (connection ? isControllerAlive(connection) : false) : here(keys.controller);
  const clusterFile = await readClusterFile(paths.clusterFile).catch(() => undefined);
  const found = clusterFile ? await describeCluster(profile, paths.clusterFile, clusterFile) : undefined;
  return { clusterId, journalFile, keysFile, ...(!(keys instanceof Error) && { keys }), ...(problem && { problem }), controllerAlive, ...(found && { found }), journal };
}

/** The ids of the clusters of a profile that have a journal (controllers that died, or that run with one). */
export async function journalClusterIds(profile: ProfilePaths): Promise<string[]> {
  const names = await readdir(profile.security).catch(() => [] as string[]);
  return names.flatMap((n) => {
    const m = /^tsparallel(?:-(.+))?-journal\.jsonl$/.exec(n);
    return m ? [m[1] ?? ''] : [];
  });
}

/**
 * Give up a restorable cluster for good (`tscluster start --no-restore`, `restore: false`, `tscluster stop` of a
 * dead cluster): stop the engines it left waiting for their controller (those on this host that still look like
 * ours: SIGTERM, then SIGKILL after `graceMs`), move its journal aside ({@link archiveJournal}) and remove its keys
 * file and stale cluster files.
 */
export async function discardRestorable(profile: ProfilePaths, r: RestorableCluster, graceMs: number): Promise<{ archived: string; stopped: number[] }> {
  const local = r.journal.engines.filter((e) => e.hostname === thisHost()).map((e) => e.pid);
  const recorded = r.found && isStale(r.found) ? recordedPids(r.found.info) : [];
  const pids = [...new Set([...local, ...recorded])].filter((pid) => isProcessAlive(pid) && looksLikeOurs(pid));
  await terminatePids(pids, graceMs);
  const archived = archiveJournal(r.journalFile);
  await removeControllerKeys(r.keysFile);
  if (r.found && isStale(r.found)) await removeClusterFiles(profile, r.found.info);
  log('discarded the journal of cluster %s (now %s); stopped %o', describeId(r.clusterId), archived, pids);
  return { archived, stopped: pids };
}

/** A step {@link RunningCluster.stop} took, for a caller that reports progress (the CLI prints them). */
export interface StopStep {
  /** `info` for an ordinary step, `warn` for something the user may have to act on. */
  level: 'info' | 'warn';
  /** What happened. */
  message: string;
}

/**
 * Stop a running cluster found from its file, the way fits who runs it: a `tscluster start` process gets SIGTERM
 * (it stops engines, then the controller, and removes its files); a cluster a program started is asked to shut down
 * through its controller; when the process that started it is gone, its recorded processes are stopped directly
 * (SIGTERM, then SIGKILL after `graceMs`). Waits until every process is gone and removes the cluster's files.
 * @throws TsParallelError for a cluster started on another host (stop it there).
 * @throws TimeoutError when processes are still alive after `timeoutMs`.
 */
export async function stopRunningCluster(
  found: FoundCluster,
  options: { timeoutMs?: number; graceMs?: number; onStep?: (step: StopStep) => void } = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const graceMs = options.graceMs ?? 5000;
  const step = (level: StopStep['level'], message: string) => options.onStep?.({ level, message });
  const { profile, info } = found;
  const name = `cluster ${describeId(info.clusterId)} of ${describeProfile(profile)}`;
  if (isStale(found)) {
    // A controller that died with a journal may have left engines waiting for it: a stop ends them, and nothing is
    // left to restore.
    const restorable = await findRestorable(profile, info.clusterId);
    if (restorable && restorable.controllerAlive === false) {
      const { archived, stopped } = await discardRestorable(profile, restorable, graceMs);
      if (stopped.length) step('info', `stopped the engines of ${name} that waited for their dead controller: pids ${stopped.join(', ')}`);
      step('info', `the journal of its dead controller was moved to ${archived}; nothing is left to restore`);
    }
    const removed = await removeClusterFiles(profile, info);
    step('info', `${name} was not running (its process ${info.pid} is gone); removed its stale files: ${removed.join(', ') || 'none left'}`);
    return;
  }
  if (found.ownerAlive === undefined) {
    throw new TsParallelError(`${name} was started on host ${info.hostname} (pid ${info.pid}); stop it there`);
  }
  const pids = recordedPids(info);
  if (found.ownerAlive && found.startedByCli) {
    step('info', `Stopping ${name}: SIGTERM to its tscluster start process (pid ${info.pid})`);
    process.kill(info.pid, 'SIGTERM');
    await waitForExit([info.pid, ...pids], timeoutMs);
  } else if (found.ownerAlive) {
    step('info', `${name} was started by a program (pid ${info.pid}), not tscluster start: asking its controller to shut down`);
    try {
      const client = await Client.connect({ connectionFile: info.connectionFiles.client, timeoutMs: Math.min(timeoutMs, 10_000) });
      await client.shutdown({ timeoutMs: Math.min(timeoutMs, 10_000) });
    } catch (err) {
      step('warn', `the controller did not take the shutdown request (${(err as Error).message}); stopping its processes directly`);
      await stopRecordedProcesses(found, graceMs);
    }
    await waitForExit(pids, timeoutMs);
  } else {
    step('info', `The process that started ${name} (pid ${info.pid}) is gone: stopping its processes ${pids.join(', ') || '(none recorded)'} directly`);
    const { skipped } = await stopRecordedProcesses(found, graceMs);
    if (skipped.length) step('warn', `left alone pids ${skipped.join(', ')}: they were reused by other programs`);
    const jobIds = [info.launchers?.controller, ...(info.launchers?.engines ?? [])].flatMap((l) => l?.jobIds ?? []);
    if (jobIds.length) step('warn', `batch jobs ${jobIds.join(', ')} were recorded for this cluster: cancel them with the scheduler if they still run`);
  }
  // A cluster removes its files as it stops; this matters only if it died while stopping.
  await removeClusterFiles(profile, info);
  step('info', `Stopped ${name}`);
}

/**
 * A cluster found from its cluster file, started by this or another process (a program's `createCluster()`, or
 * `tscluster start`): connect clients to it, or stop it. Made by `Cluster.fromFile()`.
 */
export class RunningCluster {
  /** @internal */
  constructor(
    /** What was found: the file, its content, and whether its processes are alive. @internal */
    readonly found: FoundCluster,
  ) {}

  /** The cluster file's content. */
  get info(): ClusterFile {
    return this.found.info;
  }

  /** The cluster's id within its profile. */
  get clusterId(): string {
    return this.found.info.clusterId;
  }

  /** The pids its file records (controller first). */
  get pids(): number[] {
    return recordedPids(this.found.info);
  }

  /** Whether it looks alive from here (false for the file of a cluster whose processes are all gone). */
  get isRunning(): boolean {
    return !isStale(this.found);
  }

  /** Connect a client to it. */
  connect(options: Omit<import('../client/client.js').ConnectOptions, 'connectionFile' | 'profile' | 'profileDir'> = {}): Promise<Client> {
    return Client.connect({ ...options, connectionFile: this.found.info.connectionFiles.client });
  }

  /**
   * Stop it and wait until its processes are gone: a `tscluster start` process gets SIGTERM; a cluster a program
   * started is asked to shut down through its controller; when the process that started it is gone, its recorded
   * processes are stopped directly (SIGTERM, then SIGKILL after `graceMs`). Its files are removed.
   */
  stop(options: { timeoutMs?: number; graceMs?: number; onStep?: (step: StopStep) => void } = {}): Promise<void> {
    return stopRunningCluster(this.found, options);
  }
}

/**
 * Find a running cluster: from its cluster file's path, or by profile (and cluster id; default: the profile's
 * default cluster, or its only running one).
 * @throws TsParallelError when there is none, saying how to start one; ConfigError when several run and none was chosen.
 * The implementation of `Cluster.fromFile()`, the public name. @internal
 */
export async function findRunningCluster(target: string | { profile?: string; profileDir?: string; clusterId?: string } = {}): Promise<RunningCluster> {
  if (typeof target === 'string') {
    let info: ClusterFile;
    try {
      info = await readClusterFile(target);
    } catch (cause) {
      throw new ConfigError(`cannot read cluster file ${target}: ${(cause as Error).message}; a running cluster writes security/cluster[-ID].json in its profile`, { cause });
    }
    const base = path.basename(info.profileDir);
    const name = base.startsWith('profile_') ? base.slice('profile_'.length) : 'default';
    // A profile in its usual place is named by its name in messages; one elsewhere by its directory.
    const byName = profilePaths(name);
    const profile = byName.dir === path.resolve(info.profileDir) ? byName : profilePaths(name, { dir: info.profileDir });
    return new RunningCluster(await describeCluster(profile, target, info));
  }
  const profile = profilePaths(target.profile ?? 'default', { dir: target.profileDir });
  return new RunningCluster(await pickRunningCluster(profile, target.clusterId));
}
