/**
 * `tscluster stop`: stop a running cluster of a profile, and wait until its processes are gone.
 * @module
 */
import { Client } from '../../client/client.js';
import { TsParallelError } from '../../core/errors.js';
import { COMMON_USAGE, PROFILE_OPTIONS, PROFILE_USAGE, handleCommonOptions, parseCommandArgs, positiveIntArg, profileFromArgs, stringArg, type Command } from '../args.js';
import { Reporter } from '../progress.js';
import { describeId, isStale, pickRunningCluster, recordedPids, removeClusterFiles, stopRecordedProcesses, waitForExit, type FoundCluster } from '../running.js';

const USAGE = `Usage: tscluster stop [--profile NAME] [--cluster-id ID] [--timeout-ms MS]

Stop a running cluster: the tscluster start process that runs it is sent SIGTERM (it stops the engines, then the
controller, and removes its files); a cluster started by a program (createCluster) is asked to shut down through its
controller; when the process that started it is gone, its recorded controller and engine processes are stopped
directly and its files removed. Waits until every process is gone.

Options:
${PROFILE_USAGE}
  --cluster-id ID       which cluster of the profile (default: the default cluster, or the only running one)
  --timeout-ms MS       how long to wait for the processes to exit (default 30000)
${COMMON_USAGE}`;

/** How long a process gets after SIGTERM before SIGKILL, when this command stops processes itself. */
const GRACE_MS = 5000;

/** `tscluster stop`. */
export const stopCommand: Command = {
  name: 'stop',
  summary: 'stop a running cluster (engines first, then the controller) and wait until its processes are gone',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { 'cluster-id': { type: 'string' }, 'timeout-ms': { type: 'string' }, ...PROFILE_OPTIONS }, USAGE);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const profile = profileFromArgs(values);
    const timeoutText = stringArg(values, 'timeout-ms');
    const timeoutMs = timeoutText === undefined ? 30_000 : positiveIntArg(timeoutText, '--timeout-ms');
    const out = new Reporter('tscluster stop', stringArg(values, 'log-level'));
    const found = await pickRunningCluster(profile, stringArg(values, 'cluster-id'));
    const name = `cluster ${describeId(found.info.clusterId)} of profile '${profile.name}'`;

    if (isStale(found)) {
      const removed = await removeClusterFiles(profile, found.info);
      out.info(`${name} was not running (its process ${found.info.pid} is gone); removed its stale files: ${removed.join(', ')}`);
      return 0;
    }
    if (found.ownerAlive === undefined) {
      throw new TsParallelError(`${name} was started on host ${found.info.hostname} (pid ${found.info.pid}); run tscluster stop there`);
    }
    const pids = recordedPids(found.info);
    if (found.ownerAlive && found.startedByCli) {
      out.info(`Stopping ${name}: SIGTERM to its tscluster start process (pid ${found.info.pid})`);
      process.kill(found.info.pid, 'SIGTERM');
      await waitForExit([found.info.pid, ...pids], timeoutMs);
      // It removes its files as it stops; this only matters if it died while stopping.
      await removeClusterFiles(profile, found.info);
    } else if (found.ownerAlive) {
      await shutdownThroughController(found, name, out, timeoutMs);
      await removeClusterFiles(profile, found.info);
    } else {
      out.info(`The process that started ${name} (pid ${found.info.pid}) is gone: stopping its processes ${pids.join(', ') || '(none recorded)'} directly`);
      const { skipped } = await stopRecordedProcesses(found, GRACE_MS);
      if (skipped.length) out.warn(`left alone pids ${skipped.join(', ')}: they were reused by other programs`);
      const jobIds = [found.info.launchers?.controller, ...(found.info.launchers?.engines ?? [])].flatMap((l) => l?.jobIds ?? []);
      if (jobIds.length) out.warn(`batch jobs ${jobIds.join(', ')} were recorded for this cluster: cancel them with the scheduler if they still run`);
      await removeClusterFiles(profile, found.info);
    }
    out.info(`Stopped ${name}`);
    return 0;
  },
};

/** A cluster a program started (createCluster): ask its controller to stop its engines and itself. */
async function shutdownThroughController(found: FoundCluster, name: string, out: Reporter, timeoutMs: number): Promise<void> {
  out.info(`${name} was started by a program (pid ${found.info.pid}), not tscluster start: asking its controller to shut down`);
  try {
    const client = await Client.connect({ connectionFile: found.info.connectionFiles.client, timeoutMs: Math.min(timeoutMs, 10_000) });
    await client.shutdown({ timeoutMs: Math.min(timeoutMs, 10_000) });
  } catch (err) {
    out.warn(`the controller did not take the shutdown request (${(err as Error).message}); stopping its processes directly`);
    await stopRecordedProcesses(found, GRACE_MS);
  }
  await waitForExit(recordedPids(found.info), timeoutMs);
}
