/**
 * The schema of a configuration: a zod schema for what a user may write, one documented entry per option
 * ({@link CONFIG_FIELDS}: doc line, what is allowed, environment variable), and {@link validateUserConfig}, which
 * turns a bad value into a {@link ConfigError} naming the file, the key path, what was given and what is allowed.
 *
 * The config file template and the `TSPARALLEL_*` environment mapping are generated from these entries, so the
 * documentation cannot drift from what is accepted.
 * @module
 */
import { z } from 'zod';
import type { ClusterConfig, ControllerConfig, EnginesConfig, SecurityConfig, TaskPolicyName, UserConfig } from './index.js';
import { closestMatch } from '../core/suggest.js';
import { ConfigError } from '../core/errors.js';

/** The task policies, in the order the docs list them. */
export const TASK_POLICIES = ['leastload', 'lru', 'weighted', 'twobin', 'random'] as const satisfies readonly TaskPolicyName[];

/** Cluster ids become parts of file names, so they are limited to characters that are safe everywhere. */
const CLUSTER_ID = /^[A-Za-z0-9._-]*$/;

const name = z.string().min(1);
const positiveInt = z.number().int().positive();

/** The controller's listening address: an IPv4 or IPv6 address, or `*` for every interface. */
const listenAddress = z.union([z.ipv4(), z.ipv6(), z.literal('*')]);

/** What a user may write under `controller` (every key optional). */
export const controllerConfigSchema = z.strictObject({
  launcher: name,
  ip: listenAddress,
  transport: name,
  heartbeatMs: positiveInt,
  heartbeatTimeoutMs: positiveInt,
  taskPolicy: z.enum(TASK_POLICIES),
  hwm: z.number().int().nonnegative(),
  hwmMs: z.number().int().nonnegative(),
  location: z.string(),
  leaseMs: positiveInt,
  dashboard: z.union([z.literal(false), z.strictObject({ port: z.number().int().min(0).max(65535), host: z.union([z.ipv4(), z.ipv6()]).optional() })]),
  maxMessageBytes: positiveInt,
  journal: z.boolean(),
}).partial();

/** What a user may write under `engines` (every key optional). */
export const enginesConfigSchema = z.strictObject({
  launcher: name,
  startTimeoutMs: positiveInt,
  restart: z.strictObject({ max: z.number().int().nonnegative(), windowMs: positiveInt }),
  graceMs: z.number().int().nonnegative(),
  reconnectMs: z.number().int().nonnegative(),
  jobs: positiveInt,
  enginesPerJob: z.number().int().nonnegative(),
}).partial();

/** What a user may write under `security` (every key optional). */
export const securityConfigSchema = z.strictObject({
  curve: z.union([z.boolean(), z.literal('auto')]),
  replayWindowMs: z.number().int().min(1000),
}).partial();

/**
 * What a user may write in a config file, an environment layer or overrides (every key optional).
 * Options under `launchers.<name>` are only checked to be objects: each launcher plugin validates its own.
 */
export const userConfigSchema = z.strictObject({
  n: positiveInt,
  clusterId: z.string().regex(CLUSTER_ID),
  controller: controllerConfigSchema,
  engines: enginesConfigSchema,
  security: securityConfigSchema,
  launchers: z.record(name, z.record(z.string(), z.unknown())),
  plugins: z.array(name),
}).partial();

// The schema and the hand-written `UserConfig` type must describe the same shape; this fails to compile if not.
type MutuallyAssignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesUserConfig: MutuallyAssignable<z.output<typeof userConfigSchema>, UserConfig> = true;
void schemaMatchesUserConfig;

/** The dotted path of every documented option: each key of {@link ClusterConfig}, nested ones as `controller.ip`. */
export type ConfigFieldPath =
  | Exclude<keyof ClusterConfig, 'controller' | 'engines' | 'security'>
  | `controller.${keyof ControllerConfig}`
  | `engines.${keyof EnginesConfig}`
  | `security.${keyof SecurityConfig}`;

/** How a `TSPARALLEL_*` environment variable's text becomes a value. */
export type EnvValueKind = 'string' | 'integer' | 'switch' | 'list' | 'json';

/** The documentation of one option, used by error messages, the config file template and the env mapping. */
export interface ConfigFieldInfo {
  /** One line on what the option does. */
  doc: string;
  /** What values are allowed, as a phrase (`a positive integer`). */
  allowed: string;
  /** How its environment variable is read. */
  envKind: EnvValueKind;
  /** Text shown instead of the default value when the default depends on the machine. */
  defaultText?: string;
  /** For a JSON option: a valid value of its environment variable, shown when the variable holds bad JSON. */
  envExample?: string;
}

