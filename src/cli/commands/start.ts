/**
 * `tscluster start`: start a controller and N engines with the launchers the profile's config names (through
 * `createCluster()`, so a program and the CLI see the same cluster), and keep them running until Ctrl-C, SIGTERM or
 * SIGHUP, or with `--daemonize` in a background process.
 * @module
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, unlinkSync } from 'node:fs';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Server } from 'node:net';
import { createCluster, type Cluster, type RestoreEvent } from '../../cluster/cluster.js';
import { loadConfig } from '../../config/load.js';
import { isControllerAlive, readConnectionFile, type ConnectionInfo } from '../../wire/connection.js';
import { dashboardFileName } from '../../controller/dashboard-hook.js';
import { ConfigError, TsParallelError } from '../../core/errors.js';
import { describeProfile, ensureProfileDirs, profileFlag, profileOption, type ProfilePaths } from '../../config/profile.js';
import { tailOf } from '../../util/files.js';
import { withClusterId } from '../../util/cluster-files.js';
import {
  COMMON_USAGE,
  PROFILE_OPTIONS,
  PROFILE_USAGE,
  handleCommonOptions,
  parseCommandArgs,
  positiveIntArg,
  profileFromArgs,
  stringArg,
  type Command,
} from '../args.js';
import { controlAddress, serveControl, type ControlHandler } from '../control.js';
import { Reporter } from '../progress.js';
import { describeId, signalPids } from '../../cluster/running.js';
import { clusterFilePaths, filesOfCluster } from '../../util/cluster-files.js';

const USAGE = `Usage: tscluster start [-n N] [--profile NAME] [--cluster-id ID] [--daemonize] [--restore | --no-restore]

Start a controller and N engines with the launchers the profile's config names, and keep them running. Ctrl-C (or
SIGTERM, closing the terminal, or \`tscluster stop\`) stops the engines, then the controller, and removes the
cluster's files; a second Ctrl-C kills what is left at once.

Options:
  -n N                  how many engines (default: config's n, else the number of CPUs)
${PROFILE_USAGE}
  --cluster-id ID       the cluster's id within the profile (default: config's clusterId, ''; when the default
                        cluster already runs and no id is given, a fresh id is picked)
  --daemonize           start the cluster in a background process and return once it is up
  --restore             take over the cluster whose controller died (it ran with controller.journal): a controller
                        on its ports, with its keys and its journal's tasks, takes back the engines that come back
                        (set engines.reconnectMs so they wait); new engines start only when -n is given. This is
                        the default when the profile holds the journal of a dead controller whose tscluster start
                        is gone too (a clean stop leaves none); --restore also takes over while that process runs
  --no-restore          start a fresh cluster even so: the dead controller's engines that still wait for it are
                        stopped, and its journal is moved aside (security/tsparallel[-ID]-journal-<time>.discarded.jsonl)
${COMMON_USAGE}`;

/** Parsed `start` arguments. */
interface StartArgs {
  profile: ProfilePaths;
  profileDir: string | undefined;
  n: number | undefined;
  clusterId: string | undefined;
  /** `--restore` (true), `--no-restore` (false), or neither: restore when there is a dead controller's journal. */
  restore: boolean | undefined;
  logLevel: string | undefined;
}

/** A line the start printed that a `--daemonize` parent prints too, at the same level. */
interface StartNote {
  level: 'info' | 'warn';
  text: string;
}

/** What a background `tscluster start` sends its `--daemonize` parent (over the IPC channel) once the cluster is up. */
interface ReadyMessage {
  type: 'ready';
  clusterId: string;
  clusterFile: string;
  pid: number;
  notes: StartNote[];
}

