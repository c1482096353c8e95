/**
 * `tscluster profile create [NAME] | list | locate NAME`: make a profile directory with its commented config file,
 * list the profiles, print a profile's directory.
 * @module
 */
import path from 'node:path';
import { closestMatch } from '../../core/suggest.js';
import { ConfigError } from '../../core/errors.js';
import { createProfile, listProfiles, locateProfile } from '../../config/profile-create.js';
import { profileFlag } from '../../config/profile.js';
import { COMMON_USAGE, handleCommonOptions, parseCommandArgs, stringArg, type Command } from '../args.js';
import { Reporter } from '../progress.js';

const USAGE = `Usage: tscluster profile create [NAME] [--profile-dir DIR] [--launcher SCHEDULER] [--overwrite]
       tscluster profile list
       tscluster profile locate NAME

  create   make the profile directory (<TSPARALLEL_DIR or ~/.tsparallel>/profile_NAME, NAME default 'default')
           with security/, log/, pid/ and a commented tsparallel.config.mjs showing every option and its default;
           prints each path it wrote
  list     the profiles, one per line: name and directory
  locate   print the directory of the profile NAME

Options:
  --profile NAME        the profile's name (same as the NAME argument)
  --profile-dir DIR     create: put the profile in DIR instead of the profile root
  --launcher SCHEDULER  create: set the profile up for a batch scheduler (slurm, pbs, sge, lsf, htcondor): the
                        controller and the engines as its jobs, and its options in launchers.<SCHEDULER>
  --overwrite           create: replace an existing tsparallel.config.mjs with the commented defaults
${COMMON_USAGE}`;

const ACTIONS = ['create', 'list', 'locate'] as const;

/** `tscluster profile`. */
export const profileCommand: Command = {
  name: 'profile',
  summary: 'create, list or locate profiles (a profile: a name, a directory and its config file)',
  usage: USAGE,
  async run(argv) {
    const { values, positionals } = parseCommandArgs(
      argv,
      { profile: { type: 'string' }, 'profile-dir': { type: 'string' }, launcher: { type: 'string' }, overwrite: { type: 'boolean' } },
      USAGE,
      true,
    );
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const [action, ...rest] = positionals;
    if (!action) throw new ConfigError(`tscluster profile needs an action: ${ACTIONS.join(', ')}\n\n${USAGE}`);
    if (!(ACTIONS as readonly string[]).includes(action)) {
      const meant = closestMatch(action, ACTIONS);
      throw new ConfigError(`unknown action 'profile ${action}'${meant ? `; did you mean 'profile ${meant}'?` : ''}\n\n${USAGE}`);
    }
    const flagName = stringArg(values, 'profile');
    if (rest.length > 1 || (rest.length === 1 && flagName !== undefined && flagName !== rest[0])) {
      throw new ConfigError(`tscluster profile ${action} takes at most one profile name, got ${[...rest, ...(flagName ? [flagName] : [])].map((n) => `'${n}'`).join(', ')}\n\n${USAGE}`);
    }
    const name = rest[0] ?? flagName;
    const out = new Reporter(`tscluster profile ${action}`, stringArg(values, 'log-level'));

    if (action === 'create') {
      const dir = stringArg(values, 'profile-dir');
      const launcher = stringArg(values, 'launcher');
      const created = await createProfile(name ?? 'default', {
        dir: dir === undefined ? undefined : path.resolve(dir),
        overwrite: values.overwrite === true,
        ...(launcher !== undefined && { launcher }),
      });
      for (const written of created.written) out.info(`${written === created.configFile ? 'Generating config file' : 'Creating directory'}: ${written}`);
      out.info(`edit ${created.configFile}, then start a cluster with \`tscluster start ${profileFlag(created.paths)}\``);
      return 0;
    }
    if (action === 'list') {
      if (name !== undefined) throw new ConfigError(`tscluster profile list takes no profile name\n\n${USAGE}`);
      const profiles = await listProfiles();
      if (profiles.length === 0) out.info('no profiles yet; create one with `tscluster profile create NAME`');
      const width = Math.max(4, ...profiles.map((p) => p.name.length));
      for (const p of profiles) out.print(`${p.name.padEnd(width)}  ${p.dir}`);
      return 0;
    }
    if (name === undefined) throw new ConfigError(`tscluster profile locate needs a profile name (e.g. tscluster profile locate mycluster)\n\n${USAGE}`);
    out.print((await locateProfile(name)).dir);
    return 0;
  },
};
