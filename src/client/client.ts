/**
 * `Client`: lives in the user's process, connects to a controller with a connection file, knows the engine ids and
 * makes views.
 * @module
 */
import 'reflect-metadata';
import debug from 'debug';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { container as globalContainer, type DependencyContainer } from 'tsyringe';
import { connectionFileName, isControllerAlive, readConnectionFile, thisHost, type ConnectionInfo } from '../wire/connection.js';
import { randomUUID } from 'node:crypto';
import { ConfigError, ControllerLostError, DependencyError, EngineDiedError, ProtocolError, TaskAbortedError, TimeoutError, TransportError, TsParallelError } from '../core/errors.js';
import { checkClientInput } from '../wire/validate.js';
import { TASK_STATES, type TaskFlags, type TaskRecord, type TaskState } from '../core/tasks.js';
import { describeProfile, profileFlag, profileOption, profilePaths } from '../config/profile.js';
import { Channels, Session, versionMismatch, type Message } from '../wire/protocol.js';
import { BATCH_REPLY, BATCH_REQUEST, MAX_BATCH_BYTES, MAX_BATCH_TASKS, packRequests, unpackReplies } from '../wire/task-batch.js';
import { deserialize } from '../wire/serialize.js';
import { getOptional } from '../core/tokens.js';
import { addListener } from '../util/listeners.js';
import { SilenceClock } from '../util/liveness.js';
import { TRANSPORT, TRANSPORT_FACTORY, type Connection, type Transport } from '../core/transport.js';
import type { StatsCursor, StatsReply } from '../wire/stats.js';
import { AsyncResult, Part, remoteError } from './async-result.js';
import { DirectView } from './direct-view.js';
import { chooseEngineRoute } from '../wire/address.js';
import { LoadBalancedView, type TaskOptions } from './load-balanced-view.js';
import { describeValue } from './describe-value.js';
import { checkEngineIds } from './engine-ids.js';
import { closestMatch } from '../core/suggest.js';

const log = debug('tsparallel:client');

/** How long a request to the controller may take, in ms, unless the call says otherwise. */
const REQUEST_TIMEOUT_MS = 10_000;

/** A load-balanced request made in this turn of the event loop, not sent yet (see `Client.submitBalanced`). */
interface OutgoingTask {
  header: Pick<Message['header'], 'msg_id' | 'msg_type'>;
  content: Record<string, unknown>;
  metadata: Record<string, unknown>;
  buffers: Buffer[];
  part: Part;
  bytes: number;
}

/** An engine's direct connection, for a request sent straight to it instead of to the controller. */
interface DirectRoute {
  engineId: number;
  connection: Connection;
}

/**
 * How many requests sent straight to engines a client remembers (engine and outcome, not the value), the newest: the
 * controller learns of such a request only from its engine's report, sent a few ms after the reply (engines batch
 * them every 20 ms), and meanwhile only this client can tell a load-balanced task that depends on it, `getResult` or
 * `taskRecords` about it. Past this many, the controller has long had the report.
 */
const DIRECT_TASKS_KEPT = 4096;

/** How long after a direct request's reply `taskRecords` waits for its engine's report to reach the controller, in ms. */
const DIRECT_REPORT_WAIT_MS = 1000;

/** What a client knows of a request it sent straight to an engine (see {@link DIRECT_TASKS_KEPT}). */
interface DirectTask {
  /** The engine it went to. */
  engineId: number;
  /** Its part while it waits; dropped once settled, so that its value is not kept here. */
  part?: Part;
  /** Its error, once it failed. */
  error?: Error;
  /** When the engine's reply arrived (ms since epoch): its report to the controller follows. */
  answeredAt?: number;
}

/** Batches of tasks sent and not known to be over are kept by id up to this many; then finished ones are forgotten. */
const BATCHES_KEPT = 64;

/** How long `Client.whereabouts` waits for the controller's records, in ms: it adds to a `get()` that timed out. */
const WHEREABOUTS_TIMEOUT_MS = 1000;

/** How many request ids `Client.history` keeps by default (the controller's default number of task records). */
const DEFAULT_HISTORY_LIMIT = 100_000;

/** What a client accepts from the controller: engines' replies it forwards, and its own messages. */
const FROM_CLUSTER = [Channels.engineToCluster, Channels.controllerToClient];

/** How to find and reach a cluster. Give one of `connectionInfo`, `connectionFile` or a profile. */
export interface ConnectOptions {
  /** The profile whose running cluster to use (default `default`). */
  profile?: string;
  /** The profile directory, instead of a profile name. */
  profileDir?: string;
  /** Which cluster of the profile (default: the only, or the newest, running one). */
  clusterId?: string;
  /** The client connection file's path. */
  connectionFile?: string;
  /** The connection file's content, when already read. */
  connectionInfo?: ConnectionInfo;
  /** How long to wait for the controller to answer, in ms (default 10000). */
  timeoutMs?: number;
  /** The transport (default: the one the connection file names). */
  transport?: Transport;
  /** The DI container to resolve the transport from (default: tsyringe's global container). */
  container?: DependencyContainer;
  /**
   * Send direct-view requests straight to engines whose direct endpoint this process can reach (default true):
   * half the hops of going through the controller. An engine whose endpoint does not answer a connect probe within
   * `directProbeTimeoutMs` (or is loopback on another host) is reached through the controller, with no error.
   */
  direct?: boolean;
  /** How long the connect probe of an engine's direct endpoint may take, in ms (default 1000). */
  directProbeTimeoutMs?: number;
  /** How often to check that the controller is alive, in ms (default 1000). */
  heartbeatMs?: number;
  /**
   * How many request ids {@link Client.history} keeps, the newest (default 100,000, as many task records as the
   * controller keeps by default). Older ones are dropped, so that a long-running client's memory stays bounded;
   * `Infinity` keeps them all.
   */
  historyLimit?: number;
  /**
   * How long the controller may stay silent before it is declared lost, in ms (default 10000): every waiting request
   * then rejects with a ControllerLostError, and new ones fail at once.
   */
  heartbeatTimeoutMs?: number;
}

/** `historyLimit` of `options`, checked: a whole number >= 1, or Infinity. */
function historyLimitOf(options: ConnectOptions): number {
  const limit = options.historyLimit ?? DEFAULT_HISTORY_LIMIT;
  if (limit !== Infinity && !(Number.isSafeInteger(limit) && limit >= 1)) {
    throw new TsParallelError(`historyLimit must be a whole number >= 1 or Infinity, got ${describeValue(limit)}; it is how many request ids client.history keeps (default ${DEFAULT_HISTORY_LIMIT})`);
  }
  return limit;
}

/** An engine registered or went away. */
export interface EngineChange {
  /** What happened. */
  type: 'registered' | 'unregistered';
  /** The engine's id. */
  id: number;
  /** Why it went away (e.g. `its process (pid 123) exited`, `no heartbeat for 10012 ms`). */
  reason?: string;
  /** For `registered`: the id of the dead engine it replaces, when engine supervision started it. */
  replaces?: number;
}

/** Something an engine reported outside any task, e.g. user code's uncaught error after its task had ended. */
export interface EngineEvent {
  /** The engine. */
  id: number;
  /**
   * What happened: `uncaught_error` (user code's error between tasks), `revenant` (an engine declared dead
   * answered again and was told to shut down), `late_reply` (such an engine finished task `msgId` after all).
   */
  event: string;
  /** The task concerned, for `late_reply`. */
  msgId?: string;
  /** The error, for `uncaught_error` (and a description, for the others). */
  error?: {
    /** The error's class name. */
    name: string;
    /** Its message. */
    message: string;
    /** Its stack trace, when there is one. */
    stack?: string;
  };
}

/**
 * What became of the controller: `silent` (no answer for three heartbeats: it may have died; requests wait),
 * `back` (it answers again: a controller restarted with `--restore` took over, or the pause is over; pending
 * results complete), `lost` (silent past `heartbeatTimeoutMs`: every waiting request failed with ControllerLostError).
 */
