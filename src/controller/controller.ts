/**
 * The controller: the cluster's one rendezvous point. It registers engines and clients, watches engine heartbeats,
 * routes direct requests from clients to engines and replies back, and writes the connection files.
 * @module
 */
import debug from 'debug';
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { connectionFileName, newKey, thisHost, writeConnectionFile, type ConnectionInfo } from '../wire/connection.js';
import { defaultConfig, type TaskPolicyName } from '../config/index.js';
import { addListener } from '../util/listeners.js';
import { Channels, Session, versionMismatch, type Message, type MessageHeader } from '../wire/protocol.js';
import { BATCH_REPLY, BATCH_REQUEST, MAX_BATCH_BYTES, MAX_BATCH_TASKS, packReplies, packRequests, unpackReplies, unpackRequests } from '../wire/task-batch.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type CurveKeyPair, type Listener, type ProbeOptions, type Transport } from '../core/transport.js';
import { wantsCurve, type CurveSetting } from '../wire/security.js';
import { ConfigError } from '../core/errors.js';
import { TASK_POLICIES } from './policies/index.js';
import type { DirectTaskReport, TaskState } from '../core/tasks.js';
import { TaskDispatcher, type ControllerFailure } from './task-dispatcher.js';
import { advertisedEndpoint } from '../wire/address.js';
import { OWNER_LEASE_REPLY, OWNER_LEASE_REQUEST, OwnerLeaseWatch, type OwnerLeaseClaim } from './lease.js';
import type { JobStatesReport, StatsCursor } from '../wire/stats.js';
import { readHeartStats } from '../wire/heart-stats.js';
import { ControllerStats } from './stats.js';
import { checkClientMessage, checkEngineMessage, taskChecker } from '../wire/validate.js';
import { pidNamespace, processGone, SilenceClock } from '../util/liveness.js';
import { TaskJournal, type JournalEngine } from './journal.js';

const log = debug('tsparallel:controller');

/** How a controller is set up. */
export interface ControllerOptions {
  /** The transport to listen with. */
  transport: Transport;
  /** Where to write the connection files (the profile's `security/`). */
  securityDir: string;
  /** The cluster's id ('' for the profile's default cluster). */
  clusterId: string;
  /** The IP address to listen on (default `127.0.0.1`). */
  ip?: string;
  /** The host name or address connection files advertise (default: see `advertisedHost` in wire/address). */
  location?: string;
  /** Stop (with the engines) when the cluster's owner is silent this long, in ms (default: no lease). */
  leaseMs?: number;
  /** How often to ping engines, in ms. */
  heartbeatMs: number;
  /** How long an engine may go without answering pings before it is declared dead, in ms. */
  heartbeatTimeoutMs: number;
  /** The HMAC key (default: a fresh one). */
  key?: string;
  /** How load-balanced tasks pick an engine (default `leastload`). */
  taskPolicy?: TaskPolicyName;
  /** How many load-balanced tasks an engine may hold at once (default 16; 0 = no limit). */
  hwm?: number;
  /** How many milliseconds of quick tasks an engine may hold beyond `hwm` (default 2; 0: `hwm` alone decides). */
  hwmMs?: number;
  /** Whether to encrypt the wire with CURVE (default `'auto'`: when `ip` is not a loopback address). */
  curve?: CurveSetting;
  /** The CURVE server key pair when `curve` is on (default: a fresh one); a restored controller takes its predecessor's. */
  curveKeys?: CurveKeyPair;
  /** How far a message's date may be from the receiver's clock, in ms (replay protection; default 300000). */
  replayWindowMs?: number;
  /** The largest message accepted from a client or an engine, in bytes (default 256 MiB); told to clients and engines. */
  maxMessageBytes?: number;
  /** Keep a task journal in this file, for a controller restarted with `restore` (default: none). */
  journalFile?: string;
  /**
   * Take over from a controller that died: read `journalFile`, listen on `ports` with `key` (the old connection
   * files'), re-adopt the engines that come back within `adoptMs`, and run again the tasks of those that do not.
   */
  restore?: boolean;
  /** The ports to listen on (default: any free ones); a restored controller takes its predecessor's. */
  ports?: { client: number; engine: number; heart: number };
  /** How long a restored controller waits for its predecessor's engines to come back, in ms (default 2 × heartbeatTimeoutMs). */
  adoptMs?: number;
  /** How long engines wait for a controller that went silent to come back before they exit, in ms (default 0: they exit). */
  reconnectMs?: number;
}

/** Replies a restored controller holds for clients that have not reconnected yet, at most. */
const MAX_HELD_FOR_CLIENTS = 100_000;

/**
 * How often the heart listener probes each engine's connection, and how long an answer may take: the heartbeat
 * timeout split in two halves, never probing more often than the pings. libzmq closes a silent connection at most
 * `everyMs + timeoutMs` after the engine's last word, so the timeout bounds it either way; probing every heartbeat
 * instead cost O(engines²) a second, because libzmq scans all of its I/O thread's timers to cancel the one each
 * answer clears: an idle 1,000-engine controller used ~100 ms of CPU a second, ~50 now (bench/RESULTS.md,
 * optimisation 19).
 * @internal
 */
export function probeTiming(heartbeatMs: number, heartbeatTimeoutMs: number): ProbeOptions {
  const everyMs = Math.max(heartbeatMs, Math.floor(heartbeatTimeoutMs / 2));
  return { everyMs, timeoutMs: Math.max(heartbeatMs, heartbeatTimeoutMs - everyMs) };
}

