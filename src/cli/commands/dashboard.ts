/**
 * `tscluster dashboard`: serve the live dashboard and Prometheus `/metrics` of a running cluster from this process.
 * It connects as a client and asks the controller for its statistics (`stats_request`) on every update, so it works
 * with any running cluster, including one started without `controller.dashboard`. Batch jobs come in the same
 * statistics: the process that runs the cluster's launchers reports their states to the controller.
 * @module
 */
import { Client } from '../../client/client.js';
import { describeId, pickRunningCluster } from '../../cluster/running.js';
import { readConnectionFile } from '../../wire/connection.js';
import type { StatsCursor } from '../../wire/stats.js';
import { dashboardToken, startDashboard, type StatsSource } from '../../dashboard/server.js';
import { COMMON_USAGE, PROFILE_OPTIONS, PROFILE_USAGE, handleCommonOptions, parseCommandArgs, profileFromArgs, stringArg, type Command } from '../args.js';
import { ConfigError } from '../../core/errors.js';
import { Reporter } from '../progress.js';
import { describeProfile } from '../../config/profile.js';

const USAGE = `Usage: tscluster dashboard [--profile NAME] [--cluster-id ID] [--port P] [--host ADDRESS]

Serve a live dashboard of a running cluster (engines, task stream, throughput over the last hour, recent failures
with their remote stacks, clients, batch jobs) and Prometheus metrics at /metrics, on one port. Prints the URL to
open: it carries a token derived from the cluster's key, without which the server answers 401. Bound to 127.0.0.1
by default; from a laptop: ssh -L P:127.0.0.1:P loginnode, then open the printed URL. Ctrl-C stops it.

Options:
${PROFILE_USAGE}
  --cluster-id ID       which cluster of the profile (default: the default cluster, or the only running one)
  --port P              the port (default 0: any free port)
  --host ADDRESS        the address to bind (default 127.0.0.1)
${COMMON_USAGE}`;

/** `tscluster dashboard`. */
export const dashboardCommand: Command = {
  name: 'dashboard',
  summary: 'serve a live web dashboard and Prometheus /metrics of a running cluster; prints its URL',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { 'cluster-id': { type: 'string' }, port: { type: 'string' }, host: { type: 'string' }, ...PROFILE_OPTIONS }, USAGE);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const portText = stringArg(values, 'port') ?? '0';
    const port = Number(portText);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`--port takes a port number from 0 to 65535 (0: any free port), got '${portText}'`);
    const profile = profileFromArgs(values);
    const out = new Reporter('tscluster dashboard', stringArg(values, 'log-level'));
    const found = await pickRunningCluster(profile, stringArg(values, 'cluster-id'));
    const clientFile = found.info.connectionFiles.client;
    const key = (await readConnectionFile(clientFile)).key;
    const client = await Client.connect({ connectionFile: clientFile, direct: false });
    const source: StatsSource = {
      snapshot: async (since?: StatsCursor) => (await client.controllerStats({ since, timeoutMs: 5000 })).snapshot,
      // Only the metrics: a cursor past every event keeps the snapshot small.
      metrics: async () => (await client.controllerStats({ since: { seq: Number.MAX_SAFE_INTEGER, t: Date.now() }, metrics: true, timeoutMs: 5000 })).metrics ?? '',
    };
    const server = await startDashboard({ source, token: dashboardToken(key), port, host: stringArg(values, 'host') ?? '127.0.0.1' });
    out.info(`Dashboard of cluster ${describeId(found.info.clusterId)} of ${describeProfile(profile)} (Ctrl-C stops it):`);
    process.stdout.write(`${server.url}\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    await client.close();
    return 0;
  },
};