export interface ControllerEvent {
  /** What happened. */
  type: 'silent' | 'back' | 'lost';
  /** How long it had been silent, in ms. */
  silentMs: number;
}

/** An engine as the client knows it. */
export interface EngineInfo {
  /** Its id. */
  id: number;
  /** Its process id. */
  pid: number;
  /** Its host. */
  hostname: string;
  /** Its endpoint for direct requests (loopback, or an address other hosts reach), when it has one. */
  direct?: string;
  /** The CURVE public key of its direct endpoint, when the wire is encrypted. */
  directKey?: string;
  /** When its batch job's walltime ends (ms since epoch), if it runs in a job with one. */
  jobEnd?: number;
}

/**
 * A connection to a running cluster.
 * @example
 * ```ts
 * const client = await Client.connect({ profile: 'mycluster' });
 * client.ids;                                             // [0, 1, 2, 3]
 * await client.view().map((x: number) => x ** 10, range(15));
 * await client.close();
 * ```
 */
export class Client {
  /** The engines, by id, as the controller last told. */
  readonly engines = new Map<number, EngineInfo>();
  /**
   * The ids of the requests this client sent, oldest first: the last {@link ConnectOptions.historyLimit} of them
   * (up to half as many more between trims, which drop the oldest in one step).
   */
  readonly history: string[] = [];
  readonly #session: Session;
  readonly #pending = new Map<string, Part>();
  readonly #waiters = new Map<string, (msg: Message | undefined, failure?: Error) => void>();
  readonly #engineListeners: ((event: EngineChange) => void)[] = [];
  readonly #engineEventListeners: ((event: EngineEvent) => void)[] = [];
  /** Connections straight to engines on this host, by engine id. */
  readonly #direct = new Map<number, Connection>();
  /** Requests sent straight to an engine: if it dies, nobody else will answer them. */
  readonly #sentDirect = new Set<string>();
  /** Requests sent straight to engines, oldest first, the last {@link DIRECT_TASKS_KEPT} (see there). */
  readonly #directTasks = new Map<string, DirectTask>();
  /** Load-balanced tasks held here until the direct requests they depend on end (see {@link #sendAfterDirect}). */
  readonly #held = new Set<string>();
  /** Flags naming direct requests, resolved ({@link #withoutDirect}): one object for every task of a map, as sent. */
  readonly #resolvedFlags = new WeakMap<TaskFlags, TaskFlags>();
  #closed = false;
  /** Set once the controller is lost: why, for the errors of later requests. */
  #lost?: string;
  #lastHeard = Date.now();
  #silent = false;
  readonly #controllerListeners: ((event: ControllerEvent) => void)[] = [];
  /** The largest message the controller accepts (from its connect reply). */
  #maxMessageBytes = Infinity;
  #heartTimer?: NodeJS.Timeout;
  /** Load-balanced requests waiting for the end of this turn, to leave together (see {@link submitBalanced}). */
  #outgoing: OutgoingTask[] = [];
  /** The tasks of each `batch_request` sent, by its id: a batch the controller could not read fails them all. */
  readonly #batches = new Map<string, Part[]>();
  /** JSON sizes of contents and flags shared by many requests (a map's), by object. */
  readonly #jsonBytes = new WeakMap<object, number>();
  #lastSized: [object | undefined, number, object | undefined, number] = [undefined, 0, undefined, 0];

