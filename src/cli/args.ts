/**
 * Argument parsing shared by the `tscluster` subcommands: every one accepts `--help`, `--version` and `--log-level`,
 * and a bad argument is a usage error (a {@link ConfigError}, so the command exits 2) that shows the usage.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closestMatch } from '../core/suggest.js';
import { ConfigError } from '../core/errors.js';
import { profilePaths, type ProfilePaths } from '../config/profile.js';
import { applyLogLevel, packageVersion } from './common.js';

/** The option spec `parseArgs` takes. */
export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Options every subcommand accepts. */
export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  'log-level': { type: 'string' },
} as const satisfies OptionSpec;

/** Options of the commands that work on one profile. */
export const PROFILE_OPTIONS = {
  profile: { type: 'string' },
  'profile-dir': { type: 'string' },
} as const satisfies OptionSpec;

/** The usage text lines of {@link COMMON_OPTIONS}. */
export const COMMON_USAGE = `  --log-level LEVEL     debug | info | warn | error (debug shows every tsparallel log namespace)
  -h, --help            show this help
  --version             show the version`;

/** The usage text lines of {@link PROFILE_OPTIONS}. */
export const PROFILE_USAGE = `  --profile NAME        the profile (default: default; its directory is <TSPARALLEL_DIR or ~/.tsparallel>/profile_NAME)
  --profile-dir DIR     the profile directory, instead of --profile`;

/** Parsed arguments: option values by name, and the positionals. */
export interface ParsedArgs {
  /** Option values. */
  values: Record<string, string | boolean | undefined>;
  /** Positional arguments. */
  positionals: string[];
}

/**
 * Parse a subcommand's arguments strictly.
 * @throws ConfigError (exit 2) for an unknown option (with a close match when there is one) or a missing value,
 *   followed by the usage text.
 */
export function parseCommandArgs(argv: readonly string[], options: OptionSpec, usage: string, allowPositionals = false): ParsedArgs {
  const all: OptionSpec = { ...COMMON_OPTIONS, ...options };
  try {
    const { values, positionals } = parseArgs({ args: joinNegativeValues(argv, all), options: all, strict: true, allowPositionals });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (cause) {
    let message = (cause as Error).message;
    const unknown = /Unknown option '(--?[^']+)'/.exec(message)?.[1];
    if (unknown) {
      const names = Object.entries(all).flatMap(([n, o]) => [...(n.length > 1 ? [`--${n}`] : []), ...(o.short ? [`-${o.short}`] : [])]);
      const meant = closestMatch(unknown.split('=')[0]!, names);
      message = `unknown option ${unknown}${meant ? `; did you mean ${meant}?` : ''}`;
    }
    throw new ConfigError(`${message}\n\n${usage}`, { cause });
  }
}

/**
 * `parseArgs` takes a value that starts with '-' only as `--name=value` (else: "argument is ambiguous"), but after an
 * option that takes a value a negative number can only be that value (`-n -1`, `--timeout-ms -5`): rewrite it to the
 * `--name=value` spelling, so the option's own check says what is allowed.
 */
function joinNegativeValues(argv: readonly string[], options: OptionSpec): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return [...joined, ...argv.slice(i)];
    const name = arg.startsWith('--') ? arg.slice(2) : /^-[^-]$/.test(arg) ? Object.keys(options).find((n) => options[n]!.short === arg[1]) : undefined;
    const next = argv[i + 1];
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-\.?\d/.test(next)) {
      joined.push(`--${name}=${next}`);
      i += 1;
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

/** The profile named by `--profile` / `--profile-dir` (default `default`). @throws ConfigError for a bad name. */
export function profileFromArgs(values: ParsedArgs['values']): ProfilePaths {
  const name = typeof values.profile === 'string' ? values.profile : 'default';
  const dir = typeof values['profile-dir'] === 'string' ? values['profile-dir'] : undefined;
  return profilePaths(name, { dir });
}

/** A positive whole number given for `flag`. @throws ConfigError (exit 2) naming the flag and the value. */
export function positiveIntArg(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n <= 0) {
    throw new ConfigError(`${flag} takes a positive whole number (e.g. ${flag} 4), got '${text}'`);
  }
  return n;
}

/** A string option's value, or `undefined`. */
export function stringArg(values: ParsedArgs['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A `tscluster` subcommand. */
export interface Command {
  /** Its name (`start`, `profile`, …). */
  name: string;
  /** One line for `tscluster --help`. */
  summary: string;
  /** Its usage text, for `tscluster NAME --help` and usage errors. */
  usage: string;
  /** Run it with the arguments after its name; resolves to the exit code. */
  run(argv: readonly string[]): Promise<number>;
}

/**
 * Handle the options every command shares: print the usage for `--help` or the version for `--version` (returning
 * exit code 0: the command should stop there), and turn on logging for `--log-level`.
 * @throws ConfigError for a bad `--log-level`.
 */
export function handleCommonOptions(values: ParsedArgs['values'], usage: string): number | undefined {
  if (values.help) {
    process.stdout.write(usage + '\n');
    return 0;
  }
  if (values.version) {
    process.stdout.write(packageVersion() + '\n');
    return 0;
  }
  applyLogLevel(stringArg(values, 'log-level'));
  return undefined;
}
