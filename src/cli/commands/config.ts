/**
 * `tscluster config show`: the merged configuration of a profile and where each value came from (default, the
 * profile's config file, the project's, a `TSPARALLEL_*` variable).
 * @module
 */
import { inspect } from 'node:util';
import { closestMatch } from '../../core/suggest.js';
import { loadConfig, type ConfigSource } from '../../config/load.js';
import type { ClusterConfig } from '../../config/index.js';
import { ConfigError } from '../../core/errors.js';
import { describeProfile, profileFlag } from '../../config/profile.js';
import { COMMON_USAGE, PROFILE_OPTIONS, PROFILE_USAGE, handleCommonOptions, parseCommandArgs, profileFromArgs, stringArg, type Command } from '../args.js';
import { Reporter } from '../progress.js';

const USAGE = `Usage: tscluster config show [--profile NAME] [--project-dir DIR] [--json]

Print the configuration a cluster of the profile would start with, merged from: defaults < the profile's config file
< the project's config file (in the current directory, or --project-dir) < TSPARALLEL_* environment variables; each
value with where it came from.

Options:
${PROFILE_USAGE}
  --project-dir DIR     the project directory searched for a config file (default: the current directory)
  --json                print { profile, files, config, sources } as JSON
${COMMON_USAGE}`;

/** `tscluster config`. */
export const configCommand: Command = {
  name: 'config',
  summary: 'show the merged configuration of a profile and where each value came from',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(argv, { ...PROFILE_OPTIONS, 'project-dir': { type: 'string' }, json: { type: 'boolean' } }, USAGE, true);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    if (positionals[0] !== 'show' || positionals.length > 1) {
      const meant = positionals[0] ? closestMatch(positionals[0], ['show']) : undefined;
      throw new ConfigError(`tscluster config takes one action, show${positionals.length ? `; got '${positionals.join(' ')}'` : ''}${meant ? ` (did you mean 'show'?)` : ''}\n\n${USAGE}`);
    }
    const profile = profileFromArgs(values);
    const loaded = await loadConfig({ profile: profile.name, profileDir: stringArg(values, 'profile-dir'), projectDir: stringArg(values, 'project-dir') });
    const out = new Reporter('tscluster config', stringArg(values, 'log-level'));
    if (values.json) {
      out.print(JSON.stringify({ profile: loaded.profile, files: loaded.files, config: loaded.config, sources: loaded.sources }, null, 2));
      return 0;
    }
    const where = loaded.profile.byDir ? '' : `: ${loaded.profile.dir}`;
    out.print(`# ${describeProfile(loaded.profile)}${where}${loaded.profileExists ? '' : ` (not created yet: tscluster profile create ${profileFlag(loaded.profile)})`}`);
    out.print(`# profile config file: ${loaded.files.profile ?? 'none'}`);
    out.print(`# project config file: ${loaded.files.project ?? 'none'}`);
    const rows = configRows(loaded.config, loaded.sources);
    const width = Math.max(...rows.map((r) => r.text.length));
    for (const r of rows) out.print(`${r.text.padEnd(width)}  # ${r.source}`);
    return 0;
  },
};

/** One line per option, in the order of the config's shape, with its source's label. */
function configRows(config: ClusterConfig, sources: Record<string, ConfigSource>): { text: string; source: string }[] {
  const show = (v: unknown) => inspect(v, { depth: 4, breakLength: Infinity });
  const rows: { text: string; source: string }[] = [];
  const add = (key: string, value: unknown) => rows.push({ text: `${key} = ${show(value)}`, source: sources[key]?.label ?? 'default' });
  add('n', config.n);
  add('clusterId', config.clusterId);
  for (const section of ['controller', 'engines', 'security'] as const) {
    for (const [key, value] of Object.entries(config[section])) add(`${section}.${key}`, value);
  }
  const launchers = Object.entries(config.launchers);
  if (launchers.length === 0) add('launchers', {});
  for (const [name, options] of launchers) {
    const entries = Object.entries(options);
    if (entries.length === 0) add(`launchers.${name}`, {});
    for (const [key, value] of entries) add(`launchers.${name}.${key}`, value);
  }
  add('plugins', config.plugins);
  return rows;
}