/** What the controller knows of one engine. */
export interface EngineRecord {
  /** The engine's id (0, 1, …, in order of registration). */
  id: number;
  /** Its routing identity (a UUID it chose). */
  uuid: string;
  /** The same identity as bytes, as the engine and heart listeners address it: made once, not for every message. */
  routingId: Buffer;
  /** Its process id. */
  pid: number;
  /** Its host. */
  hostname: string;
  /** Its endpoint for direct requests from clients (loopback, or an address other hosts reach), if it has one. */
  direct?: string;
  /** The CURVE public key of its direct endpoint, when the wire is encrypted. */
  directKey?: string;
  /** When it registered (ms since epoch). */
  registered: number;
  /** When it last answered a ping (ms since epoch). */
  lastBeat: number;
  /** Its pid namespace, when it said (pids are compared only within one). */
  pidNamespace?: string;
  /** When its batch job's walltime ends (ms since epoch), if it runs in a job with one. */
  jobEnd?: number;
  /** The id of the dead engine it replaces (engine supervision), when it said. */
  replaces?: number;
}

/** The controller process's core, usable in any process with any transport. */
export class Controller {
  /** The connection info written for clients (set once started). */
  clientInfo!: ConnectionInfo;
  /** The connection info written for engines (set once started). */
  engineInfo!: ConnectionInfo;
  /** Engines by id. */
  readonly engines = new Map<number, EngineRecord>();
  /** Statistics and metrics for the dashboard and `/metrics`. */
  readonly stats: ControllerStats;
  readonly #byUuid = new Map<string, EngineRecord>();
  readonly #clients = new Map<string, Buffer>();
  readonly #session: Session;
  readonly #tasks: TaskDispatcher;
  readonly #key: string;
  readonly #pidNamespace = pidNamespace();
  /** Engines declared dead (not shut down), by uuid: if one wakes, it is stopped and what it finishes reported. */
  readonly #dead = new Map<string, number>();
  readonly #stoppedRevenants = new Set<string>();
  /**
   * Engines (by uuid) whose last ping found no heart connection to go into. On a listener that probes its
   * connections ({@link Listener.probeTimeoutMs}) an engine is declared dead only when it is both silent and in here:
   * a connection that is still open has answered the transport's probes, so its engine lives, however busy.
   */
  readonly #heartsClosed = new Set<string>();
  get #maxMessageBytes(): number {
    return this.options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }
  #nextId = 0;
  #clientListener?: Listener;
  #engineListener?: Listener;
  #heartListener?: Listener;
  #heartTimer?: NodeJS.Timeout;
  #heartClock?: SilenceClock;
  #files: string[] = [];
  #stopped = false;
  /** A check of the local engines' processes is scheduled (see {@link #checkLocalEnginesSoon}). */
  #localCheckDue = false;
  #onStop: (() => void)[] = [];
  #lease?: OwnerLeaseWatch;
  #journal?: TaskJournal;
  /** A restored controller: its predecessor's engines, until they come back or the adoption time is over. */
  readonly #expected = new Map<number, JournalEngine>();
  #adoptTimer?: NodeJS.Timeout;
  /**
   * A restored controller: replies for clients that have not spoken to it yet (their sockets reconnect a little
   * after the engines'), by client identity; sent once the client is heard. Bounded by {@link MAX_HELD_FOR_CLIENTS}.
   */
  readonly #heldForClients = new Map<string, Buffer[][]>();
  #heldForClientsCount = 0;
  /** While an engine's `batch_reply` is taken in: the replies it delivers, by client, sent together at the end. */
  #delivering?: Map<string, { client: Buffer; replies: Message[] }>;

  constructor(private readonly options: ControllerOptions) {
    this.#key = options.key ?? newKey();
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.#session = new Session(this.#key, { replayWindowMs: options.replayWindowMs });
    this.stats = new ControllerStats({
      clusterId: options.clusterId,
      taskPolicy: options.taskPolicy ?? 'leastload',
      queueDepth: () => this.#tasks.unassigned,
      dropped: () => this.#session.dropped,
    });
    this.#tasks = new TaskDispatcher(
      {
        toEngine: (id, frames) => {
          const engine = this.engines.get(id);
          if (engine) this.#engineListener!.send(engine.routingId, frames);
        },
        toClient: (client, frames) => this.#toClient(client, frames),
        toClientBatched: (client, reply) => this.#deliverBatched(client, reply),
        encodeBatch: (messages) => {
          const { content, buffers } = packRequests(messages);
          return this.#session.encode(this.#session.message(BATCH_REQUEST, content, { buffers }), Channels.controllerToEngine);
        },
        replyError: (client, header, error) => this.#replyError(client, header, error),
        reencode: (msg, newId) =>
          this.#session.encode({ ...msg, header: { ...msg.header, msg_id: newId ?? msg.header.msg_id, date: new Date().toISOString() } }, Channels.controllerToEngine),
        // Half the window is left for the trip to the engine and a clock that differs from ours.
        canForward: (header) => this.#session.isFresh(header.date, this.#session.replayWindowMs / 2),
        stats: this.stats,
        abortOnEngine: (id, msgIds) => {
          const engine = this.engines.get(id);
          if (engine) this.#engineListener!.send(engine.routingId, this.#session.encode(this.#session.message('abort_request', { msgIds }), Channels.controllerToEngine));
        },
        get journal() {
          return self.#journal;
        },
      },
      TASK_POLICIES[options.taskPolicy ?? defaultConfig().controller.taskPolicy],
      { hwm: options.hwm ?? defaultConfig().controller.hwm, hwmMs: options.hwmMs ?? defaultConfig().controller.hwmMs },
    );
  }

  /** Messages dropped so far (bad signature, replay, malformed), from clients and engines. */
  get dropped() {
    return this.#session.dropped;
  }

  /** Listen, write the connection files, and start pinging engines. */
  async start(): Promise<this> {
    const { transport, ip = '127.0.0.1' } = this.options;
    const ports = this.options.ports;
    const bindAddress = (port = 0) => `tcp://${ip.includes(':') ? `[${ip}]` : ip}:${port}`;
    const curve = this.#curveKeys();
    // Per peer: messages no larger than the limit, and at most 10,000 of them queued unread.
    const limits = { curve, maxMessageBytes: this.#maxMessageBytes, receiveHighWaterMark: 10_000 };
    this.#clientListener = await transport.listen(bindAddress(ports?.client), limits);
    this.#engineListener = await transport.listen(bindAddress(ports?.engine), limits);
    this.#heartListener = await transport.listen(bindAddress(ports?.heart), { curve, maxMessageBytes: 4096, receiveHighWaterMark: 1000, heartbeatsOnly: true, probe: this.#probe() });
    this.#openJournal();
    this.#clientListener.setMessageHandler(({ identity, frames }) => this.#fromClient(identity, frames));
    this.#engineListener.setMessageHandler(({ identity, frames }) => this.#fromEngine(identity, frames));
    this.#heartListener.setMessageHandler(({ identity, frames }) => this.#beat(identity, frames));
    this.#heartListener.setUnroutableHandler((id) => this.#heartsClosed.add(id.toString()));
    this.#clientListener.setUnroutableHandler((id) => {
      this.#clients.delete(id.toString());
      this.stats.onClientGone(id.toString());
    });
    // Dashboard statistics: bytes sent, clients that vanished.
    for (const l of [this.#clientListener, this.#engineListener]) this.stats.meter(l);
    // An engine's socket closing is the fastest sign of its death: check the local engines' processes at once.
    this.#engineListener.onDisconnect?.(() => this.#checkLocalEnginesSoon());
    this.#heartListener.onDisconnect?.(() => this.#checkLocalEnginesSoon());

    const common = {
      version: 1 as const,
      transport: transport.name,
      clusterId: this.options.clusterId,
      key: this.#key,
      signatureScheme: 'hmac-sha256' as const,
      ...(curve ? { curveServerKey: curve.publicKey } : {}),
      replayWindowMs: this.#session.replayWindowMs,
      controller: { pid: process.pid, hostname: thisHost() },
      created: new Date().toISOString(),
    };
    const advertised = (bound: string) => advertisedEndpoint(bound, this.options.location);
    this.clientInfo = { ...common, role: 'client', address: advertised(this.#clientListener.address) };
    this.engineInfo = {
      ...common,
      role: 'engine',
      address: advertised(this.#engineListener.address),
      heartbeatAddress: advertised(this.#heartListener.address),
      heartbeatMs: this.options.heartbeatMs,
      heartbeatTimeoutMs: this.options.heartbeatTimeoutMs,
      ...(this.options.reconnectMs ? { reconnectMs: this.options.reconnectMs } : {}),
    };
    // The engine file goes last: launchers wait for it as the sign that the controller is ready.
    for (const info of [this.clientInfo, this.engineInfo]) {
      const file = path.join(this.options.securityDir, connectionFileName(this.options.clusterId, info.role));
      await writeConnectionFile(file, info);
      this.#files.push(file);
    }
    this.#heartClock = new SilenceClock(this.options.heartbeatMs);
    this.#heartTimer = setInterval(() => this.#heartbeat(), this.options.heartbeatMs);
    this.#heartTimer.unref();
    if (this.options.leaseMs) {
      this.#lease = new OwnerLeaseWatch(this.options.leaseMs, {
        send: (identity, frames) => this.#clientListener?.send(identity, frames),
        expired: () => void this.stop({ stopEngines: true }),
      });
      this.#lease.start();
    }
    log('started: clients %s, engines %s%s', this.clientInfo.address, this.engineInfo.address, curve ? ' (CURVE)' : '');
    return this;
  }

  /**
   * The CURVE server key pair when the wire is to be encrypted: the one given (a restore; see `controller-keys.ts`),
   * else a fresh one made at each start, whose public half goes into the connection files, so an old file cannot
   * reach a new controller.
   */
  #curveKeys(): CurveKeyPair | undefined {
    const { transport, curve = 'auto', ip = '127.0.0.1' } = this.options;
    if (!wantsCurve(curve, [ip])) return undefined;
    if (transport.newCurveKeyPair) return this.options.curveKeys ?? transport.newCurveKeyPair();
    if (curve === true) {
      throw new ConfigError(`security.curve is true, but the '${transport.name}' transport cannot encrypt; use the zeromq transport, or set security.curve to 'auto' or false`);
    }
    log("the '%s' transport cannot encrypt; the wire stays unencrypted", transport.name);
    return undefined;
  }

  /**
   * Open the task journal (when asked for one); a restored controller reads it first: its predecessor's unfinished
   * tasks go back to the dispatcher, and its engines are expected back within `adoptMs`.
   */
  #openJournal(): void {
    const file = this.options.journalFile;
    if (!file) return;
    this.#journal = TaskJournal.open(file, { restore: this.options.restore });
    if (!this.options.restore) return;
    const state = this.#journal.state;
    this.#nextId = state.nextEngineId;
    for (const engine of state.engines.values()) this.#expected.set(engine.id, engine);
    const unfinished = [...state.tasks.values()].filter((t) => t.state !== 'completed' && t.state !== 'failed' && t.state !== 'aborted').length;
    log('restoring from %s: %d unfinished tasks, %d engines expected back', file, unfinished, this.#expected.size);
    this.#tasks.restore([...state.tasks.values()]);
    if (this.#expected.size === 0) this.#tasks.allEnginesBack();
    const adoptMs = this.options.adoptMs ?? 2 * this.options.heartbeatTimeoutMs;
    this.#adoptTimer = setTimeout(() => this.#adoptionOver(), adoptMs);
    this.#adoptTimer.unref();
  }

  /** The predecessor's engines that did not come back are gone: clients are told, and their tasks run elsewhere. */
  #adoptionOver(): void {
    for (const engine of this.#expected.values()) {
      log('engine %d did not come back after the restart', engine.id);
      this.#journal?.engineRemoved(engine.id);
      this.#notify('engine_unregistered', { id: engine.id, reason: 'it did not come back after the controller restarted' });
    }
    this.#expected.clear();
    this.#tasks.adoptionOver();
  }

  /** The paths of the connection files it wrote. */
  get connectionFiles(): readonly string[] {
    return this.#files;
  }

  /**
   * Add a handler called once the controller has stopped (e.g. after a client's shutdown request). Returns the
   * function that removes it.
   */
  onStop(handler: () => void): () => void {
    return addListener(this.#onStop, handler);
  }

  /** Stop: tell engines to exit when `stopEngines`, close every endpoint and remove the connection files. */
  async stop(options: { stopEngines?: boolean } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#heartTimer);
    clearTimeout(this.#adoptTimer);
    // A clean stop leaves nothing to restore.
    this.#journal?.close({ remove: true });
    this.#lease?.close();
    if (options.stopEngines) {
      for (const engine of this.engines.values()) {
        this.#engineListener?.send(engine.routingId, this.#session.encode(this.#session.message('shutdown_request', {}), Channels.controllerToEngine));
      }
      // Give the shutdown requests a moment to leave before the sockets close.
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all([this.#clientListener?.close(), this.#engineListener?.close(), this.#heartListener?.close()]);
    await Promise.all(this.#files.map((f) => unlink(f).catch(() => {})));
    log('stopped');
    this.#onStop.forEach((h) => h());
  }

  #fromClient(identity: Buffer, frames: Buffer[]): void {
    this.stats.countIn(frames);
    if (this.#lease?.isEcho(identity, frames)) return;
    const msg = this.#session.decode(frames, [Channels.clientToCluster]);
    if (!msg) {
      log('dropped a client message (%o)', this.#session.dropped);
      return;
    }
    const problem = checkClientMessage(msg);
    if (problem) return this.#invalid(identity, msg, problem, 'client');
    try {
      this.#fromValidClient(identity, msg, frames);
    } catch (err) {
      // A validated message should not throw; if one does, it is dropped and answered, and the socket lives on.
      this.#invalid(identity, msg, `the controller failed on it: ${(err as Error)?.message ?? String(err)}`, 'client');
    }
  }

  /** Drop a validly signed message of the wrong shape: count it, log it, and answer it when it is a request. */
  #invalid(identity: Buffer, msg: Message, problem: string, from: 'client' | 'engine'): void {
    this.#session.dropped.invalid++;
    const type = typeof msg.header?.msg_type === 'string' ? msg.header.msg_type : '?';
    log('dropped an invalid %s message %s: %s (%o)', from, type, problem, this.#session.dropped);
    if (from === 'client' && type.endsWith('_request') && typeof msg.header.msg_id === 'string') {
      this.#replyError(identity, msg.header, { name: 'ProtocolError', message: `invalid ${type}: ${problem}` });
    }
  }

  /** Send a reply to a client; a restored controller holds it for a client that has not reconnected yet. */
  #toClient(client: Buffer, frames: Buffer[]): void {
    const key = client.toString();
    if (this.options.restore && !this.#clients.has(key) && this.#heldForClientsCount < MAX_HELD_FOR_CLIENTS) {
      const list = this.#heldForClients.get(key) ?? [];
      list.push(frames);
      this.#heldForClients.set(key, list);
      this.#heldForClientsCount++;
      return;
    }
    this.#clientListener!.send(client, frames);
  }

  #fromValidClient(identity: Buffer, msg: Message, frames: Buffer[]): void {
    const type = msg.header.msg_type;
    const key = identity.toString();
    if (this.options.restore && !this.#clients.has(key)) {
      // A client of the predecessor is back: it gets what was held for it.
      this.#clients.set(key, identity);
      const held = this.#heldForClients.get(key);
      this.#heldForClients.delete(key);
      this.#heldForClientsCount -= held?.length ?? 0;
      if (held?.length) log('a client came back after the restart: sending it %d held replies', held.length);
      for (const f of held ?? []) this.#clientListener!.send(identity, f);
    }
    switch (type) {
      case 'connect_request': {
        const mismatch = versionMismatch(msg.header.version, 'this client');
        if (mismatch) {
          log('refused a client: %s', mismatch);
          return this.#reply(identity, msg, 'connect_reply', { status: 'error', error: { name: 'ProtocolError', message: mismatch } });
        }
        this.#clients.set(identity.toString(), identity);
        this.stats.onClientConnected(identity.toString());
        this.#reply(identity, msg, 'connect_reply', { clusterId: this.options.clusterId, engines: this.#engineList(), maxMessageBytes: this.#maxMessageBytes });
        return;
      }
      case BATCH_REQUEST:
        return this.#submitBatch(identity, msg);
      case 'heartbeat_request':
        this.#clients.set(identity.toString(), identity);
        this.#reply(identity, msg, 'heartbeat_reply', {});
        return;
      case OWNER_LEASE_REQUEST:
        if (!this.#lease) return this.#reply(identity, msg, OWNER_LEASE_REPLY, { status: 'none' });
        this.#lease.claim(msg.content as unknown as OwnerLeaseClaim);
        this.#reply(identity, msg, OWNER_LEASE_REPLY, { status: 'ok', leaseMs: this.#lease.leaseMs });
        return;
      case 'close_request':
        this.#clients.delete(identity.toString());
        this.stats.onClientGone(identity.toString());
        return;
      case 'stats_request': {
        // The dashboard of `tscluster dashboard`, another process: everything it shows, and the metrics text.
        const { since, metrics } = msg.content as { since?: StatsCursor; metrics?: boolean };
        const snapshot = this.stats.snapshot(typeof since === 'object' && since !== null ? since : {});
        if (metrics !== true) return this.#reply(identity, msg, 'stats_reply', { snapshot });
        void this.stats.metrics().then((text) => this.#reply(identity, msg, 'stats_reply', { snapshot, metrics: text }));
        return;
      }
      case 'job_states_request':
        // The cluster's owner (the process running its batch launchers) reports every job's state.
        this.stats.onJobStates((msg.content as unknown as JobStatesReport).jobs);
        this.#reply(identity, msg, 'job_states_reply', { status: 'ok' });
        return;
      case 'queue_status_request':
        this.#reply(identity, msg, 'queue_status_reply', {
          engines: Object.fromEntries([...this.engines.values()].map((e) => [e.id, { pending: this.#tasks.loadOf(e.id) }])),
          unassigned: this.#tasks.unassigned,
          dropped: { ...this.#session.dropped },
        });
        return;
      case 'abort_request': {
        const { msgIds = [] } = msg.content as { msgIds?: string[] };
        this.#reply(identity, msg, 'abort_reply', { status: 'ok', ...this.#tasks.abort(msgIds) });
        return;
      }
      case 'resubmit_request': {
        const { tasks = [] } = msg.content as { tasks?: { old: string; new: string }[] };
        const problems = this.#tasks.resubmit(identity, tasks);
        this.#reply(identity, msg, 'resubmit_reply', problems.length ? { status: 'error', problems } : { status: 'ok' });
        return;
      }
      case 'task_records_request': {
        const { filter = {} } = msg.content as { filter?: { state?: TaskState | TaskState[]; engineId?: number; msgIds?: string[] } };
        this.#reply(identity, msg, 'task_records_reply', { records: this.#tasks.records(filter) });
        return;
      }
      case 'result_request':
        return this.#resendResults(identity, msg);
      case 'purge_request': {
        const { msgIds } = msg.content as { msgIds?: string[] };
        this.#reply(identity, msg, 'purge_reply', { purged: this.#tasks.purge(msgIds) });
        return;
      }
      case 'shutdown_request':
        this.#reply(identity, msg, 'shutdown_reply', { status: 'ok' });
        setTimeout(() => void this.stop({ stopEngines: true }), 10);
        return;
    }
    if (type.endsWith('_request')) return this.#route(identity, msg, frames);
    log('unknown client message type %s', type);
  }

  /**
   * A client asks for tasks' replies again (its connection dropped and came back, or it fetches results by id): the
   * kept ones are sent again, signed afresh (the engine's date may be older than the replay window), before the
   * `result_reply` that says what became of each of the others.
   */
  #resendResults(client: Buffer, msg: Message): void {
    const pending: string[] = [];
    const unknown: string[] = [];
    const forgotten: string[] = [];
    let replies: Message[] = [];
    let bytes = 0;
    const flush = () => {
      if (!replies.length) return;
      const { content, buffers } = packReplies(replies);
      this.#toClient(client, this.#session.encode(this.#session.message(BATCH_REPLY, content, { buffers }), Channels.controllerToClient));
      replies = [];
      bytes = 0;
    };
    for (const outcome of this.#tasks.results(client, msg.content.msgIds as string[])) {
      if (outcome.state === 'pending') pending.push(outcome.msgId);
      else if (outcome.state === 'unknown') unknown.push(outcome.msgId);
      else if (outcome.state === 'forgotten') forgotten.push(outcome.msgId);
      else if (outcome.state === 'failed') this.#replyError(client, outcome.header, outcome.failure);
      else {
        const size = outcome.reply.buffers.reduce((n, b) => n + b.length, 512);
        if (replies.length && (replies.length >= MAX_BATCH_TASKS || bytes + size > MAX_BATCH_BYTES)) flush();
        replies.push(outcome.reply);
        bytes += size;
      }
    }
    flush();
    this.#reply(client, msg, 'result_reply', { status: 'ok', pending, unknown, forgotten });
  }

  /** Forward a direct request to its target engine, unchanged, or hand a load-balanced one to the dispatcher. */
  #route(client: Buffer, msg: Message, frames: Buffer[]): void {
    if (msg.metadata.balanced === true) {
      if (this.#tasks.has(msg.header.msg_id)) return this.#replyError(client, msg.header, { name: 'ProtocolError', message: `task id ${msg.header.msg_id} is taken by another task; give each request an id of its own` });
      return this.#tasks.submit(client, msg, frames);
    }
    const target = msg.metadata.target;
    const engine = typeof target === 'number' ? this.engines.get(target) : undefined;
    if (!engine) {
      this.#replyError(client, msg.header, {
        name: 'EngineDiedError',
        message: `engine ${String(target)} is not registered (known engines: ${[...this.engines.keys()].join(', ') || 'none'})`,
        engineId: typeof target === 'number' ? target : -1,
      });
      return;
    }
    this.#tasks.recordDirect(client, msg, engine.id);
    this.#engineListener!.send(engine.routingId, frames);
  }

  /**
   * A client's `batch_request`: its load-balanced tasks, each checked and recorded as if it had come alone, then
   * scheduled in one pass. A task that fails its checks is answered alone with a ProtocolError; the others go on.
   */
  #submitBatch(client: Buffer, batch: Message): void {
    const accepted: Message[] = [];
    const check = taskChecker();
    for (const task of unpackRequests(batch)) {
      const problem = check(task) ??
        (task.metadata.balanced !== true ? 'a batch_request holds load-balanced tasks only (metadata.balanced: true)' : undefined) ??
        (this.#tasks.has(task.header.msg_id) ? `task id ${task.header.msg_id} is taken by another task; give each request an id of its own` : undefined);
      if (problem) {
        this.#session.dropped.invalid++;
        log('dropped an invalid %s of a batch: %s', task.header.msg_type, problem);
        this.#replyError(client, task.header, { name: 'ProtocolError', message: `invalid ${task.header.msg_type}: ${problem}` });
      } else {
        // Copies: a held request must not keep the whole batch's packed buffer alive.
        task.buffers = task.buffers.map((b) => Buffer.from(b));
        accepted.push(task);
      }
    }
    if (accepted.length) this.#tasks.submitMany(client, accepted);
  }

  /**
   * An engine's `batch_reply`: each reply completes its task as if it had come alone. When all of them go to one
   * client, the engine's message is forwarded to it unchanged (signed once, by the engine); otherwise each client
   * gets the replies for it in a `batch_reply` of the controller's.
   */
  #completeBatch(engine: EngineRecord, batch: Message, frames: Buffer[]): void {
    const replies = unpackReplies(batch);
    const delivering = (this.#delivering = new Map());
    try {
      this.#tasks.completeMany(engine.id, replies, (batch.content as { ranMs?: number }).ranMs, frames);
    } finally {
      this.#delivering = undefined;
    }
    let delivered = 0;
    for (const d of delivering.values()) delivered += d.replies.length;
    if (delivering.size === 1 && delivered === replies.length) {
      this.#toClient(delivering.values().next().value!.client, frames);
      return;
    }
    for (const { client, replies: theirs } of delivering.values()) {
      const { content, buffers } = packReplies(theirs);
      this.#toClient(client, this.#session.encode(this.#session.message(BATCH_REPLY, content, { buffers }), Channels.controllerToClient));
    }
  }

  /** A reply from an engine's batch, for a client: sent with the batch's other replies for it (see {@link #completeBatch}). */
  #deliverBatched(client: Buffer, reply: Message): void {
    const key = client.toString('latin1');
    if (!this.#delivering) {
      // Not while a batch is taken in (a caller outside one): send it alone, in a batch of one.
      const { content, buffers } = packReplies([reply]);
      this.#toClient(client, this.#session.encode(this.#session.message(BATCH_REPLY, content, { buffers }), Channels.controllerToClient));
      return;
    }
    const entry = this.#delivering.get(key);
    if (entry) entry.replies.push(reply);
    else this.#delivering.set(key, { client, replies: [reply] });
  }

  #fromEngine(identity: Buffer, frames: Buffer[]): void {
    this.stats.countIn(frames);
    const msg = this.#session.decode(frames, [Channels.engineToCluster]);
    if (!msg) {
      log('dropped an engine message (%o)', this.#session.dropped);
      return;
    }
    const problem = checkEngineMessage(msg);
    if (problem) return this.#invalid(identity, msg, problem, 'engine');
    try {
      this.#fromValidEngine(identity, msg, frames);
    } catch (err) {
      this.#invalid(identity, msg, `the controller failed on it: ${(err as Error)?.message ?? String(err)}`, 'engine');
    }
  }

  #fromValidEngine(identity: Buffer, msg: Message, frames: Buffer[]): void {
    const uuid = identity.toString();
    switch (msg.header.msg_type) {
      case 'registration_request':
        return this.#register(identity, msg);
      case 'unregistration_request': {
        const engine = this.#byUuid.get(uuid);
        // An exit code: its process is exiting now (process.exit() in a task, say), not shutting down when asked.
        const { exitCode } = msg.content as { exitCode?: number };
        if (engine) this.#unregister(engine, exitCode === undefined ? 'it shut down' : `its process exited with code ${exitCode}`, exitCode);
        return;
      }
      case 'engine_event': {
        const engine = this.#byUuid.get(uuid);
        if (!engine) return;
        log('engine %d: %s %o', engine.id, msg.content.event, msg.content.error);
        this.#notify('engine_event', { ...msg.content, id: engine.id });
        return;
      }
      case 'task_records': {
        const engine = this.#byUuid.get(uuid);
        if (engine) for (const record of msg.content.records as DirectTaskReport[]) this.#tasks.recordFinished(engine.id, record);
        return;
      }
      case 'tasks_returned': {
        const engine = this.#byUuid.get(uuid);
        if (engine) this.#tasks.returned(engine.id, msg.content.msgIds as string[]);
        return;
      }
    }
    const engine = this.#byUuid.get(uuid);
    if (msg.header.msg_type === BATCH_REPLY) {
      if (engine) return this.#completeBatch(engine, msg, frames);
      if (this.#dead.has(uuid)) for (const reply of unpackReplies(msg)) this.#lateReply(identity, this.#dead.get(uuid)!, reply);
      else log('a batch of replies from an unknown engine');
      return;
    }
    if (engine && msg.metadata.resent === true) return this.#tasks.completeResent(engine.id, msg.parent.msg_id ?? '', msg, frames);
    if (!engine && this.#dead.has(uuid)) return this.#lateReply(identity, this.#dead.get(uuid)!, msg);
    if (!engine || !this.#tasks.complete(engine.id, msg.parent.msg_id ?? '', msg, frames)) {
      log('reply %s to an unknown request', msg.header.msg_type);
    }
  }

  #register(identity: Buffer, msg: Message): void {
    const uuid = identity.toString();
    const content = msg.content as {
      pid?: number; hostname?: string; direct?: string; directKey?: string; pidNamespace?: string; replaces?: number;
      id?: number; held?: string[]; done?: string[]; jobEnd?: unknown; requestedId?: number; reconnectedTo?: string;
    };
    const jobEnd = typeof content.jobEnd === 'number' && Number.isFinite(content.jobEnd) ? content.jobEnd : undefined;
    const mismatch = versionMismatch(msg.header.version, 'this engine');
    if (mismatch) {
      log('refused a registration: %s', mismatch);
      this.#engineListener!.send(identity, this.#session.encode(this.#session.message('registration_reply', { status: 'error', error: mismatch }, { parent: msg.header }), Channels.controllerToEngine));
      return;
    }
    let engine = this.#byUuid.get(uuid);
    // Its connection to this very controller (not a predecessor: another session) dropped and came back.
    if (engine && content.reconnectedTo === this.#session.id) return this.#dropReconnected(identity, engine);
    // An engine of this controller's predecessor (restored from the journal) coming back with its id.
    const adopt = !engine && typeof content.id === 'number' && this.#expected.get(content.id)?.uuid === uuid ? content.id : undefined;
    if (!engine) {
      // An engine may ask for its id (an MPI rank, or the id of an engine being restarted). One that is taken is
      // refused, never shared: two engines under one id would get each other's tasks.
      // An engine coming back after a restart keeps the id it had (adopt), whatever it asks for.
      const requested = adopt === undefined ? content.requestedId : undefined;
      if (requested !== undefined) {
        const holder = Number.isSafeInteger(requested) && requested >= 0 ? this.engines.get(requested) : undefined;
        const problem = !Number.isSafeInteger(requested) || requested < 0
          ? `the requested engine id ${String(requested)} is not a whole number >= 0`
          : holder ? `engine id ${requested} is taken by the engine with pid ${holder.pid} on ${holder.hostname || 'an unknown host'}` : undefined;
        if (problem) {
          log('refused a registration: %s', problem);
          this.#engineListener!.send(identity, this.#session.encode(this.#session.message('registration_reply', { status: 'error', error: problem }, { parent: msg.header }), Channels.controllerToEngine));
          return;
        }
        this.#nextId = Math.max(this.#nextId, requested + 1);
      }
      engine = {
        id: adopt ?? requested ?? this.#nextId++,
        uuid,
        routingId: Buffer.from(uuid),
        pid: content.pid ?? 0,
        hostname: content.hostname ?? '',
        direct: typeof content.direct === 'string' ? content.direct : undefined,
        directKey: typeof content.directKey === 'string' ? content.directKey : undefined,
        pidNamespace: typeof content.pidNamespace === 'string' ? content.pidNamespace : undefined,
        replaces: typeof content.replaces === 'number' ? content.replaces : undefined,
        registered: Date.now(),
        lastBeat: Date.now(),
        ...(jobEnd !== undefined && { jobEnd }),
      };
      this.engines.set(engine.id, engine);
      this.#byUuid.set(uuid, engine);
      this.#expected.delete(engine.id);
      this.#journal?.engineAdded({ id: engine.id, uuid, pid: engine.pid, hostname: engine.hostname });
      this.#tasks.engineAdded(engine.id, {
        jobEnd: engine.jobEnd,
        adopted: adopt === undefined ? undefined : { held: new Set(content.held ?? []), done: new Set(content.done ?? []) },
      });
      // The last of the predecessor's engines is back: the restored queued tasks may go out (none is one it holds).
      if (adopt !== undefined && this.#expected.size === 0) this.#tasks.allEnginesBack();
      this.stats.onEngineAdded(engine);
      log('engine %d %s (pid %d on %s)', engine.id, adopt === undefined ? 'registered' : 'came back after the restart', engine.pid, engine.hostname);
    }
    // The limit, so that the engine fails a reply too large for it rather than send it (and be disconnected).
    const accepted = { status: 'ok', id: engine.id, maxMessageBytes: this.#maxMessageBytes };
    this.#engineListener!.send(identity, this.#session.encode(this.#session.message('registration_reply', accepted, { parent: msg.header }), Channels.controllerToEngine));
    this.#notify('engine_registered', {
      id: engine.id, pid: engine.pid, hostname: engine.hostname, direct: engine.direct, directKey: engine.directKey, jobEnd: engine.jobEnd,
      ...(engine.replaces !== undefined ? { replaces: engine.replaces } : {}),
    });
  }

  #unregister(engine: EngineRecord, reason: string, exitCode?: number): void {
    if (!this.engines.delete(engine.id)) return;
    this.#byUuid.delete(engine.uuid);
    this.#heartsClosed.delete(engine.uuid);
    if (reason !== 'it shut down' && exitCode === undefined) {
      // It may only be stopped (SIGSTOP, a long pause), not dead: remember it, to stop it and report what it
      // finishes if it wakes. Bounded: the oldest are forgotten.
      this.#dead.set(engine.uuid, engine.id);
      if (this.#dead.size > 1000) this.#dead.delete(this.#dead.keys().next().value!);
    }
    log('engine %d gone: %s', engine.id, reason);
    this.#journal?.engineRemoved(engine.id);
    this.#tasks.engineRemoved(engine.id, reason, exitCode);
    this.stats.onEngineRemoved(engine.id, reason);
    this.#notify('engine_unregistered', { id: engine.id, reason, ...(exitCode !== undefined && { exitCode }) });
  }

  /**
   * A registered engine says its connection to this controller dropped and came back. What was on the way then is
   * lost, in either direction (a request the engine never got, a reply that never arrived), and neither side can
   * tell which, so its tasks would wait for ever. It is treated as dead instead: its tasks run again elsewhere while
   * they have retries, else fail with EngineDiedError naming why, and it is told to shut down (a supervised
   * cluster starts a replacement). Dask's workers do the same when they lose their scheduler.
   */
  #dropReconnected(identity: Buffer, engine: EngineRecord): void {
    this.#unregister(engine, 'its connection to the controller dropped and came back, and messages on the way then may be lost');
    // Not a revenant (a stopped engine that woke): told once here, its heart's next answer does not report it as one.
    this.#tellToShutDown(identity);
  }

  /** Tell an engine that is no longer part of the cluster to shut down, once: true when told now, false if told before. */
  #tellToShutDown(identity: Buffer): boolean {
    if (this.#stoppedRevenants.has(identity.toString())) return false;
    this.#stoppedRevenants.add(identity.toString());
    this.#engineListener!.send(identity, this.#session.encode(this.#session.message('shutdown_request', {}), Channels.controllerToEngine));
    return true;
  }

  #beat(identity: Buffer, frames: Buffer[]): void {
    const engine = this.#byUuid.get(identity.toString());
    if (engine) {
      engine.lastBeat = Date.now();
      // The answer's last frame, after the ping's: its process's resource sample (src/wire/heart-stats.ts).
      if (frames.length > 1) this.stats.onHeartbeat(engine.id, readHeartStats(frames[frames.length - 1]));
    } else if (this.#dead.has(identity.toString())) this.#stopRevenant(identity, this.#dead.get(identity.toString())!);
  }

  /**
   * An engine declared dead answered again (it was stopped, not dead): its tasks were already failed or run again
   * elsewhere, so it must not take part any more. Tell it to shut down (once).
   */
  #stopRevenant(identity: Buffer, id: number): void {
    if (!this.#tellToShutDown(identity)) return;
    log('engine %d, declared dead, is answering again: told it to shut down', id);
    this.#notify('engine_event', { id, event: 'revenant', error: { name: 'EngineDiedError', message: `engine ${id} was declared dead but is running again (it was stopped, not dead); it was told to shut down` } });
  }

  /**
   * A reply from an engine declared dead: the task it answers was failed or retried when the engine was declared
   * dead, so if it had been retried it has now run twice. Never forwarded (the client has its answer); reported.
   */
  #lateReply(identity: Buffer, id: number, msg: Message): void {
    const msgId = msg.parent.msg_id ?? '';
    log('engine %d, declared dead, finished task %s after all', id, msgId);
    this.#notify('engine_event', {
      id,
      event: 'late_reply',
      msgId,
      error: { name: 'EngineDiedError', message: `engine ${id} was declared dead but finished task ${msgId} after all; if the task was run again elsewhere, it ran twice (its reply was dropped)` },
    });
    this.#stopRevenant(identity, id);
  }

  /**
   * Check the local engines' processes once this turn's events are handled. Disconnections come in bursts (a host's
   * engines stopping, a launcher restarting them), and each check looks at every engine: one check per event made a
   * burst cost engines x events process lookups.
   */
  #checkLocalEnginesSoon(): void {
    if (this.#localCheckDue) return;
    this.#localCheckDue = true;
    setImmediate(() => {
      this.#localCheckDue = false;
      if (!this.#stopped) this.#checkLocalEngines();
    });
  }

  /** Declare dead every engine on this host whose process has exited (not waiting for the heartbeat timeout). */
  #checkLocalEngines(): void {
    const here = thisHost();
    const ns = this.#pidNamespace;
    // Each process is looked up once: the engines of `tsengine --count K` share one.
    const gone = new Map<number, boolean>();
    for (const engine of [...this.engines.values()]) {
      if (engine.hostname !== here || engine.pidNamespace !== ns || engine.pid === process.pid) continue;
      let exited = gone.get(engine.pid);
      if (exited === undefined) gone.set(engine.pid, (exited = processGone(engine.pid)));
      if (exited) this.#unregister(engine, `its process (pid ${engine.pid}) exited`);
    }
  }

  /** How the heart listener has the transport probe each engine's heart connection ({@link probeTiming}). */
  #probe(): ProbeOptions {
    return probeTiming(this.options.heartbeatMs, this.options.heartbeatTimeoutMs);
  }

  /**
   * Ping every engine, and declare dead those silent for longer than the heartbeat timeout. On a probing listener a
   * silent engine whose heart connection still took the last ping is alive: its main thread is busy (a long
   * synchronous task holds its echoes), while its process answers the transport's probes.
   */
  #heartbeat(): void {
    this.#checkLocalEngines();
    const heardUpTo = this.#heartClock!.tick();
    const probing = this.#heartListener!.probeTimeoutMs !== undefined;
    const ping = [Buffer.from('ping')];
    for (const engine of [...this.engines.values()]) {
      const silentMs = heardUpTo - engine.lastBeat;
      if (silentMs > this.options.heartbeatTimeoutMs && (!probing || this.#heartsClosed.has(engine.uuid))) {
        this.#unregister(engine, probing ? `no heartbeat for ${silentMs} ms, and its heartbeat connection closed` : `no heartbeat for ${silentMs} ms`);
      } else {
        this.#heartsClosed.delete(engine.uuid);
        this.#heartListener!.send(engine.routingId, ping);
      }
    }
  }

  #engineList() {
    return [...this.engines.values()].map((e) => ({ id: e.id, pid: e.pid, hostname: e.hostname, direct: e.direct, directKey: e.directKey, jobEnd: e.jobEnd }));
  }

  #notify(type: string, content: Record<string, unknown>): void {
    for (const client of this.#clients.values()) {
      this.#clientListener!.send(client, this.#session.encode(this.#session.message(type, content), Channels.controllerToClient));
    }
  }

  #reply(to: Buffer, request: Message, type: string, content: Record<string, unknown>): void {
    this.#clientListener!.send(to, this.#session.encode(this.#session.message(type, content, { parent: request.header }), Channels.controllerToClient));
  }

  /** Answer a request with an error the controller makes (engine died, timeout, abort, impossible dependency). */
  #replyError(to: Buffer, request: MessageHeader, error: ControllerFailure): void {
    const type = request.msg_type.replace(/_request$/, '_reply');
    const engineId = error.engineId ?? -1;
    const status = error.name === 'TaskAbortedError' ? 'aborted' : 'error';
    this.#clientListener!.send(
      to,
      this.#session.encode(this.#session.message(type, { status, error: { ...error, engineId, origin: 'controller' } }, { parent: request, metadata: { engineId } }), Channels.controllerToClient),
    );
  }
}