/**
 * Every option's documentation. Typed by {@link ConfigFieldPath}, so an option added to `ClusterConfig` without an
 * entry here does not compile.
 */
export const CONFIG_FIELDS: { readonly [P in ConfigFieldPath]: ConfigFieldInfo } = {
  n: {
    doc: 'How many engines `tscluster start` starts.',
    allowed: 'a positive integer',
    envKind: 'integer',
    defaultText: 'the number of CPUs of this machine',
  },
  clusterId: {
    doc: "The cluster's id within its profile ('' is the profile's default cluster); several clusters can share a profile.",
    allowed: "letters, digits, '.', '_' and '-' (may be empty)",
    envKind: 'string',
  },
  'controller.launcher': {
    doc: 'The launcher that starts the controller: `local`, `ssh`, `windows-hpc`, `slurm`, `pbs`, `sge`, `lsf`, `htcondor`, `in-process`, or one a plugin adds.',
    allowed: 'a launcher name (non-empty string)',
    envKind: 'string',
  },
  'controller.ip': {
    doc: "The address the controller listens on; '0.0.0.0' or '*' listens on every interface (the default when a launcher places roles on other hosts; local clusters use 127.0.0.1).",
    allowed: "an IPv4 or IPv6 address, or '*' / '0.0.0.0' for every interface",
    envKind: 'string',
  },
  'controller.transport': {
    doc: 'The transport every role uses to talk to the controller.',
    allowed: "a transport name (non-empty string, e.g. 'zeromq')",
    envKind: 'string',
  },
  'controller.heartbeatMs': {
    doc: 'How often the controller pings each engine, in milliseconds.',
    allowed: 'a positive integer (milliseconds)',
    envKind: 'integer',
  },
  'controller.heartbeatTimeoutMs': {
    doc: 'How long an engine may go without answering pings before it is declared dead, in milliseconds. A busy engine (a long synchronous task) is not: its heartbeat connection, which libzmq probes, stays open; a stopped, killed or unreachable one has it closed within this time.',
    allowed: 'a positive integer (milliseconds), larger than controller.heartbeatMs',
    envKind: 'integer',
  },
  'controller.taskPolicy': {
    doc: 'How load-balanced tasks pick an engine.',
    allowed: `one of ${TASK_POLICIES.join(', ')}`,
    envKind: 'string',
  },
  'controller.hwm': {
    doc: 'How many load-balanced tasks one engine may hold at once (0: no limit).',
    allowed: 'an integer >= 0',
    envKind: 'integer',
  },
  'controller.hwmMs': {
    doc: 'An engine whose tasks are quick may hold more than hwm tasks: as many as it runs in this many milliseconds at its recent pace, up to 1024, and an idle one is sent half of that in one message (0: hwm alone decides, and tasks spread one per idle engine).',
    allowed: 'an integer >= 0 (milliseconds)',
    envKind: 'integer',
  },
  'controller.location': {
    doc: "The host name or address connection files advertise ('': loopback for local clusters; the controller host's first non-internal IPv4 address, else its name, when a launcher places roles on other hosts).",
    allowed: "a host name or IP address that engines and clients can reach (may be empty)",
    envKind: 'string',
  },
  'controller.leaseMs': {
    doc: 'How long the controller (and so its engines) outlives the silence of the process that started the cluster, in milliseconds; detached clusters take no lease.',
    allowed: 'a positive integer (milliseconds)',
    envKind: 'integer',
  },
  'controller.dashboard': {
    doc: "Serve the dashboard (engines, task stream, throughput, failures) and Prometheus /metrics from the controller on this port, bound to loopback unless host says otherwise; the URL with its token is written to the profile's security/ folder. `tscluster dashboard` serves one from another process instead.",
    allowed: "false, or { port: 0-65535 (0: any free port), host?: an IPv4 or IPv6 address (default '127.0.0.1') }",
    envKind: 'json',
    envExample: '{"port":8787}',
  },
  'controller.maxMessageBytes': {
    doc: 'The largest message the controller accepts from a client or an engine, in bytes (a client refuses to send a bigger one; a load-balanced result bigger than it fails its task with a ProtocolError, and output is cut to fit).',
    allowed: 'a positive integer (bytes)',
    envKind: 'integer',
  },
  'controller.journal': {
    doc: "Keep a task journal (and, in a 0600 file beside it, the controller's keys and ports) in the profile's security/ folder, so that a controller that died is taken over without losing tasks: by the next `tscluster start` or `createCluster()` (by default; `--no-restore` starts afresh), or by `tscontroller --restore`. A clean stop removes both. Set engines.reconnectMs too.",
    allowed: 'true or false',
    envKind: 'switch',
  },
  'engines.launcher': {
    doc: 'The launcher that starts the engines: `local`, `mpi`, `ssh`, `windows-hpc`, `slurm`, `pbs`, `sge`, `lsf`, `htcondor`, `in-process`, or one a plugin adds.',
    allowed: 'a launcher name (non-empty string)',
    envKind: 'string',
  },
  'engines.startTimeoutMs': {
    doc: 'How long `tscluster start` waits for the engines to register, in milliseconds.',
    allowed: 'a positive integer (milliseconds)',
    envKind: 'integer',
  },
  'engines.restart': {
    doc: 'Engine supervision: an engine that dies is replaced by a fresh one (a new id, started by the same launcher) up to max times within windowMs, then it stays down; off by default (max 0) for every launcher.',
    allowed: '{ max: an integer >= 0, windowMs: a positive integer (milliseconds) }',
    envKind: 'json',
    envExample: '{"max":2,"windowMs":60000}',
  },
  'engines.graceMs': {
    doc: "How long a task past its timeoutMs may ignore its abort signal before its engine process is killed (and, with engines.restart, replaced), in milliseconds; a task's own graceMs wins.",
    allowed: 'an integer >= 0 (milliseconds)',
    envKind: 'integer',
  },
  'engines.reconnectMs': {
    doc: 'How long engines wait for a controller that went silent to come back (restarted with --restore) before they exit, in milliseconds; 0: they exit once it has been silent for controller.heartbeatTimeoutMs.',
    allowed: 'an integer >= 0 (milliseconds)',
    envKind: 'integer',
  },
  'engines.jobs': {
    doc: "Split each engine set into this many batch jobs, as even as can be (smaller jobs often start sooner), each submitted, watched and cancelled on its own; for the batch launchers (slurm, pbs, sge, lsf, htcondor, and plugins that split). Not with engines.enginesPerJob.",
    allowed: 'a positive integer (1: one job per engine set); above 1 not with engines.enginesPerJob',
    envKind: 'integer',
  },
  'engines.enginesPerJob': {
    doc: 'Split each engine set into batch jobs of at most this many engines (the last one holds the rest), for the same launchers as engines.jobs. Not with engines.jobs.',
    allowed: 'an integer >= 0 (engines per job; 0: no limit); not with engines.jobs above 1',
    envKind: 'integer',
  },
  'security.curve': {
    doc: "Encrypt every socket (controller, engines' direct endpoints, heartbeats) with ZeroMQ CURVE; 'auto' does so whenever a role listens beyond loopback. Messages are HMAC-signed either way.",
    allowed: "true, false or 'auto'",
    envKind: 'switch',
  },
  'security.replayWindowMs': {
    doc: "How far a message's date may be from the receiver's clock, in milliseconds: older or later messages are dropped as replays (hosts' clocks must agree within it).",
    allowed: 'an integer >= 1000 (milliseconds)',
    envKind: 'integer',
  },
  launchers: {
    doc: "Options of each launcher, under the launcher's name; each launcher checks its own options.",
    allowed: "an object whose keys are launcher names and whose values are objects of options, e.g. { 'windows-hpc': { scheduler: 'HEADNODE' } }",
    envKind: 'json',
    envExample: '{"windows-hpc":{"scheduler":"HEADNODE"}}',
  },
  plugins: {
    doc: 'Packages or files whose default export is a launcher plugin (or an array of them).',
    allowed: 'an array of package names or file paths (non-empty strings)',
    envKind: 'list',
  },
};

