/**
 * Starting a controller from command-line arguments: shared by the `tscontroller` command and the in-process role
 * runner, so both accept exactly the same arguments.
 * @module
 */
import { existsSync, rmSync } from 'node:fs';
import debug from 'debug';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { thisHost } from '../wire/connection.js';
import { journalFileName } from '../util/cluster-files.js';
import { ConfigError } from '../core/errors.js';
import { isProcessAlive } from '../util/processes.js';
import type { RunningRole } from '../core/launcher.js';
import { ensureProfileDirs, profilePaths } from '../config/profile.js';
import type { TransportFactory } from '../core/transport.js';
import { defaultConfig, type ControllerConfig, type SecurityConfig, type TaskPolicyName } from '../config/index.js';
import { wantsCurve, type CurveSetting } from '../wire/security.js';
import type { CurveKeyPair } from '../core/transport.js';
import { archiveJournal } from './journal.js';
import { controllerKeysFile, portOf, readControllerKeys, writeControllerKeys, type ControllerKeys } from './controller-keys.js';
import { Controller } from './controller.js';
import { TASK_POLICIES } from './policies/index.js';
import { serveDashboard } from './dashboard-hook.js';

const log = debug('tsparallel:controller');

/** The controller's defaults: the configuration's, so the command line and config files agree. */
const DEFAULTS = defaultConfig().controller;
const SECURITY_DEFAULTS = defaultConfig().security;

/** The controller's command-line options, documented for `tscontroller --help`. */
export const CONTROLLER_USAGE = `Usage: tscontroller [options]
  --profile NAME              profile whose security/ gets the connection files (default: default)
  --profile-dir DIR           the profile directory, instead of --profile
  --cluster-id ID             the cluster's id within the profile (default: '')
  --ip IP                     address to listen on (default ${DEFAULTS.ip}; 0.0.0.0 for every interface)
  --transport NAME            zeromq or in-process (default ${DEFAULTS.transport})
  --heartbeat-ms MS           how often engines are pinged (default ${DEFAULTS.heartbeatMs})
  --heartbeat-timeout-ms MS   silence after which an engine is declared dead (default ${DEFAULTS.heartbeatTimeoutMs})
  --task-policy NAME          leastload | lru | weighted | twobin | random (default ${DEFAULTS.taskPolicy})
  --hwm N                     load-balanced tasks one engine may hold at once (default ${DEFAULTS.hwm}; 0 = no limit)
  --hwm-ms MS                 unless its tasks are quick: then as many as it runs in MS at its recent pace, up to
                              1024, and half of that to an idle engine in one message (default ${DEFAULTS.hwmMs};
                              0 = --hwm alone decides, and tasks spread one per idle engine)
  --curve true|false|auto     encrypt every socket with CURVE (default auto: when --ip is not loopback)
  --replay-window-ms MS       how far a message's date may be from this clock (default ${SECURITY_DEFAULTS.replayWindowMs})
  --max-message-bytes N       the largest message accepted from a client or an engine (default ${DEFAULTS.maxMessageBytes})
  --dashboard-port PORT       serve the dashboard and /metrics on this port (0: any free port; default: none)
  --dashboard-host HOST       the dashboard's address (default 127.0.0.1; reach it from elsewhere with ssh -L)
  --location HOST             host name or address the connection files advertise (default: the bound address; for
                              0.0.0.0, this host's first non-internal IPv4 address, else its name)
  --lease-ms MS               stop (with the engines) when the cluster's owner is silent this long (default: no lease)
  --parent-pid PID            exit when this process (on this host) is gone; the local launcher's fast path
  --journal                   keep a task journal in security/ (tsparallel[-ID]-journal.jsonl) and, beside it, the
                              keys and ports a successor needs (tsparallel[-ID]-controller-keys.json, mode 0600),
                              for --restore; a clean stop removes both
  --restore                   take over from a controller of this cluster that died: same ports, HMAC and CURVE
                              keys (from its keys file), its journal's tasks, its engines when they come back
  --reconnect-ms MS           how long engines wait for a silent controller to come back before exiting (default 0)
  --log-level LEVEL           debug | info | warn | error
  --help, --version`;

