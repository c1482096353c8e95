/**
 * The environment layer of a configuration: `TSPARALLEL_*` variables, one per option.
 *
 * | variable | option | text |
 * | --- | --- | --- |
 * | `TSPARALLEL_N` | `n` | an integer, e.g. `4` |
 * | `TSPARALLEL_CLUSTER_ID` | `clusterId` | as is |
 * | `TSPARALLEL_CONTROLLER_LAUNCHER`, `…_IP`, `…_LOCATION`, `…_TRANSPORT`, `…_TASK_POLICY` | `controller.*` | as is |
 * | `TSPARALLEL_CONTROLLER_HEARTBEAT_MS`, `…_HEARTBEAT_TIMEOUT_MS`, `…_HWM`, `…_LEASE_MS` | `controller.*` | an integer |
 * | `TSPARALLEL_ENGINES_LAUNCHER` | `engines.launcher` | as is |
 * | `TSPARALLEL_ENGINES_START_TIMEOUT_MS` | `engines.startTimeoutMs` | an integer |
 * | `TSPARALLEL_SECURITY_CURVE` | `security.curve` | `true`, `false` or `auto` |
 * | `TSPARALLEL_SECURITY_REPLAY_WINDOW_MS` | `security.replayWindowMs` | an integer |
 * | `TSPARALLEL_PLUGINS` | `plugins` | comma-separated, or a JSON array |
 * | `TSPARALLEL_LAUNCHERS`, `TSPARALLEL_ENGINES_RESTART`, `TSPARALLEL_CONTROLLER_DASHBOARD` | `launchers`, `engines.restart`, `controller.dashboard` | JSON, e.g. `{"windows-hpc":{"scheduler":"HEADNODE"}}`, `{"max":2,"windowMs":60000}`, `{"port":8787}` |
 *
 * The rule: `TSPARALLEL_` + the option's path in upper snake case ({@link envVariableFor}). An empty variable counts
 * as unset. `TSPARALLEL_DIR` is not an option: it is the root of the profile directories.
 * @module
 */
import debug from 'debug';
import { CONFIG_FIELD_PATHS, CONFIG_FIELDS, envVariableFor, type ConfigFieldInfo, type ConfigFieldPath } from './schema.js';
import { closestMatch } from '../core/suggest.js';
import { ConfigError } from '../core/errors.js';

const log = debug('tsparallel:config');

/** `TSPARALLEL_*` variables that are not configuration options (they are read elsewhere). */
export const NON_OPTION_ENV_VARIABLES: readonly string[] = ['TSPARALLEL_DIR', 'TSPARALLEL_CONNECTION_INFO'];

/** Every option's environment variable, by option path. */
export const CONFIG_ENV_VARIABLES: ReadonlyMap<ConfigFieldPath, string> = new Map(
  CONFIG_FIELD_PATHS.map((path) => [path, envVariableFor(path)]),
);

/** The environment layer and, for each option path it sets, the variable it came from. */
export interface EnvLayer {
  /** The options the environment sets (not validated yet). */
  config: Record<string, unknown>;
  /** Option path (`controller.ip`) → variable (`TSPARALLEL_CONTROLLER_IP`). */
  variables: Map<string, string>;
}

/**
 * Read the `TSPARALLEL_*` options from `env`. Values are converted by kind (integers, lists, JSON) but not
 * validated: text that is not an integer stays text, so validation reports what was given.
 * @throws ConfigError for a `TSPARALLEL_*` variable that is no option but is within a typo of one
 *   (`TSPARALLEL_CONTROLER_IP`), and for `TSPARALLEL_LAUNCHERS` / `TSPARALLEL_PLUGINS` holding bad JSON.
 */
export function readEnvLayer(env: NodeJS.ProcessEnv): EnvLayer {
  const config: Record<string, unknown> = {};
  const variables = new Map<string, string>();
  const known = new Set([...CONFIG_ENV_VARIABLES.values(), ...NON_OPTION_ENV_VARIABLES]);
  for (const variable of Object.keys(env)) {
    if (!variable.startsWith('TSPARALLEL_') || known.has(variable)) continue;
    // Other parts of tsparallel may read their own TSPARALLEL_* variables, so only a near miss of an option's
    // variable is an error; anything else is left alone.
    const meant = closestMatch(variable, CONFIG_ENV_VARIABLES.values(), 2);
    if (meant) {
      // The value is not shown: a variable we do not know might hold a secret.
      throw new ConfigError(
        `unknown environment variable ${variable}: no configuration option reads it; ` +
          `did you mean ${meant}?`,
      );
    }
    log('ignoring %s: not a configuration option', variable);
  }
  for (const [path, variable] of CONFIG_ENV_VARIABLES) {
    const text = env[variable];
    if (text === undefined || text === '') continue;
    const value = convert(text, CONFIG_FIELDS[path], variable);
    const [head, leaf] = path.split('.') as [string, string | undefined];
    if (leaf === undefined) {
      config[head] = value;
    } else {
      const section = (config[head] ??= {}) as Record<string, unknown>;
      section[leaf] = value;
    }
    variables.set(path, variable);
    log('%s sets %s', variable, path);
  }
  return { config, variables };
}

function convert(text: string, field: ConfigFieldInfo, variable: string): unknown {
  switch (field.envKind) {
    case 'string':
      return text;
    case 'integer':
      return /^\s*[+-]?\d+\s*$/.test(text) ? Number(text) : text;
    case 'switch':
      return text === 'true' ? true : text === 'false' ? false : text;
    case 'list':
      if (text.trimStart().startsWith('[')) return parseJson(text, variable, 'a JSON array of strings');
      return text
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '');
    case 'json':
      return parseJson(text, variable, `JSON: ${field.allowed}${field.envExample ? `, e.g. ${variable}='${field.envExample}'` : ''}`);
  }
}

function parseJson(text: string, variable: string, allowed: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new ConfigError(
      `invalid configuration in the environment: ${variable} is not valid JSON ` +
        `(given '${text}'; ${(cause as Error).message}); allowed: ${allowed}`,
      { cause },
    );
  }
}