/** The sections whose keys are documented one by one. */
const SECTIONS = ['controller', 'engines', 'security'] as const;

/** Every documented option path, in documentation order. */
export const CONFIG_FIELD_PATHS = Object.keys(CONFIG_FIELDS) as ConfigFieldPath[];

/**
 * The environment variable of an option: `TSPARALLEL_` and the path in upper snake case,
 * e.g. `controller.heartbeatMs` → `TSPARALLEL_CONTROLLER_HEARTBEAT_MS`, `n` → `TSPARALLEL_N`.
 */
export function envVariableFor(path: ConfigFieldPath): string {
  return 'TSPARALLEL_' + path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase();
}

/** Where a layer being validated came from, for error messages. */
export interface LayerOrigin {
  /** How the layer is named in messages: a file path, `the environment`, `overrides`. */
  where: string;
  /** For the environment layer: the variable each option path was read from. */
  variables?: ReadonlyMap<string, string>;
}

/**
 * Check a layer (a config file's content, the environment layer, overrides) against {@link userConfigSchema}.
 * @returns the layer, typed.
 * @throws ConfigError listing every problem: key path, given value, what is allowed, and a close match for
 *   unknown keys; the zod error is its `cause`.
 */
export function validateUserConfig(raw: unknown, origin: LayerOrigin): UserConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConfigError(
      `invalid configuration in ${origin.where}: expected an object of options (or a function returning one), ` +
        `given ${describeValue(raw)}; e.g. export default { n: 4 }`,
    );
  }
  const parsed = userConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.flatMap((issue) => describeIssue(issue, raw, origin));
  throw new ConfigError(`invalid configuration in ${origin.where}:\n` + problems.map((p) => `  - ${p}`).join('\n'), {
    cause: parsed.error,
  });
}