/** `tscluster start`. */
export const startCommand: Command = {
  name: 'start',
  summary: 'start a controller and N engines (Ctrl-C stops them; --daemonize runs them in the background)',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(
      argv,
      { n: { type: 'string', short: 'n' }, 'cluster-id': { type: 'string' }, daemonize: { type: 'boolean' }, restore: { type: 'boolean' }, 'no-restore': { type: 'boolean' }, ...PROFILE_OPTIONS },
      USAGE,
    );
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const n = stringArg(values, 'n');
    if (values.restore && values['no-restore']) throw new ConfigError(`--restore and --no-restore contradict each other: give one of them, or neither (restore when there is something to restore)\n\n${USAGE}`);
    const args: StartArgs = {
      profile: profileFromArgs(values),
      profileDir: stringArg(values, 'profile-dir'),
      n: n === undefined ? undefined : positiveIntArg(n, '-n'),
      clusterId: stringArg(values, 'cluster-id'),
      restore: values.restore ? true : values['no-restore'] ? false : undefined,
      logLevel: stringArg(values, 'log-level'),
    };
    const out = new Reporter('tscluster start', args.logLevel);
    // Read the configuration first, so a bad config file or flag is reported (exit 2) before anything starts.
    const loaded = await loadConfig({
      profile: args.profile.name,
      profileDir: args.profileDir,
      overrides: { n: args.n, clusterId: args.clusterId },
      overridesName: 'command-line flags',
    });
    out.info(`${loaded.profileExists ? 'Using existing' : 'Creating'} profile dir: ${loaded.profile.dir}`);
    if (values.daemonize) return runInBackground(argv, args, loaded.config.engines.startTimeoutMs, out);
    return runInForeground(args, loaded.config, out);
  },
};

/** The lines that tell the user what a restore took over, or what was given up. */
export function describeRestore(event: RestoreEvent, args: Pick<StartArgs, 'n' | 'profile'>): string[] {
  const tasks = (n: number, adjective = '') => `${n} ${adjective}task${n === 1 ? '' : 's'}`;
  const ids = (list: readonly number[]) => (list.length ? list.join(', ') : 'none');
  if (event.type === 'discarded') {
    return [
      `Not restoring cluster ${describeId(event.clusterId)}: ${event.reason}. The journal of its dead controller was moved to ${event.archived}` +
        (event.stopped.length ? `; its engines that waited for it (pids ${event.stopped.join(', ')}) were stopped` : ''),
    ];
  }
  const s = event.summary;
  if (event.type === 'restoring') {
    return [
      `Restoring cluster ${describeId(event.clusterId)}: its controller (pid ${s.controller.pid} on ${s.controller.hostname}) died, leaving a journal with ` +
        `${tasks(s.queued + s.running, 'unfinished ')} (${s.queued} queued, ${s.running} running) and engines ${ids(s.expected)}; ` +
        `a new controller on its ports takes them back (start with --no-restore for a fresh cluster instead)`,
    ];
  }
  const missing = s.expected.filter((id) => !s.adopted.includes(id));
  const lines = [
    `Restored: engines re-adopted: ${ids(s.adopted)}${missing.length ? ` (not back: ${missing.join(', ')})` : ''}; tasks re-queued: ${tasks(s.queued + s.rerun)} ` +
      `(${s.queued} that were queued, ${s.rerun} that ran on engines that did not come back, run again as retries); ${tasks(s.running)} go on on the re-adopted engines`,
  ];
  if (s.adopted.length === 0 && args.n === undefined) lines.push(`no engine came back: add engines with \`tscluster engines -n N ${profileFlag(args.profile)}${event.clusterId ? ` --cluster-id ${event.clusterId}` : ''}\`, or restore with -n N`);
  return lines;
}

/** How to connect, for the lines printed once the cluster is up. */
function connectHints(args: StartArgs, clusterId: string): string[] {
  const id = clusterId ? `, clusterId: '${clusterId}'` : '';
  const flags = `${profileFlag(args.profile)}${clusterId ? ` --cluster-id ${clusterId}` : ''}`;
  return [
    `Connect from a program: const client = await Client.connect({ ${profileOption(args.profile)}${id} })`,
    `Or interactively:       tscluster shell ${flags}`,
    `A live dashboard:       tscluster dashboard ${flags}`,
    `Stop it with Ctrl-C in this window or: tscluster stop ${flags}`,
  ];
}