  private constructor(
    private readonly connection: Connection,
    /** The connection info it used. */
    readonly info: ConnectionInfo,
    private readonly transport: Transport,
    private readonly identity: string,
    private readonly useDirect: boolean,
    private readonly directProbeTimeoutMs: number,
    private readonly historyLimit: number,
  ) {
    this.#session = new Session(info.key, { replayWindowMs: info.replayWindowMs });
    connection.setMessageHandler((frames) => this.#receive(frames, FROM_CLUSTER, true));
    // What was on the way when the connection dropped is lost: ask the controller again (see #resync).
    connection.onReconnect?.(() => void this.#resync());
  }

  /**
   * Connect to a running cluster.
   * @throws ConfigError at once when the profile has no running cluster (the message says how to start one).
   * @throws TimeoutError when the controller does not answer within `timeoutMs` (wrong key, or it is not running).
   */
  static async connect(options: ConnectOptions = {}): Promise<Client> {
    // Checked before anything is opened.
    const historyLimit = historyLimitOf(options);
    const info = options.connectionInfo ?? (await readConnectionFile(options.connectionFile ?? (await findConnectionFile(options))));
    const transport = options.transport ?? pickTransport(info.transport, options.container ?? globalContainer);
    const identity = `client-${process.pid}-${Math.random().toString(36).slice(2)}`;
    const connection = await transport.dial(info.address, { identity, curveServerKey: info.curveServerKey });
    const client = new Client(connection, info, transport, identity, options.direct ?? true, options.directProbeTimeoutMs ?? 1000, historyLimit);
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    client.#startHeartbeat(options.heartbeatMs ?? 1000, options.heartbeatTimeoutMs ?? 10_000);
    try {
      const reply = await client.#request('connect_request', {}, timeoutMs);
      const mismatch = versionMismatch(reply.header.version, 'the controller');
      if (mismatch) throw new ProtocolError(`cannot use the controller at ${info.address}: ${mismatch}`);
      const limit = (reply.content as { maxMessageBytes?: unknown }).maxMessageBytes;
      if (typeof limit === 'number' && limit > 0) client.#maxMessageBytes = limit;
      // Probed side by side: an unreachable endpoint costs one probe timeout, not one per engine.
      await Promise.all((reply.content as { engines: EngineInfo[] }).engines.map((e) => client.#addEngine(e)));
    } catch (err) {
      await client.close();
      if (err instanceof TimeoutError) {
        const handshake = connection.handshakeError;
        throw new TimeoutError(
          handshake
            ? `the controller at ${info.address} did not answer within ${timeoutMs} ms: the secure (CURVE) handshake failed: ${handshake}. Connect with the cluster's current connection file`
            : `the controller at ${info.address} did not answer within ${timeoutMs} ms: either it is not running, or the ` +
              `key in the connection file does not match it (an old connection file?). Restart the cluster, or connect with its current connection file`,
          timeoutMs,
          { cause: err },
        );
      }
      throw err;
    }
    log('connected to %s with %d engines', info.address, client.engines.size);
    return client;
  }

  /** Ping the controller; when it stays silent too long, fail everything that waits on it. */
  #startHeartbeat(everyMs: number, timeoutMs: number): void {
    this.#lastHeard = Date.now();
    // A program busy in synchronous code for a while has not heard the answers waiting in its socket yet.
    const clock = new SilenceClock(everyMs);
    this.#heartTimer = setInterval(() => {
      if (this.#closed || this.#lost) return;
      const silent = clock.tick() - this.#lastHeard;
      if (silent > timeoutMs) {
        this.#controllerLost(`no answer to heartbeats for ${silent} ms`);
        this.#emitController({ type: 'lost', silentMs: silent });
        return;
      }
      if (!this.#silent && silent > 3 * everyMs) {
        this.#silent = true;
        log('the controller has been silent for %d ms; requests wait for it', silent);
        this.#emitController({ type: 'silent', silentMs: silent });
      }
      this.#toController(this.#session.encode(this.#session.message('heartbeat_request', {}), Channels.clientToCluster));
    }, everyMs);
    this.#heartTimer.unref();
  }

  /** The controller is gone: reject every waiting request and result; later requests fail at once. */
  #controllerLost(detail: string): void {
    this.#lost = detail;
    clearInterval(this.#heartTimer);
    const pending = [...this.#pending.keys(), ...this.#waiters.keys()];
    log('lost the controller at %s: %s (%d requests waiting)', this.info.address, detail, pending.length);
    this.#outgoing = [];
    const error = new ControllerLostError(this.info.address, pending, detail);
    for (const part of this.#pending.values()) part.settle(undefined, error);
    this.#pending.clear();
    this.#sentDirect.clear();
    for (const waiter of this.#waiters.values()) waiter(undefined, error);
    this.#waiters.clear();
  }

  /** True once the controller was declared lost (see {@link ControllerLostError}); connect again to go on. */
  get controllerLost(): boolean {
    return this.#lost !== undefined;
  }

  /**
   * Call `listener` when the controller goes silent, comes back (e.g. restarted with `--restore`: this client's
   * sockets reconnect by themselves, and its pending results complete), or is declared lost. Returns the function
   * that removes it.
   * @example
   * ```ts
   * const off = client.onController((e) => console.log(`controller ${e.type} after ${e.silentMs} ms`));
   * ```
   */
  onController(listener: (event: ControllerEvent) => void): () => void {
    return addListener(this.#controllerListeners, listener);
  }

  #emitEngineChange(change: EngineChange): void {
    for (const l of [...this.#engineListeners]) {
      try {
        l(change);
      } catch (err) {
        log('engine %d %s, but an engine listener failed: %s', change.id, change.type, (err as Error).message);
      }
    }
  }

  #emitController(event: ControllerEvent): void {
    for (const l of [...this.#controllerListeners]) {
      try {
        l(event);
      } catch (err) {
        log('a controller listener failed: %s', (err as Error).message);
      }
    }
  }

  /** The registered engine ids, ascending. */
  get ids(): number[] {
    return [...this.engines.keys()].sort((a, b) => a - b);
  }

  /**
   * Call `listener` when an engine reports an event outside any task (an uncaught error between tasks). Returns the
   * function that removes it.
   */
  onEngineEvent(listener: (event: EngineEvent) => void): () => void {
    return addListener(this.#engineEventListeners, listener);
  }

  /**
   * Call `listener` when an engine registers or goes away (with the controller's reason). Returns the function that
   * removes it.
   * @example
   * ```ts
   * const off = client.onEngineChange((e) => console.log(e.type, e.id));
   * off();
   * ```
   */
  onEngineChange(listener: (event: EngineChange) => void): () => void {
    return addListener(this.#engineListeners, listener);
  }

  /**
   * A view over engines: every engine (default, resolved at each call, like `c[:]`), the listed ones, or one
   * engine (`client.view(0)`, like `c[0]`: results are not wrapped in arrays).
   */
  view(): DirectView<false>;
  view(targets: readonly number[]): DirectView<false>;
  view(target: number): DirectView<true>;
  view(targets?: number | readonly number[]): DirectView<boolean> {
    checkEngineIds(targets, 'view(targets)', true);
    if (typeof targets === 'number') return new DirectView(this, [targets], true);
    return new DirectView(this, targets ?? 'all', false);
  }

  /**
   * A load-balanced view: each task runs on whichever engine the controller's task policy picks, among every
   * engine (default) or the listed ones.
   */
  loadBalancedView(targets?: readonly number[], options: TaskOptions = {}): LoadBalancedView {
    return new LoadBalancedView(this, targets, options);
  }

  /** Abort tasks by id (or every request of an AsyncResult): queued ones are dropped, running ones finish. */
  async abort(tasks: readonly string[] | AsyncResult<unknown>, options: { timeoutMs?: number } = {}): Promise<void> {
    const msgIds: readonly string[] = Array.isArray(tasks) ? tasks : (tasks as AsyncResult<unknown>).msgIds;
    // Tasks held here for the direct requests they depend on have not reached the controller: dropped here.
    const held = msgIds.filter((id) => this.#held.delete(id));
    for (const id of held) this.#failPending(id, new TaskAbortedError(`task ${id} was aborted before it ran`));
    const rest = held.length ? msgIds.filter((id) => !held.includes(id)) : msgIds;
    if (rest.length || !held.length) await this.#request('abort_request', { msgIds: rest }, options.timeoutMs);
  }

  /**
   * Run finished load-balanced tasks again, under new ids: one value per task. (Not async: an AsyncResult is
   * itself awaitable.) It rejects with a TsParallelError naming each task that cannot be resubmitted (unknown,
   * unfinished, or no longer held by the controller).
   */
  resubmit(msgIds: readonly string[], options: { timeoutMs?: number } = {}): AsyncResult<unknown[]> {
    const pairs = msgIds.map((old) => ({ old, new: randomUUID() }));
    const parts = pairs.map((p) => {
      const part = new Part({ msgId: p.new, engineId: -1, status: 'pending', submitted: new Date(), stdout: '', stderr: '' });
      this.#pending.set(p.new, part);
      this.#sent(p.new);
      return part;
    });
    const refuse = (error: Error) => {
      for (const p of pairs) this.#pending.delete(p.new);
      for (const part of parts) part.settle(undefined, error);
    };
    this.#request('resubmit_request', { tasks: pairs }, options.timeoutMs).then((reply) => {
      const content = reply.content as { status: string; problems?: string[] };
      if (content.status !== 'ok') refuse(new TsParallelError(`cannot resubmit: ${(content.problems ?? []).join('; ')}`));
    }, refuse);
    return new AsyncResult(parts, (values) => values, { abort: (ids) => this.abort(ids), whereabouts: (ids) => this.whereabouts(ids) });
  }

  /**
   * The controller's records of tasks (every client's), filtered by state, engine or ids. A request sent straight to
   * an engine is recorded once it ended, when the engine reports it (a few ms after its reply): the records of this
   * client's direct requests that just ended are waited for, a second at the most.
   * @throws TsParallelError for a filter key it does not have (`{ ids }`: did you mean `msgIds`) or a value of the
   *   wrong kind (`{ state: 'done' }`).
   */
  async taskRecords(filter: { state?: TaskState | TaskState[]; engineId?: number; msgIds?: string[] } = {}, options: { timeoutMs?: number } = {}): Promise<TaskRecord[]> {
    checkRecordFilter(filter);
    const ask = async (f: typeof filter) => (await this.#request('task_records_request', { filter: f }, options.timeoutMs)).content.records as TaskRecord[];
    const records = await ask(filter);
    let { missing, until } = this.#unreported(filter, records);
    while (missing.length && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 10));
      const found = await ask({ ...filter, msgIds: missing });
      records.push(...found);
      missing = missing.filter((id) => !found.some((r) => r.msgId === id));
    }
    return records;
  }

  /**
   * This client's direct requests that match `filter`, ended here less than {@link DIRECT_REPORT_WAIT_MS} ago and are
   * not among `records` (their engine's report is on its way), and until when to wait for them.
   */
  #unreported(filter: { state?: TaskState | TaskState[]; engineId?: number; msgIds?: string[] }, records: readonly TaskRecord[]): { missing: string[]; until: number } {
    const since = Date.now() - DIRECT_REPORT_WAIT_MS;
    const states = filter.state === undefined ? undefined : ([] as TaskState[]).concat(filter.state);
    const ids = filter.msgIds && new Set(filter.msgIds);
    let recorded: Set<string> | undefined;
    const missing: string[] = [];
    let until = 0;
    for (const [msgId, t] of this.#directTasks) {
      if (t.answeredAt === undefined || t.answeredAt < since) continue;
      if (ids && !ids.has(msgId)) continue;
      if (filter.engineId !== undefined && t.engineId !== filter.engineId) continue;
      if (states && !states.includes(t.error ? 'failed' : 'completed')) continue;
      recorded ??= new Set(records.map((r) => r.msgId));
      if (recorded.has(msgId)) continue;
      missing.push(msgId);
      until = Math.max(until, t.answeredAt + DIRECT_REPORT_WAIT_MS);
    }
    return { missing, until };
  }

  /**
   * The results of tasks by id, fetched from the controller: tasks of this client or of another (ids from
   * `AsyncResult.msgIds`, `history` or `taskRecords()`), finished or not (then it waits for them). Each value is what
   * the task returned (a map's task: its chunk's values). The controller keeps a reply for a while after delivering it
   * (its last 64 MiB, up to a minute), and until purged for tasks sent with `keepResult: true`; for any other the
   * result rejects with a TsParallelError saying it is no longer kept. The result of a request sent straight to an
   * engine (a direct view's, by default) goes only to the client that sent it: that client asks the engine, which
   * keeps its recent direct replies up to a minute. (Not async: an AsyncResult is itself awaitable.)
   * @example
   * ```ts
   * const ar = lb.with({ keepResult: true }).map(f, range(8)); // in one program (keepResult is a task flag)…
   * await ar;
   * const ids = ar.msgIds;                                     // the tasks' ids are the AsyncResult's
   * const values = await client.getResult(ids);                // …and later, from any client: [[f(0)], [f(1)], …]
   * ```
   */
  getResult(msgIds: readonly string[], options: { timeoutMs?: number } = {}): AsyncResult<unknown[]> {
    if (this.#closed) throw new TransportError('this client is closed; connect again with Client.connect()');
    if (this.#lost) throw new ControllerLostError(this.info.address, [], this.#lost);
    if (!Array.isArray(msgIds) || !msgIds.every((id) => typeof id === 'string')) {
      throw new TsParallelError(`getResult(msgIds): msgIds must be an array of task ids (strings, e.g. an AsyncResult's msgIds), got ${describeValue(msgIds)}`);
    }
    // A task this client waits for already is answered as it is (one sent straight to an engine is not known to the
    // controller until it ends). One this client sent straight to an engine is asked of that engine, which keeps its
    // recent replies: the controller never holds a direct request's result. Only the others are asked of the controller.
    const ask = new Set<string>();
    const askEngine = new Map<number, string[]>();
    const parts = msgIds.map((msgId) => {
      let part = this.#pending.get(msgId);
      if (!part) {
        const direct = this.#directTasks.get(msgId);
        const engineId = direct?.engineId ?? -1;
        this.#pending.set(msgId, (part = new Part({ msgId, engineId, status: 'pending', submitted: new Date(), stdout: '', stderr: '' })));
        if (direct) {
          // Asked of the engine, as a request sent straight to it: if it dies, or its connection drops, this one is
          // failed, or asked again, with the others.
          this.#sentDirect.add(msgId);
          askEngine.set(engineId, [...(askEngine.get(engineId) ?? []), msgId]);
        } else {
          ask.add(msgId);
        }
      }
      return part;
    });
    const ids = [...ask];
    this.#askAgain(ids, options.timeoutMs, {
      unknown: (id) =>
        new TsParallelError(`task ${id} is unknown to the controller (never submitted, or purged; a request another client sent straight to an engine is known once the engine reports it, a few ms after it ends); check the id`),
      forgotten: (id) =>
        new TsParallelError(`the result of task ${id} is no longer kept by the controller (it keeps a delivered reply a while, and never the result of a request sent straight to an engine); send load-balanced tasks with { keepResult: true } to keep their results until purged`),
    }).catch((err: Error) => {
      for (const id of ids) this.#failPending(id, err);
    });
    for (const [engineId, list] of askEngine) this.#askEngineAgain(engineId, list, options.timeoutMs);
    return new AsyncResult(parts, (values) => values, { abort: (list) => this.abort(list), whereabouts: (ids) => this.whereabouts(ids) });
  }

  /**
   * For `getResult`: ask engine `engineId` for the replies it keeps to requests this client sent it straight. Those it
   * no longer keeps (or all, when the engine is gone) fail with an error saying where the result went.
   */
  #askEngineAgain(engineId: number, ids: string[], timeoutMs: number | undefined): void {
    const connection = this.#direct.get(engineId);
    const lost = (id: string) =>
      new TsParallelError(
        `task ${id} was sent straight to engine ${engineId} by this client, and its reply came back to this client then (its AsyncResult holds ` +
          `the value); ${connection ? `engine ${engineId} no longer keeps it (an engine keeps its recent direct replies, up to a minute)` : `engine ${engineId} is gone`}, ` +
          `and the controller keeps only the record of a direct request, never its result. Keep the AsyncResult, or send the task with ` +
          `client.loadBalancedView([${engineId}]).with({ keepResult: true }) to have the controller keep it`,
      );
    if (!connection) {
      for (const id of ids) this.#failPending(id, lost(id));
      return;
    }
    this.#askAgain(ids, timeoutMs, { unknown: lost, forgotten: lost }, { engineId, connection }).catch((err: Error) => {
      for (const id of ids) this.#failPending(id, err);
    });
  }

  /**
   * Ask the controller (or, `via` its direct connection, an engine) what became of tasks (`result_request`): it
   * sends again the replies it keeps (they settle their parts as any reply does), waits with the pending ones, and
   * names the ids it never got or no longer keeps: those of `ids` still waiting here fail with `errors`' error.
   */
  async #askAgain(ids: readonly string[], timeoutMs: number | undefined, errors: { unknown: (id: string) => Error; forgotten: (id: string) => Error }, via?: DirectRoute): Promise<void> {
    if (!ids.length) return;
    const { unknown = [], forgotten = [] } = (await this.#request('result_request', { msgIds: ids }, timeoutMs, via)).content as { unknown?: string[]; forgotten?: string[] };
    for (const id of unknown) this.#failPending(id, errors.unknown(id));
    for (const id of forgotten) this.#failPending(id, errors.forgotten(id));
  }

  #failPending(msgId: string, error: Error): void {
    const part = this.#pending.get(msgId);
    if (!part) return;
    this.#pending.delete(msgId);
    this.#sentDirect.delete(msgId);
    part.settle(undefined, error);
  }

  /**
   * The connection to the controller dropped and came back (ZeroMQ reconnects by itself): what was on the way either
   * side is lost. The controller is asked again for every task waiting here that went through it (the replies it
   * sent meanwhile, or that were lost, come again; a request it never got fails with a TransportError naming it), and
   * for its engines (registrations and departures told meanwhile were lost too).
   */
  async #resync(): Promise<void> {
    if (this.#closed || this.#lost) return;
    this.#flushBalanced();
    // Not those sent straight to engines, nor tasks held here for them: the controller has not had those.
    const ids = [...this.#pending.keys()].filter((id) => !this.#sentDirect.has(id) && !this.#held.has(id));
    log('the connection to the controller dropped and came back: asking again about %d tasks', ids.length);
    const address = this.info.address;
    try {
      await this.#askAgain(ids, undefined, {
        unknown: (id) => new TransportError(`the request of task ${id} was lost on the way to the controller at ${address} (the connection dropped and came back); submit it again`),
        forgotten: (id) =>
          new TransportError(`the reply to task ${id} was lost when the connection to the controller at ${address} dropped, and the controller no longer keeps it; run it again (client.resubmit([id]) for a load-balanced task)`),
      });
      const reply = await this.#request('connect_request', {});
      const engines = (reply.content as { engines: EngineInfo[] }).engines;
      const now = new Set(engines.map((e) => e.id));
      for (const id of [...this.engines.keys()]) {
        if (now.has(id)) continue;
        const reason = 'it went away while the connection to the controller was down';
        this.#removeEngine(id, reason);
        this.#emitEngineChange({ type: 'unregistered', id, reason });
      }
      // Probed side by side, as at connect: an unreachable endpoint costs one probe timeout, not one per engine.
      const added = engines.filter((e) => !this.engines.has(e.id));
      await Promise.all(added.map((e) => this.#addEngine(e)));
      for (const e of added) this.#emitEngineChange({ type: 'registered', id: e.id });
    } catch (err) {
      // The controller did not answer: the heartbeat declares it lost in time, and everything waiting fails then.
      log('asking the controller again after a reconnect failed: %s', (err as Error).message);
    }
  }

  /** Make the controller forget finished tasks (these ids, or all): frees their records. Resolves to how many. */
  async purgeResults(msgIds?: readonly string[], options: { timeoutMs?: number } = {}): Promise<number> {
    return (await this.#request('purge_request', msgIds ? { msgIds } : {}, options.timeoutMs)).content.purged as number;
  }

  /**
   * Wait until at least `n` engines are registered.
   * @throws TimeoutError when they are not within `timeoutMs` (default 60000).
   */
  async waitForEngines(n: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    while (this.engines.size < n) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (Date.now() > deadline) {
        throw new TimeoutError(`${this.engines.size} of ${n} engines registered after ${timeoutMs} ms; check the engines' logs in the profile's log/ folder`, timeoutMs);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** How many requests each engine holds. */
  async queueStatus(options: { timeoutMs?: number } = {}): Promise<Record<string, unknown>> {
    return (await this.#request('queue_status_request', {}, options.timeoutMs)).content;
  }

  /**
   * The controller's statistics (what the dashboard shows): with `since`, only the task events newer than that
   * cursor; with `metrics: true`, also its Prometheus metrics as text.
   */
  async controllerStats(options: { since?: StatsCursor; metrics?: boolean; timeoutMs?: number } = {}): Promise<StatsReply> {
    const reply = await this.#request('stats_request', { since: options.since ?? {}, metrics: options.metrics === true }, options.timeoutMs ?? 10_000);
    return reply.content as unknown as StatsReply;
  }

  /** Ask the controller to stop its engines and itself. The client is closed afterwards. */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    await this.#request('shutdown_request', {}, options.timeoutMs);
    await this.close();
  }

  /** Disconnect. Requests still waiting reject with a TransportError. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartTimer);
    this.#toController(this.#session.encode(this.#session.message('close_request', {}), Channels.clientToCluster));
    await new Promise((r) => setTimeout(r, 5));
    for (const part of this.#pending.values()) part.settle(undefined, new TransportError('the client was closed before the engine answered'));
    this.#pending.clear();
    await Promise.all([...this.#direct.values()].map((c) => c.close()));
    this.#direct.clear();
    await this.connection.close();
  }

  /** Same as {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Where requests not answered yet are, in words, for the TimeoutError of `AsyncResult.get`: from the controller's
   * records (queued, and then whether any engine is registered to take them; waiting for dependencies; running on
   * an engine; ended, the reply on its way), and from what this client knows (sent straight to an engine; held here
   * for the direct requests it depends on). @internal
   */
  async whereabouts(msgIds: readonly string[]): Promise<string> {
    const clauses: string[] = [];
    const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
    const straight = new Map<number, number>();
    const held = msgIds.filter((id) => this.#held.has(id)).length;
    const ask: string[] = [];
    for (const id of msgIds) {
      const part = this.#pending.get(id);
      if (this.#held.has(id)) continue;
      if (part && this.#sentDirect.has(id)) straight.set(part.metadata.engineId, (straight.get(part.metadata.engineId) ?? 0) + 1);
      else ask.push(id);
    }
    const records = ask.length
      ? ((await this.#request('task_records_request', { filter: { msgIds: ask } }, WHEREABOUTS_TIMEOUT_MS)).content.records as TaskRecord[])
      : [];
    const inState = (...states: TaskState[]) => records.filter((r) => states.includes(r.state));
    const queued = inState('queued').length;
    if (queued) {
      const ids = this.ids;
      clauses.push(
        `${count(queued, 'task is', 'tasks are')} queued at the controller and ${queued === 1 ? 'has' : 'have'} not started: ` +
          (ids.length === 0
            ? `no engine is registered (start some with \`tscluster engines -n N\` or cluster.addEngines(n); queued tasks run when one registers)`
            : `${count(ids.length, 'engine is', 'engines are')} registered (${ids.join(', ')}), with no room for more tasks or not among ${queued === 1 ? 'its' : 'their'} targets`),
      );
    }
    const waiting = inState('waiting').length;
    if (waiting) clauses.push(`${count(waiting, 'task waits', 'tasks wait')} for the tasks ${waiting === 1 ? 'it depends' : 'they depend'} on (after, follow)`);
    const running = inState('running');
    if (running.length) {
      const engines = [...new Set(running.map((r) => r.engineId))].sort((a, b) => (a ?? -1) - (b ?? -1));
      clauses.push(`${count(running.length, 'task is', 'tasks are')} running on engine${engines.length === 1 ? '' : 's'} ${engines.join(', ')}`);
    }
    const ended = inState('completed', 'failed', 'aborted').length;
    if (ended) clauses.push(`${count(ended, 'task has', 'tasks have')} ended at the controller, the reply on its way`);
    const unknown = ask.length - records.length;
    if (unknown > 0) clauses.push(`${count(unknown, 'task is', 'tasks are')} not known to the controller (not received yet, or purged)`);
    for (const [engineId, n] of straight) {
      clauses.push(`${count(n, 'request was', 'requests were')} sent straight to engine ${engineId}, which has not answered yet (running, or queued behind earlier requests there)`);
    }
    if (held) clauses.push(`${count(held, 'task is', 'tasks are')} held by this client until the direct requests ${held === 1 ? 'it depends' : 'they depend'} on have ended`);
    return clauses.join('; ');
  }

  /** Send one request to one engine. @internal */
  submit(engineId: number, type: string, content: Record<string, unknown>, buffers: Buffer[]): Part {
    return this.#send(type, content, buffers, { target: engineId }, engineId);
  }

  /**
   * Send one load-balanced request. Small ones wait for the end of the current turn of the event loop (a microtask):
   * those made together (a map's tasks, calls in a loop) leave as `batch_request` messages, signed once each
   * (`src/wire/task-batch.ts`); one made alone leaves alone, as before. @internal
   */
  submitBalanced(type: string, content: Record<string, unknown>, buffers: Buffer[], flags: TaskFlags): Part {
    if (this.#closed) throw new TransportError('this client is closed; connect again with Client.connect()');
    if (this.#lost) throw new ControllerLostError(this.info.address, [], this.#lost);
    const msgId = randomUUID();
    const part = new Part({ msgId, engineId: -1, status: 'pending', submitted: new Date(), stdout: '', stderr: '' });
    this.#pending.set(msgId, part);
    this.#sent(msgId);
    const direct = this.#directDependencies(flags);
    if (direct) this.#sendAfterDirect(part, type, content, buffers, flags, direct);
    else this.#sendBalanced(part, type, content, buffers, flags);
    return part;
  }

  /**
   * Send a load-balanced request whose part waits already: with the others of this turn, or, when large, at once.
   * @throws ProtocolError when it is larger than the controller accepts.
   */
  #sendBalanced(part: Part, type: string, content: Record<string, unknown>, buffers: Buffer[], flags: TaskFlags): void {
    const metadata = flags as Record<string, unknown>;
    let bytes = 512 + this.#jsonSize(content) + this.#jsonSize(metadata);
    for (const b of buffers) bytes += b.length;
    // A large one goes at once, alone, with the exact size check (after those waiting, to keep the order).
    if (bytes > MAX_BATCH_BYTES / 4 || bytes > this.#maxMessageBytes) {
      const msg = this.#session.message(type, content, { metadata, buffers });
      msg.header.msg_id = part.metadata.msgId;
      this.#toController(this.#checkedFrames(msg, Channels.clientToCluster));
      return;
    }
    if (this.#outgoing.length === 0) queueMicrotask(() => this.#flushBalanced());
    this.#outgoing.push({ header: { msg_id: part.metadata.msgId, msg_type: type }, content, metadata, buffers, part, bytes });
  }

  /**
   * The requests this client sent straight to engines among the dependencies (`after`, `follow`) of a task, by id, or
   * undefined when there are none (then the controller resolves them all).
   */
  #directDependencies(flags: TaskFlags): Map<string, DirectTask> | undefined {
    if (this.#directTasks.size === 0 || !(flags.after?.length || flags.follow?.length)) return undefined;
    let found: Map<string, DirectTask> | undefined;
    for (const id of [...(flags.after ?? []), ...(flags.follow ?? [])]) {
      const t = this.#directTasks.get(id);
      if (t) (found ??= new Map()).set(id, t);
    }
    return found;
  }

  /**
   * Send a load-balanced task that depends on requests this client sent straight to engines. The controller learns of
   * those only from their engines' reports, a few ms after they end, so they are resolved here: the task is held
   * until they have ended (it can be aborted meanwhile); if one failed, it fails with a DependencyError naming it;
   * else it goes without them ({@link #withoutDirect}), and the controller resolves its other dependencies.
   */
  #sendAfterDirect(part: Part, type: string, content: Record<string, unknown>, buffers: Buffer[], flags: TaskFlags, deps: ReadonlyMap<string, DirectTask>): void {
    const msgId = part.metadata.msgId;
    this.#held.add(msgId);
    const release = (): void => {
      // Aborted, or the client closed or lost the controller, while it waited.
      if (part.settled) {
        this.#held.delete(msgId);
        return;
      }
      const failed = [...deps].find(([, t]) => t.error);
      const waiting = [...deps.values()].find((t) => t.part);
      if (!failed && waiting) return waiting.part!.whenSettled(release);
      this.#held.delete(msgId);
      try {
        if (failed) {
          const [id, t] = failed;
          throw new DependencyError(`dependency ${id} failed, so this task cannot run (it was sent straight to engine ${t.engineId}: ${t.error!.message})`, { cause: t.error });
        }
        if (this.#closed) throw new TransportError(`the client was closed before task ${msgId} was sent`);
        if (this.#lost) throw new ControllerLostError(this.info.address, [msgId], this.#lost);
        this.#sendBalanced(part, type, content, buffers, this.#withoutDirect(flags, deps));
      } catch (err) {
        this.#failPending(msgId, err as Error);
      }
    };
    release();
  }

  /**
   * `flags` without the direct requests among its dependencies, all of which succeeded: those of `after` are met, and
   * those of `follow` make the engine they ran on the task's one target (so it runs, and is retried, only there).
   * @throws DependencyError when they ran on different engines, that engine is gone, or the view's targets exclude it.
   */
  #withoutDirect(flags: TaskFlags, deps: ReadonlyMap<string, DirectTask>): TaskFlags {
    const resolved = this.#resolvedFlags.get(flags);
    if (resolved) return resolved;
    let targets = flags.targets;
    const followed = (flags.follow ?? []).filter((id) => deps.has(id));
    if (followed.length) {
      const where = [...new Set(followed.map((id) => deps.get(id)!.engineId))];
      if (where.length > 1) throw new DependencyError(`impossible dependency: the tasks to follow ran on different engines (${where.join(', ')}), and a task runs on one`);
      const engineId = where[0]!;
      if (!this.engines.has(engineId)) throw new DependencyError(`impossible dependency: engine ${engineId}, where the tasks to follow ran, is gone`);
      if (targets?.length && !targets.includes(engineId)) {
        throw new DependencyError(`impossible dependency: the tasks to follow ran on engine ${engineId}, which is not among this task's targets (${targets.join(', ')})`);
      }
      targets = [engineId];
    }
    const rest = (ids: string[] | undefined) => ids?.filter((id) => !deps.has(id));
    const out: TaskFlags = { ...flags, targets, after: rest(flags.after), follow: rest(flags.follow) };
    this.#resolvedFlags.set(flags, out);
    return out;
  }

  /** The length of `o` as JSON, remembered for objects shared by many requests. */
  #jsonSize(o: object): number {
    // The tasks of a map share their content and their flags: the last two objects answer most lookups.
    if (o === this.#lastSized[0]) return this.#lastSized[1];
    if (o === this.#lastSized[2]) return this.#lastSized[3];
    let n = this.#jsonBytes.get(o);
    if (n === undefined) this.#jsonBytes.set(o, (n = JSON.stringify(o)?.length ?? 0));
    this.#lastSized = [o, n, this.#lastSized[0], this.#lastSized[1]];
    return n;
  }

  /** Send the load-balanced requests that wait: one alone, several as `batch_request` messages within the batch bounds. */
  #flushBalanced(): void {
    const tasks = this.#outgoing;
    if (tasks.length === 0) return;
    this.#outgoing = [];
    const limit = Math.min(MAX_BATCH_BYTES, this.#maxMessageBytes);
    let start = 0;
    while (start < tasks.length) {
      let end = start;
      let bytes = 0;
      while (end < tasks.length && end - start < MAX_BATCH_TASKS && (end === start || bytes + tasks[end]!.bytes <= limit)) bytes += tasks[end++]!.bytes;
      if (end - start === 1) {
        const t = tasks[start]!;
        const msg = this.#session.message(t.header.msg_type, t.content, { metadata: t.metadata, buffers: t.buffers });
        msg.header.msg_id = t.header.msg_id;
        this.connection.send(this.#session.encode(msg, Channels.clientToCluster));
      } else {
        const slice = tasks.slice(start, end);
        const { content, buffers } = packRequests(slice as unknown as Message[]);
        const batch = this.#session.message(BATCH_REQUEST, content, { buffers });
        this.#rememberBatch(batch.header.msg_id, slice.map((t) => t.part));
        this.connection.send(this.#session.encode(batch, Channels.clientToCluster));
      }
      start = end;
    }
  }

  /** Add a request's id to {@link history}, dropping the oldest half a limit at a time once past the limit. */
  #sent(msgId: string): void {
    const history = this.history;
    history.push(msgId);
    if (history.length > this.historyLimit + Math.max(1, Math.floor(this.historyLimit / 2))) history.splice(0, history.length - this.historyLimit);
  }

  #rememberBatch(id: string, parts: Part[]): void {
    if (this.#batches.size >= BATCHES_KEPT) {
      for (const [old, list] of this.#batches) if (list.every((p) => p.settled)) this.#batches.delete(old);
    }
    this.#batches.set(id, parts);
  }

  /** Send to the controller, after the load-balanced requests that wait (so that, e.g., an abort follows its tasks). */
  #toController(frames: Buffer[]): void {
    this.#flushBalanced();
    this.connection.send(frames);
  }

  #send(type: string, content: Record<string, unknown>, buffers: Buffer[], metadata: Record<string, unknown>, engineId: number): Part {
    if (this.#closed) throw new TransportError('this client is closed; connect again with Client.connect()');
    if (this.#lost) throw new ControllerLostError(this.info.address, [], this.#lost);
    const msg = this.#session.message(type, content, { metadata, buffers });
    const part = new Part({ msgId: msg.header.msg_id, engineId, status: 'pending', submitted: new Date(), stdout: '', stderr: '' });
    this.#pending.set(msg.header.msg_id, part);
    this.#sent(msg.header.msg_id);
    const direct = metadata.target === engineId ? this.#direct.get(engineId) : undefined;
    const frames = this.#checkedFrames(msg, direct ? Channels.clientToEngine(engineId) : Channels.clientToCluster);
    if (direct) {
      this.#sentDirect.add(msg.header.msg_id);
      this.#rememberDirect(msg.header.msg_id, engineId, part);
      direct.send(frames);
    } else {
      this.#toController(frames);
    }
    return part;
  }

  /**
   * A request's frames for `channel`.
   * @throws ProtocolError when they are more than the controller accepts (the request's part is dropped).
   */
  #checkedFrames(msg: Message, channel: string): Buffer[] {
    const frames = this.#session.encode(msg, channel);
    const bytes = frames.reduce((n, f) => n + f.length, 0);
    if (bytes > this.#maxMessageBytes) {
      this.#pending.delete(msg.header.msg_id);
      throw new ProtocolError(
        `this ${msg.header.msg_type} is ${bytes} bytes, more than the controller's limit of ${this.#maxMessageBytes} bytes (controller.maxMessageBytes): ` +
          `send less at once (smaller chunks, or push large data in parts), or raise the limit`,
      );
    }
    return frames;
  }

  /** Remember a request sent straight to an engine, the newest {@link DIRECT_TASKS_KEPT}: its engine, then its outcome. */
  #rememberDirect(msgId: string, engineId: number, part: Part): void {
    const task: DirectTask = { engineId, part };
    this.#directTasks.set(msgId, task);
    if (this.#directTasks.size > DIRECT_TASKS_KEPT) this.#directTasks.delete(this.#directTasks.keys().next().value!);
    // Registered before any task that depends on it waits on the part, so those see its outcome here.
    part.whenSettled(() => {
      task.part = undefined;
      task.error = part.metadata.error;
    });
  }

  /**
   * Learn of an engine. An engine whose direct endpoint is reachable is dialled before it is listed, so that all of
   * its direct requests take the one path (two paths could reorder a push and the call that uses it).
   */
  async #addEngine(e: EngineInfo): Promise<void> {
    // On an encrypted cluster, an engine whose direct endpoint has no key is reached through the controller only.
    const encrypted = this.info.curveServerKey !== undefined;
    if (this.useDirect && e.direct && (!encrypted || e.directKey) && !this.#direct.has(e.id)) {
      const route = await chooseEngineRoute(e, { thisHost: thisHost(), probeTimeoutMs: this.directProbeTimeoutMs });
      if (route === 'controller') log('engine %d: its direct endpoint %s is not reachable from here; using the controller', e.id, e.direct);
      try {
        if (route === 'direct' && !this.#closed && !this.#direct.has(e.id)) await this.#dialDirect(e.id, e.direct, encrypted ? e.directKey : undefined);
      } catch (err) {
        // A bad direct address (a broken or hostile engine) must not break the client: go through the controller.
        log('cannot dial engine %d directly at %s (%s); its requests go through the controller', e.id, e.direct, (err as Error).message);
      }
    }
    this.engines.set(e.id, { id: e.id, pid: e.pid, hostname: e.hostname, direct: e.direct, directKey: e.directKey, ...(typeof e.jobEnd === 'number' && { jobEnd: e.jobEnd }) });
  }

  async #dialDirect(id: number, endpoint: string, curveServerKey: string | undefined): Promise<void> {
    const conn = await this.transport.dial(endpoint, { identity: this.identity, curveServerKey });
    conn.setMessageHandler((frames) => this.#receive(frames, [Channels.engineToClient(id)]));
    // What was on the way when the connection dropped is lost: ask the engine again (see #resyncDirect).
    conn.onReconnect?.(() => void this.#resyncDirect({ engineId: id, connection: conn }, endpoint));
    this.#direct.set(id, conn);
  }

  /**
   * The direct connection to an engine dropped and came back: what was on the way either side is lost. The engine is
   * asked about every request sent to it straight that still waits here: it sends again the replies it keeps (its
   * last ones, for a minute), answers those still queued or running when they end, and names the others, which fail
   * with a TransportError naming the task. An engine that died meanwhile is reported by the controller as always.
   */
  async #resyncDirect(via: DirectRoute, endpoint: string): Promise<void> {
    if (this.#closed || this.#direct.get(via.engineId) !== via.connection) return;
    const ids = [...this.#pending].filter(([msgId, part]) => part.metadata.engineId === via.engineId && this.#sentDirect.has(msgId)).map(([msgId]) => msgId);
    log('the direct connection to engine %d dropped and came back: asking it again about %d tasks', via.engineId, ids.length);
    const lost = (id: string) =>
      new TransportError(
        `task ${id} was lost on the direct connection to engine ${via.engineId} at ${endpoint} (it dropped and came back): its request never reached ` +
          'the engine, or its reply was lost and the engine no longer keeps it; run it again',
      );
    try {
      await this.#askAgain(ids, undefined, { unknown: lost, forgotten: lost }, via);
    } catch (err) {
      // The engine did not answer: if it died, the controller says so in time, and its tasks fail then.
      log('asking engine %d again after a reconnect failed: %s', via.engineId, (err as Error).message);
    }
  }

  /**
   * An engine is gone: requests sent straight to it fail now (through the controller, it answers for them), with
   * the controller's reason and the engine's exit code when it gave one.
   */
  #removeEngine(id: number, reason?: string, exitCode?: number): void {
    this.engines.delete(id);
    const conn = this.#direct.get(id);
    if (!conn) return;
    this.#direct.delete(id);
    void conn.close();
    for (const [msgId, part] of this.#pending) {
      if (part.metadata.engineId !== id || !this.#sentDirect.delete(msgId)) continue;
      this.#pending.delete(msgId);
      part.settle(undefined, new EngineDiedError(id, reason === undefined ? undefined : `engine ${id} died before answering (${reason})`, { exitCode }));
    }
  }

  /** Send a request to the controller (or, `via` its direct connection, to an engine) and wait for its reply. */
  #request(type: string, content: Record<string, unknown>, timeoutMs = REQUEST_TIMEOUT_MS, via?: DirectRoute): Promise<Message> {
    if (this.#lost && !via) return Promise.reject(new ControllerLostError(this.info.address, [], this.#lost));
    const msg = this.#session.message(type, content);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(msg.header.msg_id);
        reject(new TimeoutError(`no answer to ${type} within ${timeoutMs} ms`, timeoutMs));
      }, timeoutMs);
      this.#waiters.set(msg.header.msg_id, (reply, failure) => {
        clearTimeout(timer);
        if (failure) return reject(failure);
        const c = reply!.content as { status?: string; error?: { name?: string; message?: string } };
        if (c.status === 'error' && c.error && typeof c.error.message === 'string') {
          return reject(c.error.name === 'ProtocolError' ? new ProtocolError(c.error.message) : new TsParallelError(c.error.message));
        }
        resolve(reply!);
      });
      if (via) via.connection.send(this.#session.encode(msg, Channels.clientToEngine(via.engineId)));
      else this.#toController(this.#session.encode(msg, Channels.clientToCluster));
    });
  }

  #receive(frames: Buffer[], channels: readonly string[], fromController = false): void {
    const msg = this.#session.decode(frames, channels);
    if (!msg) {
      log('dropped a message (%o)', this.#session.dropped);
      return;
    }
    const problem = checkClientInput(msg);
    if (problem) {
      this.#session.dropped.invalid++;
      log('dropped an invalid %s: %s (%o)', msg.header.msg_type, problem, this.#session.dropped);
      return;
    }
    if (fromController) {
      if (this.#silent && !this.#lost) {
        this.#silent = false;
        log('the controller answers again after %d ms', Date.now() - this.#lastHeard);
        this.#emitController({ type: 'back', silentMs: Date.now() - this.#lastHeard });
      }
      this.#lastHeard = Date.now();
    }
    if (msg.header.msg_type === 'heartbeat_reply') return;
    if (msg.header.msg_type === BATCH_REPLY) return this.#receiveBatch(msg);
    const parentId = msg.parent.msg_id;
    const part = parentId ? this.#pending.get(parentId) : undefined;
    if (part) {
      this.#pending.delete(parentId!);
      if (this.#sentDirect.delete(parentId!)) this.#answeredDirect(parentId!);
      this.#settle(part, msg);
      return;
    }
    const waiter = parentId ? this.#waiters.get(parentId) : undefined;
    if (waiter) {
      this.#waiters.delete(parentId!);
      waiter(msg);
      return;
    }
    const c = msg.content as unknown as EngineInfo;
    if (msg.header.msg_type === 'engine_registered') {
      void this.#addEngine(c).then(() => {
        const replaces = (msg.content as { replaces?: number }).replaces;
        this.#emitEngineChange({ type: 'registered', id: c.id, ...(replaces !== undefined ? { replaces } : {}) });
      }, (err: Error) => log('engine %d registered, but learning of it failed: %s', c.id, err.message));
    } else if (msg.header.msg_type === 'engine_event') {
      const event = msg.content as unknown as EngineEvent;
      log('engine %d reported %s: %o', event.id, event.event, event.error);
      [...this.#engineEventListeners].forEach((l) => l(event));
    } else if (msg.header.msg_type === 'engine_unregistered') {
      const { reason, exitCode } = msg.content as { reason?: unknown; exitCode?: unknown };
      this.#removeEngine(c.id, typeof reason === 'string' ? reason : undefined, Number.isInteger(exitCode) ? (exitCode as number) : undefined);
      this.#emitEngineChange({ type: 'unregistered', id: c.id, reason: typeof reason === 'string' ? reason : undefined });
    }
  }

  /** The engine answered a request sent straight to it: its report to the controller follows (see {@link taskRecords}). */
  #answeredDirect(msgId: string): void {
    const task = this.#directTasks.get(msgId);
    if (task) task.answeredAt = Date.now();
  }

  /** A `batch_reply`: each reply settles its task; a batch refused as a whole fails every task of it still waiting. */
  #receiveBatch(msg: Message): void {
    if (!Array.isArray(msg.content.replies)) {
      const parts = this.#batches.get(msg.parent.msg_id ?? '') ?? [];
      this.#batches.delete(msg.parent.msg_id ?? '');
      const e = msg.content.error as { message?: string } | undefined;
      const error = new ProtocolError(`the controller refused a batch of ${parts.length} tasks: ${e?.message ?? 'no reason given'}`);
      for (const part of parts) {
        if (this.#pending.delete(part.metadata.msgId)) part.settle(undefined, error);
      }
      return;
    }
    for (const reply of unpackReplies(msg)) {
      const parentId = reply.parent.msg_id!;
      const part = this.#pending.get(parentId);
      if (!part) continue;
      this.#pending.delete(parentId);
      if (this.#sentDirect.delete(parentId)) this.#answeredDirect(parentId);
      this.#settle(part, reply);
    }
  }

  #settle(part: Part, msg: Message): void {
    const content = msg.content as { status: string; stdout?: string; stderr?: string; error?: WireError };
    const meta = msg.metadata as { started?: number; completed?: number; engineId?: number; retry?: unknown };
    if (typeof meta.retry === 'number' && meta.retry > 0) part.metadata.retries = meta.retry;
    if (typeof meta.engineId === 'number' && meta.engineId >= 0) part.metadata.engineId = meta.engineId;
    part.metadata.stdout = content.stdout ?? '';
    part.metadata.stderr = content.stderr ?? '';
    if (meta.started) part.metadata.started = new Date(meta.started);
    if (meta.completed) part.metadata.completed = new Date(meta.completed);
    if (content.status === 'ok') {
      try {
        part.settle(deserialize(msg.buffers));
      } catch (err) {
        part.settle(undefined, new TsParallelError(`the reply from engine ${part.metadata.engineId} could not be read: ${(err as Error).message}`, { cause: err }));
      }
      return;
    }
    const e = content.error ?? { name: 'Error', message: 'unknown failure', engineId: part.metadata.engineId };
    part.settle(undefined, content.status === 'aborted' ? new TaskAbortedError(e.message) : localError(e));
  }
}

/** An error as it travels in a reply. */
interface WireError {
  name: string;
  message: string;
  stack?: string;
  engineId: number;
  timeoutMs?: number;
  /** The engine's exit code (EngineDiedError, when the engine said it was exiting). */
  exitCode?: number;
  /** The engine's host, pid and the request's id (errors raised by user code). */
  hostname?: string;
  /** The engine's process id. */
  pid?: number;
  /** The request that raised it. */
  taskId?: string;
  /** `controller` for errors the controller made (engine died, time limit, dependency); absent for user code's. */
  origin?: string;
  /** The remote error's own primitive properties (`code`, `errno`, …), checked before use. */
  props?: unknown;
}

/** Rebuild an error: the controller's own become our classes; anything raised by user code is a RemoteError. */
function localError(e: WireError): Error {
  if (e.origin === 'controller') {
    switch (e.name) {
      case 'EngineDiedError':
        return new EngineDiedError(e.engineId, e.message, { exitCode: Number.isInteger(e.exitCode) ? e.exitCode : undefined });
      case 'TimeoutError':
        return new TimeoutError(e.message, e.timeoutMs ?? 0);
      case 'TaskAbortedError':
        return new TaskAbortedError(e.message);
      case 'DependencyError':
        return new DependencyError(e.message);
      case 'ProtocolError':
        return new ProtocolError(e.message);
    }
  }
  return remoteError(e);
}

function pickTransport(name: string, container: DependencyContainer): Transport {
  const transport = getOptional(container, TRANSPORT);
  if (transport?.name === name) return transport;
  const factory = getOptional(container, TRANSPORT_FACTORY);
  if (!factory) {
    throw new ConfigError(`no transport factory is registered, so the '${name}' transport cannot be made: import from 'tsparallel' (its entry point registers the defaults), or pass { transport }`);
  }
  return factory.create(name);
}

/** Find the client connection file of a profile's running cluster. */
async function findConnectionFile(options: ConnectOptions): Promise<string> {
  const paths = profilePaths(options.profile ?? 'default', { dir: options.profileDir });
  const how = `start one with \`tscluster start ${profileFlag(paths)}\` or createCluster({ ${profileOption(paths)} })`;
  if (options.clusterId !== undefined) {
    const file = path.join(paths.security, connectionFileName(options.clusterId, 'client'));
    const info = await readConnectionFile(file).catch(() => undefined);
    if (!info) throw new ConfigError(`no running cluster '${options.clusterId}' in ${describeProfile(paths)} (no ${file}): ${how}`);
    if (isControllerAlive(info) === false) throw new ConfigError(`cluster '${options.clusterId}' of ${describeProfile(paths)} is not running (its controller, pid ${info.controller.pid}, is gone; ${file} is stale): ${how}`);
    return file;
  }
  const names = (await readdir(paths.security).catch(() => [] as string[])).filter((f) => /^tsparallel.*-client\.json$/.test(f));
  const candidates: { file: string; mtime: number }[] = [];
  for (const name of names) {
    const file = path.join(paths.security, name);
    const info = await readConnectionFile(file).catch(() => undefined);
    if (info && isControllerAlive(info) !== false) candidates.push({ file, mtime: (await stat(file)).mtimeMs });
  }
  if (candidates.length === 0) {
    throw new ConfigError(`no running cluster in ${describeProfile(paths)} (no live connection file in ${paths.security}): ${how}`);
  }
  candidates.sort((a, b) => b.mtime - a.mtime);
  return candidates[0]!.file;
}

/** The keys a {@link Client.taskRecords} filter may have. */
const RECORD_FILTER_KEYS = ['state', 'engineId', 'msgIds'] as const;

/**
 * Refuse a taskRecords filter object the controller would misread: an unknown key (`{ ids }`) would be ignored and
 * every record returned; a value of the wrong kind would match nothing.
 */
function checkRecordFilter(filter: unknown): void {
  const problem = (what: string) => new TsParallelError(`taskRecords(filter): ${what}; a filter is { state?, engineId?, msgIds? }, e.g. { state: 'failed' }`);
  // Not an object at all: the controller's own check answers that (test/robust/malformed checks it there).
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) return;
  for (const [key, value] of Object.entries(filter)) {
    if (!(RECORD_FILTER_KEYS as readonly string[]).includes(key)) {
      const meant = closestMatch(key, RECORD_FILTER_KEYS) ?? (key === 'ids' ? 'msgIds' : undefined);
      throw problem(`unknown key '${key}'${meant ? ` (did you mean '${meant}'?)` : ''}`);
    }
    if (value === undefined) continue;
    const ok =
      key === 'state' ? [value].flat().every((v) => (TASK_STATES as readonly unknown[]).includes(v))
      : key === 'engineId' ? Number.isInteger(value)
      : Array.isArray(value) && value.every((id) => typeof id === 'string');
    if (!ok) {
      const allowed = key === 'state' ? `one of ${TASK_STATES.join(', ')}, or an array of them` : key === 'engineId' ? 'an engine id (a whole number)' : 'an array of task ids (strings)';
      throw problem(`${key} must be ${allowed}, got ${describeValue(value)}`);
    }
  }
}
