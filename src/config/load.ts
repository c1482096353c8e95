/**
 * `loadConfig()`: the one way the CLI and `createCluster()` build a configuration, so a program and the CLI see the
 * same cluster. Layers, later winning:
 *
 * 1. the defaults ({@link defaultConfig});
 * 2. the profile's config file (in the profile directory);
 * 3. the project's config file (in the project directory, by default `process.cwd()`);
 * 4. `TSPARALLEL_*` environment variables (see `config-env.ts`);
 * 5. overrides (command-line flags, `createCluster()` options).
 *
 * Each layer is validated on its own, so an error names the file (or variable) it came from; the result says for
 * every option where its value came from.
 * @module
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import debug from 'debug';
import { defaultConfig, mergeConfig, type ClusterConfig, type UserConfig } from './index.js';
import { readEnvLayer } from './env.js';
import { readConfigDir, type ConfigFunctionContext } from './file.js';
import { describeValue, validateUserConfig } from './schema.js';
import { ConfigError } from '../core/errors.js';
import { profilePaths, type ProfilePaths } from './profile.js';

const log = debug('tsparallel:config');

/** Where one option's value came from. `label` is what `tscluster config show` prints. */
export type ConfigSource = DefaultSource | FileSource | EnvSource | OverrideSource;

/** A value that came from the defaults. */
export interface DefaultSource {
  /** Where the value came from. */
  kind: 'default';
  /** How `config show` names it. */
  label: 'default';
}

/** A value that came from the profile's or the project's config file. */
export interface FileSource {
  /** Which config file. */
  kind: 'profile' | 'project';
  /** The file's path. */
  file: string;
  /** How `config show` names it (the path). */
  label: string;
}

/** A value that came from a `TSPARALLEL_*` variable. */
export interface EnvSource {
  /** Where the value came from. */
  kind: 'env';
  /** The variable's name. */
  variable: string;
  /** How `config show` names it (`env TSPARALLEL_N`). */
  label: string;
}

/** A value given as a command-line flag or a `createCluster()` option. */
export interface OverrideSource {
  /** Where the value came from. */
  kind: 'override';
  /** How `config show` names it. */
  label: 'override';
}

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The profile's name (default `default`); its directory is `<TSPARALLEL_DIR or ~/.tsparallel>/profile_<name>`. */
  profile?: string;
  /** The profile directory, when it is not under the profile root (overrides the directory `profile` implies). */
  profileDir?: string;
  /** The project directory searched for a config file (default `process.cwd()`); `null` searches none. */
  projectDir?: string | null;
  /** The environment: `TSPARALLEL_*` options and `TSPARALLEL_DIR` (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** The last layer: command-line flags or `createCluster()` options. Keys set to `undefined` are ignored. */
  overrides?: UserConfig;
  /** How error messages name the overrides (default `overrides`; the CLI may say `command-line flags`). */
  overridesName?: string;
  /** How long reading one config file may take, function exports included (default 30000 ms). */
  timeoutMs?: number;
}

/** The result of {@link loadConfig}. */
export interface LoadedConfig {
  /** The merged, validated configuration. */
  config: ClusterConfig;
  /**
   * For every option path of `config` (`n`, `controller.ip`, `plugins`, `launchers.windows-hpc.scheduler`), where
   * its value came from. Arrays (`plugins`) are one entry; launcher options are one entry per option.
   */
  sources: Record<string, ConfigSource>;
  /** The profile the configuration belongs to. */
  profile: ProfilePaths;
  /** Whether the profile directory exists. */
  profileExists: boolean;
  /** The config files that were read (`null`: none found there). */
  files: {
    /** The profile's config file, or null. */
    profile: string | null;
    /** The project's config file, or null. */
    project: string | null;
  };
}

