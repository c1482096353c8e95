/**
 * A complete batch launcher for another scheduler, OAR (`oarsub` / `oarstat` / `oardel`), over tsparallel's batch
 * base: its option fields, its job script, its three commands and its two parsers. Everything else (the script's
 * file under the profile, the shared `template`/`vars`/`enginesPerJob` options, state watching, reporting a job that
 * ended, cancel-and-wait on stop, a refused submit as a SchedulerError) comes from the base.
 *
 * Use it as a plugin: list this file (compiled) in the config's `plugins`, then `engines: { launcher: 'oar' }` and
 * `launchers: { oar: { queue: 'default', walltime: '2:00:00' } }`.
 */
import { z } from 'zod';
import {
  defineBatchLauncher, formatWalltime, matchJobId, renderJobScript, scriptLauncherOptions, templateLiteral, walltimeOption,
  type BatchSystem, type JobScriptInput, type ObservedJobState,
} from '../../src/launchers/index.js';

/** The `oar` launcher's options: the shared ones and OAR's own. */
export const oarLauncherOptions = scriptLauncherOptions.extend({
  /** The queue (`oarsub -q`). */
  queue: z.string().min(1).optional(),
  /** The jobs' time limit (`-l walltime=`): seconds, `'H:MM:SS'` or `'90m'`. */
  walltime: walltimeOption.optional(),
  /** The OAR project (`--project`). */
  project: z.string().min(1).optional(),
});

/** The parsed `oar` options. */
export type OarLauncherOptions = z.output<typeof oarLauncherOptions>;

/**
 * The default job script. OAR reads `#OAR` lines from a script submitted with `-S`. Engines are one job of n
 * cores, each core one engine, started with `oarsh` on the nodes OAR lists in `$OAR_NODEFILE`.
 */
function oarTemplate(role: JobScriptInput['role'], options: Partial<OarLauncherOptions>): string {
  const lines = ['#!/bin/sh', '#OAR -n {jobName}', '#OAR -O {outputPath}', '#OAR -E {outputPath}'];
  lines.push(options.walltime ? '#OAR -l /core={n},walltime={walltime}' : '#OAR -l /core={n}');
  if (options.queue) lines.push('#OAR -q {queue}');
  if (options.project) lines.push(`#OAR --project ${templateLiteral(options.project)}`);
  lines.push('{exports}cd {workDirectory} || exit 1');
  if (role === 'controller') lines.push('exec {command}');
  else lines.push('for host in $(cat "$OAR_NODEFILE"); do oarsh "$host" {command} & done', 'wait');
  return lines.join('\n') + '\n';
}

/** OAR's job states (`oarstat -s`) as job states. */
const OAR_STATES: Record<string, ObservedJobState> = {
  Waiting: 'queued', Hold: 'queued', toLaunch: 'queued', toAckReservation: 'queued', Launching: 'queued',
  Running: 'running', Suspended: 'running', Resuming: 'running', Finishing: 'running',
  Terminated: 'finished', Error: 'failed', toError: 'failed',
};

/** OAR as a batch system. */
export const oarSystem: BatchSystem<OarLauncherOptions> = {
  name: 'oar',
  ext: 'sh',
  notFoundHint: 'install the OAR user tools (oar-user) or put oarsub, oarstat and oardel on PATH',
  script: (input, options) =>
    renderJobScript(
      { ...input, outputPath: input.outputPath ?? `${input.profileDir}/log/${input.jobName}-%jobid%.out` },
      oarTemplate(input.role, options),
      { queue: options.queue, walltime: options.walltime === undefined ? undefined : formatWalltime(options.walltime, 'hms') },
      'launchers.oar.template',
    ),
  // -S: read the #OAR lines of the script.
  submit: (scriptPath) => ['oarsub', '-S', scriptPath],
  // oarsub prints `OAR_JOB_ID=123` on a line of its own (after its own remarks).
  parseJobId: (output, command) => matchJobId(output, /^OAR_JOB_ID=(\d+)$/, 'oarsub', command),
  async query(jobId, run) {
    // `oarstat -s -j 123` prints `123: Running`; a job OAR no longer knows prints nothing.
    const r = await run(['oarstat', '-s', '-j', jobId]);
    if (r.exitCode !== 0) return { id: jobId, state: 'unknown', message: `oarstat failed (exit ${r.exitCode}): ${r.stderr.trim()}` };
    const word = new RegExp(`^${jobId}:\\s*(\\w+)\\s*$`, 'm').exec(r.stdout)?.[1];
    if (!word) return { id: jobId, state: 'finished', rawState: 'NOT_FOUND', message: `job ${jobId} is no longer known to OAR` };
    return { id: jobId, state: OAR_STATES[word] ?? 'unknown', rawState: word };
  },
  cancel: (jobId) => ['oardel', jobId],
};

/** The `oar` launcher plugin: a plugin file default-exports it. */
export const oarLauncher = defineBatchLauncher(oarSystem, oarLauncherOptions, 'submits the controller or the engines as OAR jobs (oarsub / oarstat / oardel)');
export default oarLauncher;
