/**
 * `tscluster stop`: stop a running cluster of a profile, and wait until its processes are gone.
 * @module
 */
import { COMMON_USAGE, PROFILE_OPTIONS, PROFILE_USAGE, handleCommonOptions, parseCommandArgs, positiveIntArg, profileFromArgs, stringArg, type Command } from '../args.js';
import { Reporter } from '../progress.js';
import { pickRunningCluster, stopRunningCluster } from '../../cluster/running.js';

const USAGE = `Usage: tscluster stop [--profile NAME] [--cluster-id ID] [--timeout-ms MS]

Stop a running cluster: the tscluster start process that runs it is sent SIGTERM (it stops the engines, then the
controller, and removes its files); a cluster started by a program (createCluster) is asked to shut down through its
controller; when the process that started it is gone, its recorded controller and engine processes are stopped
directly and its files removed; when its controller died with a journal (controller.journal), the engines that wait
for it are stopped and the journal is moved aside, so nothing is left to restore. Waits until every process is gone.

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
    const found = await pickRunningCluster(profile, stringArg(values, 'cluster-id'), { orDead: true });
    await stopRunningCluster(found, { timeoutMs, graceMs: GRACE_MS, onStep: (step) => (step.level === 'warn' ? out.warn(step.message) : out.info(step.message)) });
    return 0;
  },
};
