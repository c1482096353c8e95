/**
 * Profile directories: a profile is a name plus a directory holding `security/` (connection files), `log/`,
 * `pid/` and the profile's config file. The root is `~/.tsparallel`, or `TSPARALLEL_DIR` when set.
 * @module
 */
import { chmod, mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '../core/errors.js';

/** The paths of one profile. */
export interface ProfilePaths {
  /** The profile's name (`default`, `mycluster`, …). */
  name: string;
  /** The profile directory. */
  dir: string;
  /** Connection files and cluster files (mode 0700). */
  security: string;
  /** Log files of the processes. */
  log: string;
  /** Pid files. */
  pid: string;
  /**
   * Whether the profile was given by its directory (`--profile-dir`, `profileDir`) rather than by name: then its
   * directory is what identifies it to the user, and its name is only a label (often the default, 'default').
   */
  byDir?: boolean;
}

/** The root that holds every profile: `TSPARALLEL_DIR`, else `~/.tsparallel`. */
export function tsparallelRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.TSPARALLEL_DIR ? path.resolve(env.TSPARALLEL_DIR) : path.join(homedir(), '.tsparallel');
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * The paths of the profile `name` (default `default`), or of the explicit directory `dir` when given.
 * @throws ConfigError when the name has characters other than letters, digits, `.`, `_` and `-`.
 */
export function profilePaths(name = 'default', options: { dir?: string; env?: NodeJS.ProcessEnv } = {}): ProfilePaths {
  if (!PROFILE_NAME.test(name)) {
    throw new ConfigError(
      `bad profile name '${name}': use letters, digits, '.', '_' and '-' (e.g. 'mycluster'), or pass a directory`,
    );
  }
  const dir = options.dir ?? path.join(tsparallelRoot(options.env), `profile_${name}`);
  return { name, dir, security: path.join(dir, 'security'), log: path.join(dir, 'log'), pid: path.join(dir, 'pid'), byDir: options.dir !== undefined };
}

/**
 * How to name the profile on a `tscluster` command line, for the hints in messages: `--profile NAME` for a profile
 * given by name; `--profile-dir DIR` for one given by its directory (its name would point at another profile), with
 * `--profile NAME` in front when it was given a name other than 'default' too.
 */
export function profileFlag(paths: Pick<ProfilePaths, 'name' | 'dir' | 'byDir'>): string {
  if (!paths.byDir) return `--profile ${paths.name}`;
  return `${paths.name === 'default' ? '' : `--profile ${paths.name} `}--profile-dir ${path.resolve(paths.dir)}`;
}

/** How to name the profile in a program, for hints: `profile: 'NAME'`, `profileDir: 'DIR'` or both (see {@link profileFlag}). */
export function profileOption(paths: Pick<ProfilePaths, 'name' | 'dir' | 'byDir'>): string {
  if (!paths.byDir) return `profile: '${paths.name}'`;
  return `${paths.name === 'default' ? '' : `profile: '${paths.name}', `}profileDir: '${path.resolve(paths.dir)}'`;
}

/**
 * What messages call the profile: `profile 'NAME'`; for one given by its directory `profile DIR`, or
 * `profile 'NAME' in DIR` when it was given a name other than 'default' too.
 */
export function describeProfile(paths: Pick<ProfilePaths, 'name' | 'dir' | 'byDir'>): string {
  if (!paths.byDir) return `profile '${paths.name}'`;
  return `profile ${paths.name === 'default' ? '' : `'${paths.name}' in `}${path.resolve(paths.dir)}`;
}

/**
 * Create the profile's directories if they are missing. security/ (keys), log/ (user output and tracebacks) and
 * pid/ are private to the user (mode 0700), and made so again if they exist with looser modes.
 */
export async function ensureProfileDirs(paths: ProfilePaths): Promise<ProfilePaths> {
  await mkdir(paths.dir, { recursive: true });
  for (const dir of [paths.security, paths.log, paths.pid]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (process.platform !== 'win32') await chmod(dir, 0o700);
  }
  return paths;
}