/**
 * Build a cluster's configuration from defaults, the profile's and the project's config files, `TSPARALLEL_*`
 * variables and overrides, and say where each value came from.
 * @example
 * ```ts
 * const { config, sources } = await loadConfig({ profile: 'mycluster', overrides: { n: 4 } });
 * sources['controller.ip'].label; // 'default', '/home/me/.tsparallel/profile_mycluster/tsparallel.config.mjs', …
 * ```
 * @throws ConfigError when a file cannot be read or parsed, when a layer has an unknown key, a wrong type or a bad
 *   value (the message names the file or variable, the key path, what was given and what is allowed), or when the
 *   merged values contradict each other; TimeoutError when a JS config file takes longer than `timeoutMs` to load.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const profile = profilePaths(options.profile ?? 'default', {
    dir: options.profileDir === undefined ? undefined : path.resolve(options.profileDir),
    env,
  });
  const projectDir = options.projectDir === null ? null : path.resolve(options.projectDir ?? process.cwd());
  const context: ConfigFunctionContext = { profile: profile.name, profileDir: profile.dir, projectDir, env };

  const defaults = defaultConfig();
  const sources: Record<string, ConfigSource> = {};
  for (const key of leafPaths(defaults)) sources[key] = { kind: 'default', label: 'default' };
  const layers: UserConfig[] = [];
  const apply = (layer: UserConfig, source: ConfigSource): void => {
    layers.push(layer);
    for (const key of leafPaths(layer)) sources[key] = source;
  };

  const profileFile = await readConfigDir(profile.dir, context, { timeoutMs: options.timeoutMs });
  if (profileFile) {
    apply(validateUserConfig(profileFile.content, { where: profileFile.file }), {
      kind: 'profile',
      file: profileFile.file,
      label: profileFile.file,
    });
  }

  // A project directory that is the profile directory would otherwise count its file twice.
  const projectFile =
    projectDir !== null && projectDir !== profile.dir ? await readConfigDir(projectDir, context, { timeoutMs: options.timeoutMs }) : null;
  if (projectFile) {
    apply(validateUserConfig(projectFile.content, { where: projectFile.file }), {
      kind: 'project',
      file: projectFile.file,
      label: projectFile.file,
    });
  }

  const envLayer = readEnvLayer(env);
  const envConfig = validateUserConfig(envLayer.config, { where: 'the environment', variables: envLayer.variables });
  layers.push(envConfig);
  for (const key of leafPaths(envConfig)) {
    const variable = envLayer.variables.get(key) ?? envLayer.variables.get(key.split('.')[0]!)!;
    sources[key] = { kind: 'env', variable, label: `env ${variable}` };
  }

  if (options.overrides) {
    const overrides = validateUserConfig(withoutUndefined(options.overrides), {
      where: options.overridesName ?? 'overrides',
    });
    apply(overrides, { kind: 'override', label: 'override' });
  }

  const config = mergeConfig(defaults, ...layers);
  checkConsistency(config, sources);
  log(
    'loaded config of profile %s (profile file: %s, project file: %s)',
    profile.name,
    profileFile?.file ?? 'none',
    projectFile?.file ?? 'none',
  );
  return {
    config,
    sources,
    profile,
    profileExists: await isDirectory(profile.dir),
    files: { profile: profileFile?.file ?? null, project: projectFile?.file ?? null },
  };
}

/**
 * The option paths a (partial) configuration sets, as `sources` keys them: top-level values, each key of
 * `controller` and `engines`, each option of each launcher (or the launcher's name when it has none).
 */
export function leafPaths(config: UserConfig | ClusterConfig): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if (key === 'controller' || key === 'engines' || key === 'security') {
      for (const [leaf, leafValue] of Object.entries(value as object)) {
        if (leafValue !== undefined) paths.push(`${key}.${leaf}`);
      }
    } else if (key === 'launchers') {
      for (const [launcher, launcherOptions] of Object.entries(value as Record<string, object>)) {
        const optionKeys = Object.keys(launcherOptions);
        if (optionKeys.length === 0) paths.push(`launchers.${launcher}`);
        for (const option of optionKeys) paths.push(`launchers.${launcher}.${option}`);
      }
    } else {
      paths.push(key);
    }
  }
  return paths;
}

/** Rules that involve several options, checked on the merged result (each value may come from another layer). */
function checkConsistency(config: ClusterConfig, sources: Record<string, ConfigSource>): void {
  const { jobs, enginesPerJob } = config.engines;
  if (jobs > 1 && enginesPerJob > 0) {
    throw new ConfigError(
      `invalid configuration: engines.jobs (given ${describeValue(jobs)}, from ${sources['engines.jobs']?.label}) and ` +
        `engines.enginesPerJob (given ${describeValue(enginesPerJob)}, from ${sources['engines.enginesPerJob']?.label}) ` +
        'both say how to split an engine set into jobs: give one (jobs: how many jobs; enginesPerJob: the most engines in one job)',
    );
  }
  const { heartbeatMs, heartbeatTimeoutMs } = config.controller;
  if (heartbeatTimeoutMs <= heartbeatMs) {
    throw new ConfigError(
      `invalid configuration: controller.heartbeatTimeoutMs (given ${describeValue(heartbeatTimeoutMs)}, from ` +
        `${sources['controller.heartbeatTimeoutMs']?.label}) must be larger than controller.heartbeatMs (given ` +
        `${describeValue(heartbeatMs)}, from ${sources['controller.heartbeatMs']?.label}); allowed: a timeout of ` +
        `several heartbeats, e.g. heartbeatMs: 1000 with heartbeatTimeoutMs: 10000`,
    );
  }
}

/** Drop keys set to `undefined` (flags the user did not give), one level into `controller` and `engines`. */
function withoutUndefined(config: UserConfig): UserConfig {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    if ((key === 'controller' || key === 'engines' || key === 'security') && typeof value === 'object' && value !== null) {
      out[key] = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
    } else {
      out[key] = value;
    }
  }
  return out as UserConfig;
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}
