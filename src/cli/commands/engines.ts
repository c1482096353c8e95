/**
 * `tscluster engines -n N`: add N engines to a running cluster. The `tscluster start` process that runs the cluster
 * starts them with its engine launcher, so they are recorded in the cluster file and stopped with the cluster.
 * @module
 */
import { Client } from '../../client/client.js';
import { loadConfig } from '../../config/load.js';
import { ConfigError, TsParallelError } from '../../core/errors.js';
import { COMMON_USAGE, PROFILE_OPTIONS, PROFILE_USAGE, handleCommonOptions, parseCommandArgs, positiveIntArg, profileFromArgs, stringArg, type Command } from '../args.js';
import { controlAddress, requestControl } from '../control.js';
import { Reporter } from '../progress.js';
import { describeId, pickRunningCluster } from '../../cluster/running.js';
import { inspect } from 'node:util';
import { describeProfile, profileFlag } from '../../config/profile.js';

const USAGE = `Usage: tscluster engines -n N [--profile NAME] [--cluster-id ID]

Add N engines to a running cluster. The tscluster start process that runs it starts them with the profile's engine
launcher and waits until they have registered; they are stopped with the cluster (Ctrl-C or tscluster stop).

Options:
  -n N                  how many engines to add (required)
${PROFILE_USAGE}
  --cluster-id ID       which cluster of the profile (default: the default cluster, or the only running one)
${COMMON_USAGE}`;

/** `tscluster engines`. */
export const enginesCommand: Command = {
  name: 'engines',
  summary: 'add N engines to a running cluster',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { n: { type: 'string', short: 'n' }, 'cluster-id': { type: 'string' }, ...PROFILE_OPTIONS }, USAGE);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const nText = stringArg(values, 'n');
    if (nText === undefined) throw new ConfigError(`tscluster engines needs -n N, the number of engines to add (e.g. tscluster engines -n 2)\n\n${USAGE}`);
    const n = positiveIntArg(nText, '-n');
    const profile = profileFromArgs(values);
    const out = new Reporter('tscluster engines', stringArg(values, 'log-level'));
    const found = await pickRunningCluster(profile, stringArg(values, 'cluster-id'));
    const name = `cluster ${describeId(found.info.clusterId)} of ${describeProfile(profile)}`;
    if (!found.ownerAlive || !found.startedByCli) {
      throw new TsParallelError(
        found.ownerAlive
          ? `${name} was started by a program (pid ${found.info.pid}) with createCluster(), not by tscluster start, so only that program can add engines: call cluster.addEngines(${n}) there`
          : `${name} has no running tscluster start process (pid ${found.info.pid} is gone) to start engines; restart the cluster with \`tscluster start ${profileFlag(profile)}\``,
      );
    }
    // The start process waits up to engines.startTimeoutMs for them; wait a little longer for its answer.
    const startTimeoutMs = await loadConfig({ profile: profile.name, profileDir: stringArg(values, 'profile-dir') }).then(
      (l) => l.config.engines.startTimeoutMs,
      () => 60_000,
    );
    out.info(`Asking the tscluster start process of ${name} (pid ${found.info.pid}) to start ${n} more engines`);
    await requestControl(controlAddress(profile.security, found.info.clusterId), { op: 'add-engines', n }, {
      timeoutMs: startTimeoutMs + 30_000,
      onProgress: (p) => out.progress(`engines registered ${p.registered}/${p.total}`),
    });
    const client = await Client.connect({ connectionFile: found.info.connectionFiles.client });
    try {
      out.info(`${n} engines added; the cluster's engines are now ${inspect(client.ids)}`);
    } finally {
      await client.close();
    }
    return 0;
  },
};
