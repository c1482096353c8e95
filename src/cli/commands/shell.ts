/**
 * `tscluster shell`: connect to a running cluster and open the interactive shell (see `../shell.ts`).
 * @module
 */
import path from 'node:path';
import { Client } from '../../client/client.js';
import { ConfigError, TsParallelError } from '../../core/errors.js';
import { describeProfile, ensureProfileDirs } from '../../config/profile.js';
import { COMMON_USAGE, PROFILE_OPTIONS, PROFILE_USAGE, handleCommonOptions, parseCommandArgs, positiveIntArg, profileFromArgs, stringArg, type Command } from '../args.js';
import { runShell } from '../shell.js';
import { describeId } from '../../cluster/running.js';

const USAGE = `Usage: tscluster shell [--profile NAME] [--cluster-id ID] [--timeout-ms MS]

An interactive Node shell (top-level await works) connected to a running cluster:
  client                  the connected Client (client.ids: the engine ids)
  view                    client.view(): every engine
  range, fromModule, …    everything tsparallel exports
Calls on views are awaited for you:  view.map(x => x ** 10, range(15))
  .px CODE                run CODE on every engine; print each engine's output and result by engine id
  .engines                list the engines
  .exit (or Ctrl-D)       leave (the cluster keeps running)
History is saved in the profile's shell_history. Input may be piped: lines run one after another.

Options:
${PROFILE_USAGE}
  --cluster-id ID       which cluster of the profile (default: the only, or the newest, running one)
  --timeout-ms MS       how long to wait for the controller to answer (default 10000)
${COMMON_USAGE}`;

/** `tscluster shell`. */
export const shellCommand: Command = {
  name: 'shell',
  summary: 'an interactive Node shell with a client connected to a running cluster',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { ...PROFILE_OPTIONS, 'cluster-id': { type: 'string' }, 'timeout-ms': { type: 'string' } }, USAGE);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const profile = profileFromArgs(values);
    const timeoutText = stringArg(values, 'timeout-ms');
    const clusterId = stringArg(values, 'cluster-id');
    const timeoutMs = timeoutText === undefined ? undefined : positiveIntArg(timeoutText, '--timeout-ms');
    let client: Client;
    try {
      client = await Client.connect({
        profile: profile.name,
        profileDir: stringArg(values, 'profile-dir'),
        clusterId,
        timeoutMs,
      });
    } catch (err) {
      // "No running cluster" is a state to fix, not a usage error: exit 1.
      if (err instanceof ConfigError) throw new TsParallelError(err.message, { cause: err });
      throw err;
    }
    await ensureProfileDirs(profile);
    return runShell({
      client,
      description: `cluster ${describeId(client.info.clusterId)} of ${describeProfile(profile)}`,
      historyFile: path.join(profile.dir, 'shell_history'),
    });
  },
};
