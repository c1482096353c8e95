/**
 * Starting a controller from command-line arguments: shared by the `tscontroller` command and the in-process role
 * runner, so both accept exactly the same arguments.
 * @module
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../core/errors.js';
import type { RunningRole } from '../core/launcher.js';
import { ensureProfileDirs, profilePaths } from '../core/profile.js';
import type { TransportFactory } from '../core/transport.js';
import type { TaskPolicyName } from '../core/config.js';
import { Controller } from './controller.js';
import { TASK_POLICIES } from './policies/index.js';

/** The controller's command-line options, documented for `tscontroller --help`. */
export const CONTROLLER_USAGE = `Usage: tscontroller [options]
  --profile NAME              profile whose security/ gets the connection files (default: default)
  --profile-dir DIR           the profile directory, instead of --profile
  --cluster-id ID             the cluster's id within the profile (default: '')
  --ip IP                     address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --transport NAME            zeromq (default) or in-process
  --heartbeat-ms MS           how often engines are pinged (default 1000)
  --heartbeat-timeout-ms MS   silence after which an engine is declared dead (default 10000)
  --task-policy NAME          leastload (default) | lru | weighted | twobin | random
  --hwm N                     load-balanced tasks one engine may hold at once (default 16; 0 = no limit)
  --parent-pid PID            exit when this process is gone
  --log-level LEVEL           debug | info | warn | error
  --help, --version`;

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
        ip: { type: 'string', default: '127.0.0.1' },
        transport: { type: 'string', default: 'zeromq' },
        'heartbeat-ms': { type: 'string', default: '1000' },
        'heartbeat-timeout-ms': { type: 'string', default: '10000' },
        'parent-pid': { type: 'string' },
        'task-policy': { type: 'string', default: 'leastload' },
        hwm: { type: 'string', default: '16' },
        'max-message-bytes': { type: 'string', default: String(256 * 1024 * 1024) },
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
    transport: values.transport!,
    heartbeatMs: positiveInt(values['heartbeat-ms']!, '--heartbeat-ms'),
    heartbeatTimeoutMs: positiveInt(values['heartbeat-timeout-ms']!, '--heartbeat-timeout-ms'),
    parentPid: values['parent-pid'] ? positiveInt(values['parent-pid'], '--parent-pid') : undefined,
    taskPolicy: taskPolicy(values['task-policy']!),
    hwm: values.hwm === '0' ? 0 : positiveInt(values.hwm!, '--hwm'),
    maxMessageBytes: positiveInt(values['max-message-bytes']!, '--max-message-bytes'),
    logLevel: values['log-level'],
    help: values.help ?? false,
    version: values.version ?? false,
  };
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

/** Start a controller from its command-line arguments. */
export async function startController(argv: readonly string[], transports: TransportFactory): Promise<RunningRole & { controller: Controller }> {
  const args = parseControllerArgs(argv);
  await ensureProfileDirs(args.profile);
  const controller = new Controller({
    transport: transports.create(args.transport),
    securityDir: args.profile.security,
    clusterId: args.clusterId,
    ip: args.ip,
    heartbeatMs: args.heartbeatMs,
    heartbeatTimeoutMs: args.heartbeatTimeoutMs,
    taskPolicy: args.taskPolicy,
    hwm: args.hwm,
    maxMessageBytes: args.maxMessageBytes,
  });
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  controller.onStop(() => resolveExit(0));
  await controller.start();
  if (args.parentPid) {
    const watch = setInterval(() => {
      try {
        process.kill(args.parentPid!, 0);
      } catch {
        clearInterval(watch);
        void controller.stop({ stopEngines: true });
      }
    }, 500);
    watch.unref();
    controller.onStop(() => clearInterval(watch));
  }
  return { controller, exited, stop: () => controller.stop({ stopEngines: true }) };
}