/** What the controller's command line carries: where it writes its files, and its configuration. */
export interface ControllerLaunch {
  /** The profile directory (its `security/` gets the connection files). */
  profileDir: string;
  /** The cluster's id within the profile. */
  clusterId: string;
  /** The controller's configuration. */
  controller: Pick<ControllerConfig, 'ip' | 'transport' | 'heartbeatMs' | 'heartbeatTimeoutMs' | 'taskPolicy' | 'hwm'> & Partial<Pick<ControllerConfig, 'location' | 'dashboard' | 'maxMessageBytes' | 'hwmMs'>>;
  /** Wire security: CURVE and the replay window. */
  security: Pick<SecurityConfig, 'curve' | 'replayWindowMs'>;
  /** Exit when this process is gone (a controller on this host; none: outlive the starting process). */
  parentPid?: number;
  /** Stop when the cluster's owner is silent this long (a controller on another host; see cluster/lease.ts). */
  leaseMs?: number;
  /** Keep a task journal (for a later `--restore`). */
  journal?: boolean;
  /** Take over from a controller of this cluster that died. */
  restore?: boolean;
  /** How long engines wait for a silent controller to come back, in ms. */
  reconnectMs?: number;
}

/**
 * The `tscontroller` arguments that start a controller with this configuration: the inverse of
 * {@link parseControllerArgs}, so the cluster and the controller share one definition of the command line.
 */
export function toControllerArgs(launch: ControllerLaunch): string[] {
  const c = launch.controller;
  return [
    '--profile-dir', launch.profileDir,
    '--cluster-id', launch.clusterId,
    '--ip', c.ip,
    ...(c.location ? ['--location', c.location] : []),
    '--transport', c.transport,
    '--heartbeat-ms', String(c.heartbeatMs),
    '--heartbeat-timeout-ms', String(c.heartbeatTimeoutMs),
    '--task-policy', c.taskPolicy,
    '--hwm', String(c.hwm),
    ...(c.hwmMs !== undefined ? ['--hwm-ms', String(c.hwmMs)] : []),
    ...(c.maxMessageBytes !== undefined ? ['--max-message-bytes', String(c.maxMessageBytes)] : []),
    ...(c.dashboard ? ['--dashboard-port', String(c.dashboard.port), '--dashboard-host', c.dashboard.host ?? '127.0.0.1'] : []),
    '--curve', String(launch.security.curve),
    '--replay-window-ms', String(launch.security.replayWindowMs),
    ...(launch.parentPid !== undefined ? ['--parent-pid', String(launch.parentPid)] : []),
    ...(launch.leaseMs !== undefined ? ['--lease-ms', String(launch.leaseMs)] : []),
    ...(launch.journal ? ['--journal'] : []),
    ...(launch.restore ? ['--restore'] : []),
    ...(launch.reconnectMs ? ['--reconnect-ms', String(launch.reconnectMs)] : []),
  ];
}

