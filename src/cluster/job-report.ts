/**
 * Reporting the cluster's batch jobs to its controller. The process that owns the launchers (the `Cluster`'s:
 * `tscluster start`, or the program that called `createCluster()`) is the only one that watches the jobs with the
 * scheduler's tools; it sends the controller every job's state in a `job_states_request` on every change, and again
 * every {@link REPORT_AGAIN_MS} (so a lost message or a restored controller catches up). The controller's statistics
 * then carry the jobs to whatever reads them: its own dashboard, `tscluster dashboard` in another process,
 * `/metrics` and `tscluster list`. One source of truth: the launchers' watch, through the controller.
 *
 * Launchers of processes have no jobs: nothing is sent and no connection is opened for them. A controller of an
 * older version refuses the request (a `ProtocolError` reply): reporting then stops, and nothing else changes.
 * @module
 */
import debug from 'debug';
import { randomUUID } from 'node:crypto';
import type { Launcher } from '../core/launcher.js';
import type { Connection, Transport } from '../core/transport.js';
import type { ConnectionInfo } from '../wire/connection.js';
import { Channels, Session } from '../wire/protocol.js';
import type { JobRole, JobStats, JobStatesReport } from '../wire/stats.js';

const log = debug('tsparallel:cluster');

/** How often the full report is sent again when nothing changed, in ms. */
export const REPORT_AGAIN_MS = 10_000;

/** How long changes are gathered into one report, in ms (a stop cancelling several jobs sends one message). */
const GATHER_MS = 20;

/** How the reporter reaches the controller: its transport and the client connection info. */
export interface ControllerTarget {
  /** The transport to dial with. */
  transport: Transport;
  /** The client connection file's content (address, key, CURVE server key). */
  info: ConnectionInfo;
}

interface Tracked {
  launcher: Launcher;
  role: JobRole;
  set: number;
}

/** Sends the cluster's batch job states to its controller (see the module's description). @internal */
export class JobStateReporter {
  readonly #tracked: Tracked[] = [];
  readonly #removers: (() => void)[] = [];
  #target?: () => Promise<ControllerTarget>;
  #link?: Promise<{ connection: Connection; session: Session } | undefined>;
  #gather?: NodeJS.Timeout;
  #again?: NodeJS.Timeout;
  #refused = false;
  #closed = false;

  /** Watch a launcher's jobs (a launcher without jobs is ignored). The `set` counts launchers of its role. */
  track(launcher: Launcher, role: JobRole): void {
    if (!launcher.onJobChange || this.#closed) return;
    const set = this.#tracked.filter((t) => t.role === role).length;
    this.#tracked.push({ launcher, role, set });
    this.#removers.push(launcher.onJobChange(() => this.#schedule()));
  }

  /** Every tracked job as last seen. */
  jobs(): JobStats[] {
    return this.#tracked.flatMap(({ launcher, role, set }) =>
      (launcher.watchedJobs ?? []).map((j) => ({
        launcher: launcher.name, role, set, jobId: j.id, state: j.state, since: j.since,
        ...(j.rawState !== undefined && { rawState: j.rawState }),
        ...(j.message !== undefined && { message: j.message }),
      })),
    );
  }

  /**
   * The controller is ready (first start, or a restored one): report to it from now on. `target` is called once,
   * when there is something to report.
   */
  attach(target: () => Promise<ControllerTarget>): void {
    if (this.#closed) return;
    void this.#drop();
    this.#target = target;
    this.#refused = false;
    this.#schedule();
  }

  /** Stop reporting and close the connection. Closing twice is harmless. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#gather);
    clearTimeout(this.#again);
    this.#removers.splice(0).forEach((remove) => remove());
    await this.#drop();
  }

  #schedule(): void {
    if (this.#closed || this.#refused || !this.#target || !this.#tracked.length || this.#gather) return;
    this.#gather = setTimeout(() => {
      this.#gather = undefined;
      void this.#send();
    }, GATHER_MS);
    this.#gather.unref();
  }

  async #send(): Promise<void> {
    clearTimeout(this.#again);
    const link = await (this.#link ??= this.#open());
    if (this.#closed || this.#refused) return;
    if (link) {
      const report: JobStatesReport = { jobs: this.jobs() };
      link.connection.send(link.session.encode(link.session.message('job_states_request', report), Channels.clientToCluster));
    } else {
      this.#link = undefined; // try to connect again next time
    }
    this.#again = setTimeout(() => this.#schedule(), REPORT_AGAIN_MS);
    this.#again.unref();
  }

  async #open(): Promise<{ connection: Connection; session: Session } | undefined> {
    try {
      const { transport, info } = await this.#target!();
      const session = new Session(info.key, { replayWindowMs: info.replayWindowMs });
      const connection = await transport.dial(info.address, { identity: `jobs-${process.pid}-${randomUUID()}`, curveServerKey: info.curveServerKey });
      connection.setMessageHandler((frames) => {
        const msg = session.decode(frames, [Channels.controllerToClient]);
        if (msg?.header.msg_type !== 'job_states_reply' || msg.content.status === 'ok') return;
        // A controller that does not know the message (an older version): it keeps showing no jobs.
        this.#refused = true;
        clearTimeout(this.#again);
        log('the controller refused the job states: %o; not reporting them', msg.content.error);
      });
      return { connection, session };
    } catch (err) {
      // The dashboard then shows no jobs; the cluster itself is not affected.
      log('cannot reach the controller to report job states: %s', (err as Error).message);
      return undefined;
    }
  }

  async #drop(): Promise<void> {
    const link = this.#link;
    this.#link = undefined;
    await (await link)?.connection.close();
  }
}