function describeIssue(issue: z.core.$ZodIssue, raw: object, origin: LayerOrigin): string[] {
  const parentPath = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => {
      const keyPath = [...parentPath, key].join('.');
      const known = knownKeysAt(parentPath);
      const suggestion = suggestKey(keyPath);
      return (
        `${label(keyPath, origin)}: unknown key (given ${describeValue(valueAt(raw, [...parentPath, key]))}); ` +
        `allowed keys${parentPath.length ? ` in ${parentPath.join('.')}` : ''}: ${known.join(', ')}` +
        (suggestion ? `; did you mean '${suggestion}'?` : '')
      );
    });
  }
  const keyPath = parentPath.join('.');
  return [`${label(keyPath, origin)}: given ${describeValue(valueAt(raw, parentPath))}; allowed: ${allowedAt(parentPath)}`];
}

function label(keyPath: string, origin: LayerOrigin): string {
  const shown = keyPath || '(top level)';
  const variable = origin.variables?.get(keyPath.split('.').slice(0, 2).join('.')) ?? origin.variables?.get(keyPath.split('.')[0]!);
  return variable ? `${shown} (from ${variable})` : shown;
}

/** What is allowed at a (possibly deeper than documented) path, from {@link CONFIG_FIELDS}. */
function allowedAt(path: readonly string[]): string {
  const [head, second] = path;
  if (head === 'launchers' && second !== undefined) {
    return `an object of options for launcher '${second}' (e.g. { scheduler: 'HEADNODE' })`;
  }
  if (head === 'plugins' && path.length >= 2) return 'a package name or file path (non-empty string)';
  if ((head === 'controller' || head === 'engines' || head === 'security') && path.length === 1) {
    return `an object with the keys ${knownKeysAt([head]).join(', ')}`;
  }
  const info = (CONFIG_FIELDS as Record<string, ConfigFieldInfo | undefined>)[path.slice(0, 2).join('.')];
  return info?.allowed ?? 'see the documentation of tsparallel.config';
}

/** The keys allowed directly under `path` (top level when empty). */
function knownKeysAt(path: readonly string[]): string[] {
  const prefix = path.length ? path.join('.') + '.' : '';
  const keys = new Set<string>();
  for (const field of CONFIG_FIELD_PATHS) {
    const full = field as string;
    if (!full.startsWith(prefix)) continue;
    keys.add(full.slice(prefix.length).split('.')[0]!);
  }
  for (const section of SECTIONS) if (!prefix) keys.add(section);
  return [...keys];
}

/**
 * The documented option a misspelled or misplaced key most likely meant: compared as a whole path
 * (`controller.heartbeatMS`) and by its last segment (`taskPolicy` at the top level → `controller.taskPolicy`).
 */
export function suggestKey(keyPath: string): string | undefined {
  const byPath = closestMatch(keyPath, CONFIG_FIELD_PATHS);
  if (byPath) return byPath;
  // A misspelled section (`contoller`) is compared with the section names, not the leaves.
  if (!keyPath.includes('.')) {
    const sections = new Set(CONFIG_FIELD_PATHS.filter((f) => f.includes('.')).map((f) => f.split('.')[0]!));
    const bySection = closestMatch(keyPath, [...sections, 'launchers']);
    if (bySection) return bySection;
  }
  const last = keyPath.split('.').pop()!;
  const leafNames = new Map<string, string>();
  for (const field of CONFIG_FIELD_PATHS) leafNames.set(field.split('.').pop()!, field);
  const byLeaf = closestMatch(last, leafNames.keys());
  return byLeaf === undefined ? undefined : leafNames.get(byLeaf);
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let value: unknown = root;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<string, unknown>)[key as string];
  }
  return value;
}

/**
 * A value as an error message shows it: strings quoted but otherwise exactly as written (a UNC path keeps single
 * backslashes), objects as short JSON, long text shortened.
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `'${shorten(value)}'`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value !== 'object' || value === null) return String(value);
  let json: string;
  try {
    json = JSON.stringify(value);
  } catch {
    json = Object.prototype.toString.call(value);
  }
  return `${Array.isArray(value) ? 'the array' : 'the object'} ${shorten(json)}`;
}

function shorten(text: string, max = 80): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text;
}