/** Parse `tscontroller` arguments. @throws ConfigError on a bad argument (the CLI exits 2). */
export function parseControllerArgs(argv: readonly string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        profile: { type: 'string' },
        'profile-dir': { type: 'string' },
        'cluster-id': { type: 'string', default: '' },
        ip: { type: 'string', default: DEFAULTS.ip },
        location: { type: 'string' },
        'lease-ms': { type: 'string' },
        transport: { type: 'string', default: DEFAULTS.transport },
        'heartbeat-ms': { type: 'string', default: String(DEFAULTS.heartbeatMs) },
        'heartbeat-timeout-ms': { type: 'string', default: String(DEFAULTS.heartbeatTimeoutMs) },
        'parent-pid': { type: 'string' },
        'task-policy': { type: 'string', default: DEFAULTS.taskPolicy },
        hwm: { type: 'string', default: String(DEFAULTS.hwm) },
        'hwm-ms': { type: 'string', default: String(DEFAULTS.hwmMs) },
        curve: { type: 'string', default: String(SECURITY_DEFAULTS.curve) },
        'replay-window-ms': { type: 'string', default: String(SECURITY_DEFAULTS.replayWindowMs) },
        'dashboard-port': { type: 'string' },
        'dashboard-host': { type: 'string', default: '127.0.0.1' },
        'max-message-bytes': { type: 'string', default: String(DEFAULTS.maxMessageBytes) },
        journal: { type: 'boolean' },
        restore: { type: 'boolean' },
        'reconnect-ms': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
        version: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (cause) {
    throw new ConfigError(`${(cause as Error).message}\n${CONTROLLER_USAGE}`, { cause });
  }
  return {
    profile: profilePaths(values.profile ?? 'default', { dir: values['profile-dir'] }),
    clusterId: values['cluster-id']!,
    ip: values.ip!,
    location: values.location || undefined,
    leaseMs: values['lease-ms'] ? positiveInt(values['lease-ms'], '--lease-ms') : undefined,
    transport: values.transport!,
    heartbeatMs: positiveInt(values['heartbeat-ms']!, '--heartbeat-ms'),
    heartbeatTimeoutMs: positiveInt(values['heartbeat-timeout-ms']!, '--heartbeat-timeout-ms'),
    parentPid: values['parent-pid'] ? positiveInt(values['parent-pid'], '--parent-pid') : undefined,
    taskPolicy: taskPolicy(values['task-policy']!),
    hwm: values.hwm === '0' ? 0 : positiveInt(values.hwm!, '--hwm'),
    hwmMs: values['hwm-ms'] === '0' ? 0 : positiveInt(values['hwm-ms']!, '--hwm-ms'),
    curve: curveSetting(values.curve!),
    replayWindowMs: positiveInt(values['replay-window-ms']!, '--replay-window-ms'),
    dashboard: values['dashboard-port'] === undefined ? undefined : { port: values['dashboard-port'] === '0' ? 0 : positiveInt(values['dashboard-port'], '--dashboard-port'), host: values['dashboard-host']! },
    maxMessageBytes: positiveInt(values['max-message-bytes']!, '--max-message-bytes'),
    journal: values.journal ?? false,
    restore: values.restore ?? false,
    reconnectMs: values['reconnect-ms'] ? positiveInt(values['reconnect-ms'], '--reconnect-ms') : 0,
    logLevel: values['log-level'],
    help: values.help ?? false,
    version: values.version ?? false,
  };
}

function curveSetting(text: string): CurveSetting {
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'auto') return 'auto';
  throw new ConfigError(`--curve takes true, false or auto, got '${text}'`);
}

function taskPolicy(name: string): TaskPolicyName {
  if (!(name in TASK_POLICIES)) throw new ConfigError(`--task-policy takes one of ${Object.keys(TASK_POLICIES).join(', ')}, got '${name}'`);
  return name as TaskPolicyName;
}

