/**
 * The `in-process` launcher: a {@link BatchLauncher} over the {@link InProcessScheduler}, so the controller or the
 * engines run as jobs of a local scheduler with a batch system's states and cancel semantics.
 * @module
 */
import { z } from 'zod';
import { defineLauncher, ROLE_RUNNER, type LauncherContext } from '../../core/launcher.js';
import { SCHEDULER } from '../../core/scheduler.js';
import { getOptional } from '../../core/tokens.js';
import { signalProcess } from '../../util/processes.js';
import { BatchLauncher } from '../batch/launcher.js';
import { batchLauncherOptions, fromBatchOptions } from '../batch/options.js';
import { InProcessScheduler, type InProcessJobExtra } from './scheduler.js';

/** The options of the `in-process` launcher (`launchers['in-process']` in config): the batch options and its own. */
export const inProcessLauncherOptions = batchLauncherOptions.extend({
  /** Run engines inside this process through the container's RoleRunner instead of as processes (default false). */
  enginesInProcess: z.boolean().default(false),
  /** How often the launcher checks the job's state, in ms (default 200). */
  pollIntervalMs: z.number().int().positive().default(200),
  /** How long cancelled processes get between SIGTERM and SIGKILL, in ms (default 5000). */
  graceMs: z.number().int().nonnegative().default(5000),
  /** How long stop() waits for the cancelled job to end, in ms (default: three grace periods and 5 s). */
  stopTimeoutMs: z.number().int().positive().optional(),
});

/** The parsed options of the `in-process` launcher. */
export type InProcessLauncherOptions = z.infer<typeof inProcessLauncherOptions>;

/**
 * The `in-process` launcher: a {@link BatchLauncher} over an {@link InProcessScheduler}. It uses the container's
 * scheduler when one registered under {@link SCHEDULER} is an `InProcessScheduler` (so a test can look at its pids),
 * else its own.
 */
export class InProcessLauncher extends BatchLauncher {
  readonly #ownScheduler: InProcessScheduler | undefined;

  constructor(context: LauncherContext, options: InProcessLauncherOptions) {
    const shared = getOptional(context.container, SCHEDULER);
    const own =
      shared instanceof InProcessScheduler
        ? undefined
        : new InProcessScheduler({ container: context.container, graceMs: options.graceMs });
    const scheduler = (shared instanceof InProcessScheduler ? shared : own)!;
    const runInProcess = context.role === 'engines' && options.enginesInProcess;
    const runner = getOptional(context.container, ROLE_RUNNER);
    super(context, {
      ...fromBatchOptions(context, options),
      name: 'in-process',
      scheduler,
      stopTimeoutMs: options.stopTimeoutMs ?? options.graceMs * 3 + 5000,
      ...(runInProcess && {
        extra: {
          runInProcess: {
            role: 'engines',
            args: [...context.args],
            // The cluster's own runner, so a scheduler shared between clusters runs each one's engines right.
            ...(runner && { runner }),
          },
        } satisfies InProcessJobExtra,
      }),
    });
    this.#ownScheduler = own;
  }

  /** The scheduler this launcher submits to (its own, or the container's). */
  get inProcessScheduler(): InProcessScheduler {
    return this.scheduler as InProcessScheduler;
  }

  /** Pids of the processes its job started (empty for engines running in this process). */
  override get pids(): readonly number[] {
    const ids = this.jobIds;
    return ids.flatMap((id) => this.inProcessScheduler.pids(id));
  }

  /** Cancel the job; a scheduler of its own is closed too. */
  override async stop(options: { graceMs?: number } = {}): Promise<void> {
    await super.stop(options);
    await this.#ownScheduler?.close();
  }

  /** Signal every process of its job (they run here, so unlike other batch jobs they can be signalled). */
  override async signal(signal: NodeJS.Signals): Promise<void> {
    for (const pid of this.pids) signalProcess(pid, signal);
  }
}

/**
 * The `in-process` launcher plugin: runs the controller or the engines as jobs of an {@link InProcessScheduler}.
 * @example
 * ```js
 * // tsparallel.config.mjs: engines as local jobs, as a batch system would run them
 * export default { engines: { launcher: 'in-process' }, launchers: { 'in-process': { enginesInProcess: false } } };
 * ```
 */
export const inProcessLauncher = defineLauncher<InProcessLauncherOptions>({
  name: 'in-process',
  description: 'runs the job on this machine through the in-process test scheduler (real processes, batch semantics)',
  options: inProcessLauncherOptions,
  create: (context, options) => new InProcessLauncher(context, options),
});
