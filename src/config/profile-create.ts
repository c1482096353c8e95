/**
 * Creating, listing and locating profiles: what `tscluster profile create|list|locate` calls.
 * @module
 */
import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import debug from 'debug';
import { CONFIG_FILE_NAME, listConfigFiles } from './file.js';
import { closestMatch } from '../core/suggest.js';
import { PROFILE_LAUNCHERS, renderConfigTemplate } from './template.js';
import { ConfigError } from '../core/errors.js';
import { describeProfile, ensureProfileDirs, profileFlag, profilePaths, tsparallelRoot, type ProfilePaths } from './profile.js';

const log = debug('tsparallel:profile');

/** Options of {@link createProfile}. */
export interface CreateProfileOptions {
  /** Create the profile in this directory instead of `<root>/profile_<name>`. */
  dir?: string;
  /** The environment (`TSPARALLEL_DIR` sets the root); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Replace an existing `tsparallel.config.mjs` (default `false`: refuse). */
  overwrite?: boolean;
  /** Set the profile up for a batch scheduler: `slurm`, `pbs`, `sge`, `lsf` or `htcondor`. */
  launcher?: string;
}

/** What {@link createProfile} made. */
export interface CreatedProfile {
  /** The profile's paths. */
  paths: ProfilePaths;
  /** The config file written. */
  configFile: string;
  /** Every path written: the directories that did not exist before, then the config file. */
  written: string[];
}

/**
 * Create a profile: its directory with `security/` (private to the user), `log/` and `pid/`, and a commented
 * `tsparallel.config.mjs` listing every option with its default. Directories that exist are kept.
 * @example
 * ```ts
 * const { written } = await createProfile('mycluster');
 * for (const p of written) console.log(`created ${p}`);
 * ```
 * @throws ConfigError for a bad profile name; when the profile already has a config file (unless `overwrite` is
 *   set and that file is `tsparallel.config.mjs`; a config file of another form is never replaced, since two would
 *   conflict).
 */
export async function createProfile(name = 'default', options: CreateProfileOptions = {}): Promise<CreatedProfile> {
  if (options.launcher !== undefined && !PROFILE_LAUNCHERS.includes(options.launcher)) {
    const meant = closestMatch(options.launcher, PROFILE_LAUNCHERS);
    throw new ConfigError(
      `no profile template for launcher '${options.launcher}'${meant ? ` (did you mean '${meant}'?)` : ''}; ` +
        `choose one of ${PROFILE_LAUNCHERS.join(', ')}, or leave --launcher out for local processes`,
    );
  }
  const paths = profilePaths(name, { dir: options.dir === undefined ? undefined : path.resolve(options.dir), env: options.env });
  const configFile = path.join(paths.dir, CONFIG_FILE_NAME);
  const existing = await listConfigFiles(paths.dir);
  const others = existing.filter((file) => file !== configFile);
  if (others.length > 0) {
    throw new ConfigError(
      `${describeProfile(paths)} already has a config file: ${others.join(', ')}; edit it, or remove it before ` +
        `creating ${CONFIG_FILE_NAME}`,
    );
  }
  if (existing.includes(configFile) && !options.overwrite) {
    throw new ConfigError(
      `${describeProfile(paths)} already has ${configFile}; edit it, or pass overwrite: true ` +
        `(\`tscluster profile create ${profileFlag(paths)} --overwrite\`) to replace it with the commented defaults`,
    );
  }

  const dirs = [paths.dir, paths.security, paths.log, paths.pid];
  const missing: string[] = [];
  for (const dir of dirs) if (!(await isDirectory(dir))) missing.push(dir);
  await ensureProfileDirs(paths);
  // 'wx' makes a concurrent create fail instead of silently replacing the other's file.
  await writeFile(configFile, renderConfigTemplate({ profile: name, profileDir: paths.dir, ...(options.launcher !== undefined && { launcher: options.launcher }) }), {
    flag: options.overwrite ? 'w' : 'wx',
  });
  log('created profile %s in %s', name, paths.dir);
  return { paths, configFile, written: [...missing, configFile] };
}

/** Options of {@link listProfiles} and {@link locateProfile}. */
export interface ProfileLookupOptions {
  /** The environment (`TSPARALLEL_DIR` sets the root); default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** The profiles under the profile root (`profile_<name>` directories), sorted by name; `[]` when there is no root. */
export async function listProfiles(options: ProfileLookupOptions = {}): Promise<ProfilePaths[]> {
  const root = tsparallelRoot(options.env);
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(`cannot list the profiles in ${root}: ${(cause as Error).message}`, { cause });
  }
  const profiles: ProfilePaths[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory() || !entry.name.startsWith('profile_')) continue;
    try {
      profiles.push(profilePaths(entry.name.slice('profile_'.length), { env: options.env }));
    } catch {
      log('skipping %s: not a valid profile name', entry.name);
    }
  }
  return profiles.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The paths of the existing profile `name`.
 * @throws ConfigError when it does not exist, naming the root, the existing profiles, a close match, and how to
 *   create it.
 */
export async function locateProfile(name: string, options: ProfileLookupOptions = {}): Promise<ProfilePaths> {
  const paths = profilePaths(name, { env: options.env });
  if (await isDirectory(paths.dir)) return paths;
  const { problem, fix } = await missingProfile(name, options);
  throw new ConfigError(`${problem}; ${fix}`);
}

/**
 * What to say of a profile name that has no directory: the problem (with the existing names, and the one meant when
 * one is close) and its fix, apart, for messages that show them apart (`tscluster doctor`).
 */
export async function missingProfile(name: string, options: ProfileLookupOptions = {}): Promise<{ problem: string; fix: string }> {
  const names = (await listProfiles(options)).map((p) => p.name);
  const meant = closestMatch(name, names);
  return {
    problem: `no profile '${name}' in ${tsparallelRoot(options.env)} (existing: ${names.length ? names.join(', ') : 'none'})` + (meant ? `; did you mean '${meant}'?` : ''),
    fix: `create it with \`tscluster profile create ${name}\``,
  };
}

async function isDirectory(dir: string): Promise<boolean> {
  try {
    return (await stat(dir)).isDirectory();
  } catch {
    return false;
  }
}