/** Parse a positive integer argument. @throws ConfigError naming the flag. */
export function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${flag} takes a positive whole number, got '${text}'`);
  return n;
}

/**
 * What a restored controller takes from its predecessor: the keys file it left beside its journal when it died (its
 * key, CURVE key pair and ports), so that clients and engines, whose sockets reconnect by themselves, reach the new
 * controller.
 * @throws ConfigError when there is nothing to restore, or the predecessor is still alive.
 */
async function predecessor(securityDir: string, clusterId: string, journalFile: string, transport: string): Promise<ControllerKeys> {
  const keysFile = controllerKeysFile(securityDir, clusterId);
  if (!existsSync(journalFile) || !existsSync(keysFile)) {
    throw new ConfigError(
      `--restore: nothing to restore in ${securityDir} (it needs the journal ${path.basename(journalFile)} and the keys file ${path.basename(keysFile)} ` +
        'that a controller started with --journal leaves when it dies; a clean stop removes both); start without --restore',
    );
  }
  const keys = await readControllerKeys(keysFile);
  if (isProcessAlive(keys.controller.pid) && keys.controller.hostname === thisHost()) {
    throw new ConfigError(`--restore: the controller of this cluster (pid ${keys.controller.pid}) is still running; stop it first, or restore only after it died`);
  }
  if (keys.transport !== transport) throw new ConfigError(`--restore: the controller that died used the ${keys.transport} transport, this one ${transport}; restore with --transport ${keys.transport}`);
  return keys;
}

/**
 * With a journal: write the keys file a successor needs (see `controller-keys.ts`) once the controller listens (a
 * clean stop removes it, as it removes the journal). Only tcp endpoints can be taken over.
 */
async function keepKeys(controller: Controller, file: string, clusterId: string, curve: CurveKeyPair | undefined): Promise<void> {
  const ports = { client: portOf(controller.clientInfo.address), engine: portOf(controller.engineInfo.address), heart: portOf(controller.engineInfo.heartbeatAddress) };
  if (!Object.values(ports).every(Number.isInteger)) {
    log('not restorable: the %s transport has no tcp ports to take over', controller.engineInfo.transport);
    return;
  }
  await writeControllerKeys(file, {
    version: 1,
    clusterId,
    transport: controller.engineInfo.transport,
    controller: controller.engineInfo.controller,
    key: controller.engineInfo.key,
    ports,
    ...(curve && controller.engineInfo.curveServerKey === curve.publicKey ? { curve } : {}),
    created: new Date().toISOString(),
  });
}

/** Start a controller from its command-line arguments. */
export async function startController(argv: readonly string[], transports: TransportFactory): Promise<RunningRole & { controller: Controller }> {
  const args = parseControllerArgs(argv);
  await ensureProfileDirs(args.profile);
  const journalFile = path.join(args.profile.security, journalFileName(args.clusterId));
  const previous = args.restore ? await predecessor(args.profile.security, args.clusterId, journalFile, args.transport) : undefined;
  const journaled = args.journal || args.restore;
  // A journal left by a controller that died, when this one does not restore it: kept aside, not overwritten.
  if (journaled && !previous && existsSync(journalFile)) log('an earlier journal was moved to %s (start with --restore to take it over instead)', archiveJournal(journalFile));
  const transport = transports.create(args.transport);
  // With a journal, the CURVE key pair is chosen here, so that it can be kept for a successor; a restored
  // controller encrypts exactly when its predecessor did, with its keys (engines and clients hold the public one).
  const curve = previous ? previous.curve !== undefined : args.curve;
  const curveKeys = previous ? previous.curve : journaled && wantsCurve(args.curve, [args.ip]) ? transport.newCurveKeyPair?.() : undefined;
  const controller = new Controller({
    ...(previous && { key: previous.key, ports: previous.ports }),
    journalFile: journaled ? journalFile : undefined,
    restore: args.restore,
    reconnectMs: args.reconnectMs,
    transport,
    securityDir: args.profile.security,
    clusterId: args.clusterId,
    ip: args.ip,
    location: args.location,
    leaseMs: args.leaseMs,
    heartbeatMs: args.heartbeatMs,
    heartbeatTimeoutMs: args.heartbeatTimeoutMs,
    taskPolicy: args.taskPolicy,
    hwm: args.hwm,
    hwmMs: args.hwmMs,
    curve,
    curveKeys,
    replayWindowMs: args.replayWindowMs,
    maxMessageBytes: args.maxMessageBytes,
  });
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  const keysFile = controllerKeysFile(args.profile.security, args.clusterId);
  // Removed first on a clean stop, synchronously: the process exits right after its controller stops.
  if (journaled) controller.onStop(() => rmSync(keysFile, { force: true }));
  controller.onStop(() => resolveExit(0));
  await controller.start();
  if (journaled) await keepKeys(controller, keysFile, args.clusterId, curveKeys);
  if (args.dashboard) await serveDashboard(controller, args.dashboard);
  if (args.parentPid) {
    const watch = setInterval(() => {
      if (isProcessAlive(args.parentPid)) return;
      clearInterval(watch);
      void controller.stop({ stopEngines: true });
    }, 500);
    watch.unref();
    controller.onStop(() => clearInterval(watch));
  }
  return { controller, exited, stop: () => controller.stop({ stopEngines: true }) };
}