async function runInForeground(args: StartArgs, config: { n: number; controller: { launcher: string }; engines: { launcher: string } }, out: Reporter): Promise<number> {
  let cluster: Cluster | undefined;
  let control: Server | undefined;
  let pidFile: string | undefined;
  let watch: NodeJS.Timeout | undefined;
  let signals = 0;
  let resolveExit!: (code: number) => void;
  const exitCode = new Promise<number>((r) => (resolveExit = r));
  let stopping: Promise<void> | undefined;
  let forwardProgress: ((p: { registered: number; total: number }) => void) | undefined;
  /**
   * What the start said that a `--daemonize` parent shows too, which otherwise only reaches the log: its warnings
   * and what a restore did. Recorded until the cluster is up (the parent has left by then).
   */
  const notes: StartNote[] = [];
  let isUp = false;
  const note = (level: StartNote['level'], text: string): void => {
    out[level](text);
    if (!isUp) notes.push({ level, text });
  };

  const stop = (code: number): Promise<void> =>
    (stopping ??= (async () => {
      clearInterval(watch);
      control?.close();
      try {
        await cluster?.stop();
      } finally {
        if (pidFile) await unlink(pidFile).catch(() => {});
      }
      out.info(cluster ? `Cluster ${describeId(cluster.clusterId)} of ${describeProfile(args.profile)} stopped` : 'Stopped before the cluster was created');
      resolveExit(code);
    })().catch((err: unknown) => {
      out.warn(`stopping failed: ${(err as Error).message}`);
      resolveExit(1);
    }));

  const force = (): void => {
    const pids = cluster?.pids ?? [];
    out.warn(`forced stop: killing ${pids.length ? 'processes ' + pids.join(', ') : 'nothing started yet'}`);
    signalPids(pids, 'SIGKILL');
    if (cluster?.jobIds.length) out.warn(`batch jobs ${cluster.jobIds.join(', ')} may still be queued or running: cancel them with the scheduler`);
    const files = cluster ? [...filesOfCluster(clusterFilePaths(cluster.profile, cluster.clusterId)), controlAddress(cluster.profile.security, cluster.clusterId)] : [];
    for (const f of [...files, ...(pidFile ? [pidFile] : [])]) {
      try {
        unlinkSync(f);
      } catch {
        // already gone
      }
    }
    process.exit(1);
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) return force();
    out.info(`${signal} received: stopping the engines, then the controller (press Ctrl-C again to force)`);
    void stop(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The terminal closed: without this the process would die at once, leaving the cluster's files behind.
  process.on('SIGHUP', onSignal);

  out.info(`Starting a cluster of ${describeProfile(args.profile)}: ${config.n} engines (controller launcher: ${config.controller.launcher}, engine launcher: ${config.engines.launcher})`);
  const starting = createCluster({
    profile: args.profile.name,
    profileDir: args.profileDir,
    n: args.n,
    clusterId: args.clusterId,
    restore: args.restore,
    onRestore: (event) => {
      const lines = describeRestore(event, args);
      // A warning when nothing came back, or when a journal that could not be restored was moved aside unasked.
      const bad = event.type === 'restored' ? event.summary.adopted.length === 0 : event.type === 'discarded' && args.restore === undefined;
      for (const line of lines) note(bad ? 'warn' : 'info', line);
    },
    onStarting: (c) => (cluster = c),
    onWarning: (message) => note('warn', message),
    onProgress: (p) => {
      out.progress(p.message ?? `engines registered ${p.registered}/${p.total}`);
      forwardProgress?.(p);
    },
  });
  try {
    // Ctrl-C during the start stops what was launched; the start itself may then only give up at its timeout, so
    // the stop does not wait for it.
    const outcome = await Promise.race([starting.then(() => 'up' as const), exitCode.then(() => 'stopped' as const)]);
    if (outcome === 'stopped') return exitCode;
  } catch (err) {
    if (stopping) return exitCode;
    throw err;
  } finally {
    starting.catch(() => {});
  }
  if (stopping || !cluster) return exitCode;
  const running = cluster;

  pidFile = clusterFilePaths(running.profile, running.clusterId).pidFile;
  await writeFile(pidFile, `${process.pid}\n`);
  control = await serveControl(controlAddress(running.profile.security, running.clusterId), controlHandler(running, out, (f) => (forwardProgress = f), () => stopping !== undefined));
  const info = await readConnectionFile(running.clientConnectionFile).catch(() => undefined);
  watch = watchController(running, info, out, stop);
  // Engine supervision (engines.restart) runs here: say what it does.
  running.onSupervision((e) =>
    e.type === 'replaced' ? out.info(`engine ${e.id} died (${e.reason}); replaced by engine ${e.replacement}`) : out.warn(e.message ?? `engine ${e.id} stays down`),
  );

  out.info(`Cluster ${describeId(running.clusterId)} of ${describeProfile(args.profile)} is running: ${running.pids.length ? `pids ${running.pids.join(', ')}` : `jobs ${running.jobIds.join(', ')}`}; pid file ${pidFile}`);
  for (const line of connectHints(args, running.clusterId)) out.info(line);
  // controller.dashboard: the controller serves the dashboard itself and wrote its URL (with the token) here.
  const dashboard = await readFile(path.join(running.profile.security, dashboardFileName(running.clusterId)), 'utf8').then((t) => (JSON.parse(t) as { url: string }).url, () => undefined);
  if (dashboard) out.info(`Dashboard (served by the controller): ${dashboard}`);
  // A `--daemonize` parent waits for this message (over the IPC channel it opened) before it returns.
  isUp = true;
  process.send?.({ type: 'ready', clusterId: running.clusterId, clusterFile: running.clusterFile, pid: process.pid, notes } satisfies ReadyMessage, undefined, {}, () => {});
  return exitCode;
}

/** Answer `tscluster engines` (adding engines) while the cluster runs; requests run one at a time. */
function controlHandler(
  cluster: Cluster,
  out: Reporter,
  setForward: (f: ((p: { registered: number; total: number }) => void) | undefined) => void,
  isStopping: () => boolean,
): ControlHandler {
  let queue: Promise<unknown> = Promise.resolve();
  return async (request, progress) => {
    if (request.op === 'status') return { clusterId: cluster.clusterId, pids: cluster.pids, jobIds: cluster.jobIds };
    if (request.op !== 'add-engines') throw new TsParallelError(`unknown request '${(request as { op: string }).op}'`);
    if (!Number.isSafeInteger(request.n) || request.n <= 0) throw new TsParallelError(`add-engines needs a positive whole number of engines, got ${JSON.stringify(request.n)}`);
    if (isStopping()) throw new TsParallelError('the cluster is stopping');
    const run = queue.then(async () => {
      out.info(`Adding ${request.n} engines (asked by tscluster engines)`);
      setForward(progress);
      try {
        await cluster.addEngines(request.n);
      } finally {
        setForward(undefined);
      }
    });
    queue = run.catch(() => {});
    await run;
    return { pids: cluster.pids, jobIds: cluster.jobIds };
  };
}

/**
 * Notice when the controller goes away on its own (a client's `shutdown()`, or a crash): then the rest of the cluster
 * is stopped and the command exits (0 when the controller removed its files, as on a requested shutdown; 1 when it
 * died without doing so).
 */
function watchController(cluster: Cluster, info: ConnectionInfo | undefined, out: Reporter, stop: (code: number) => Promise<void>): NodeJS.Timeout {
  let restoring = false;
  const timer = setInterval(() => {
    if (restoring) return;
    const fileGone = !existsSync(cluster.clientConnectionFile);
    const dead = info ? isControllerAlive(info) === false : false;
    if (!fileGone && !dead) return;
    if (dead && !fileGone && cluster.config.controller.journal) {
      // controller.journal: a controller that died is replaced by one that takes its engines and tasks back.
      restoring = true;
      out.warn(`The controller (pid ${info?.controller.pid}) died: starting a new one with --restore`);
      void cluster.restoreController().then(
        async () => {
          info = await readConnectionFile(cluster.clientConnectionFile).catch(() => undefined);
          out.info(`The controller is back (pid ${info?.controller.pid}); its engines and tasks were taken over`);
          restoring = false;
        },
        (err: Error) => {
          clearInterval(timer);
          out.warn(`The controller could not be restored (${err.message}): stopping the engines`);
          void stop(1);
        },
      );
      return;
    }
    clearInterval(timer);
    out.info(fileGone ? 'The controller has shut down (a client asked it to): stopping the engines' : `The controller (pid ${info?.controller.pid}) died: stopping the engines`);
    void stop(fileGone ? 0 : 1);
  }, 500);
  timer.unref();
  return timer;
}

/**
 * `--daemonize`: run `tscluster start` (same arguments) as a detached process writing to a log in the profile's
 * `log/`, wait until it says the cluster is up, and return. If it exits first, show the end of its log.
 */
async function runInBackground(argv: readonly string[], args: StartArgs, startTimeoutMs: number, out: Reporter): Promise<number> {
  await ensureProfileDirs(args.profile);
  const logFile = path.join(args.profile.log, `${withClusterId('tscluster', args.clusterId ?? '')}-${Date.now()}.log`);
  const script = process.argv[1]!;
  const childArgs = [...process.execArgv, script, 'start', ...argv.filter((a) => a !== '--daemonize')];
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, childArgs, { detached: true, stdio: ['ignore', fd, fd, 'ipc'], env: process.env });
  closeSync(fd);
  const timeoutMs = startTimeoutMs + 30_000;

  type Outcome = { kind: 'ready'; clusterId: string; pid: number; notes: StartNote[] } | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null } | { kind: 'timeout' } | { kind: 'interrupted' };
  let timer: NodeJS.Timeout | undefined;
  let onInterrupt: (() => void) | undefined;
  const outcome = await new Promise<Outcome>((resolve) => {
    child.on('message', (m: Partial<ReadyMessage> | undefined) => {
      if (m?.type === 'ready') resolve({ kind: 'ready', clusterId: m.clusterId ?? '', pid: m.pid ?? child.pid!, notes: m.notes ?? [] });
    });
    child.once('exit', (code, signal) => resolve({ kind: 'exit', code, signal }));
    child.once('error', () => resolve({ kind: 'exit', code: null, signal: null }));
    timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
    onInterrupt = () => resolve({ kind: 'interrupted' });
    process.once('SIGINT', onInterrupt);
    process.once('SIGTERM', onInterrupt);
  });
  clearTimeout(timer);
  process.off('SIGINT', onInterrupt!);
  process.off('SIGTERM', onInterrupt!);

  if (outcome.kind === 'ready') {
    child.disconnect();
    child.unref();
    for (const n of outcome.notes) out[n.level](n.text);
    out.info(`Cluster ${describeId(outcome.clusterId)} of ${describeProfile(args.profile)} is running in the background (pid ${outcome.pid}); log: ${logFile}`);
    for (const line of connectHints(args, outcome.clusterId).slice(0, 2)) out.info(line);
    out.info(`Stop it with: tscluster stop ${profileFlag(args.profile)}${outcome.clusterId ? ` --cluster-id ${outcome.clusterId}` : ''}`);
    return 0;
  }
  if (outcome.kind !== 'exit') {
    // Ask the background process to stop what it started, and wait for it (it stops its cluster first).
    child.kill('SIGTERM');
    const exited = await new Promise<boolean>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve(true);
      const t = setTimeout(() => resolve(false), 15_000);
      child.once('exit', () => (clearTimeout(t), resolve(true)));
    });
    if (!exited) child.kill('SIGKILL');
  }
  const tail = await tailOf(logFile);
  const why =
    outcome.kind === 'timeout'
      ? `did not report the cluster up within ${timeoutMs} ms, so it was stopped`
      : outcome.kind === 'interrupted'
        ? 'was stopped because this command was interrupted'
        : `exited before the cluster was up (code ${outcome.code}${outcome.signal ? ', signal ' + outcome.signal : ''})`;
  process.stderr.write(`[tscluster start] the background tscluster start (pid ${child.pid}) ${why}; the end of its log ${logFile}:\n${tail || '(empty)'}\n`);
  // A config or usage error in the child is one here too.
  return outcome.kind === 'exit' && outcome.code === 2 ? 2 : 1;
}
