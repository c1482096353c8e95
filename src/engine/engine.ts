/**
 * The engine: registers with the controller, keeps a persistent namespace, runs the functions and code it is sent
 * one request at a time, captures their output, answers heartbeats, and exits when the controller is gone.
 *
 * While a task runs, the global `taskSignal` is an AbortSignal that fires when the controller gives up on the task
 * (its time limit passed, or it was aborted): long tasks may check it, or pass it to `fetch`, timers and streams.
 * @module
 */
import debug from 'debug';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { inspect } from 'node:util';
import type { ConnectionInfo } from '../wire/connection.js';
import { ConfigError, TimeoutError } from '../core/errors.js';
import type { FunctionSpec } from '../wire/functions.js';
import { performance } from 'node:perf_hooks';
import { Channels, Session, versionMismatch, type Message } from '../wire/protocol.js';
import { BATCH_REPLY, BATCH_REQUEST, MAX_BATCH_BYTES, MAX_BATCH_TASKS, packReplies, readableTasks, unpackRequests } from '../wire/task-batch.js';
import { deserialize, serialize } from '../wire/serialize.js';
import { DEFAULT_MAX_MESSAGE_BYTES, type Connection, type Heart, type Listener, type Transport } from '../core/transport.js';
import { KeptReplies } from './kept-replies.js';
import { GlobalNamespace, isThenable, type Captured, type Namespace } from './namespace.js';
import { advertisedEndpoint, engineDirectBind } from '../wire/address.js';
import { checkEngineInput, taskChecker } from '../wire/validate.js';
import { pidNamespace, SilenceClock } from '../util/liveness.js';
import { jobEndFromEnvironment } from '../core/walltime.js';
import { TaskWatchdog } from './watchdog.js';
import { DEFAULT_GRACE_MS, type DirectTaskReport } from '../core/tasks.js';

const log = debug('tsparallel:engine');

/** How long an engine waits for the controller to accept it, in ms, unless told otherwise. */
export const REGISTRATION_TIMEOUT_MS = 30_000;

/** How an engine is set up. */
export interface EngineOptions {
  /** The transport named in the connection file. */
  transport: Transport;
  /** The engine connection file's content. */
  info: ConnectionInfo;
  /** Its namespace (default: this process's global scope). */
  namespace?: Namespace;
  /** How long to wait for the controller to accept the registration, in ms (default 30000). */
  registrationTimeoutMs?: number;
  /**
   * Where to listen for direct requests from clients (`false`: none). Default: loopback when the controller is on
   * loopback, else the interface this host reaches the controller on (see `engineDirectBind` in wire/address).
   * Clients that can reach it send direct-view requests here instead of through the controller: two hops instead
   * of four.
   */
  directAddress?: string | false;
  /** The direct endpoint to advertise, when not the bound one (a NAT'd or multi-homed host). */
  directAdvertised?: string;
  /** The host name it reports to the controller (default: this host's name). */
  hostname?: string;
  /**
   * Catch this process's uncaught exceptions and unhandled rejections (default false; the engine process sets it):
   * one raised while a task runs fails that task; one raised between tasks is reported to the controller as an
   * engine event. Either way the engine lives on.
   */
  catchProcessErrors?: boolean;
  /**
   * The id to ask the controller for (an MPI rank, or the id of an engine being restarted). Default: the controller
   * picks the next free one. A requested id that is taken fails {@link Engine.start} with a ConfigError.
   */
  requestedId?: number;
  /**
   * Kill this process when a task with a time limit (`timeoutMs`) is still running `graceMs` after that limit,
   * having ignored its abort signal (default false; the `tsengine` process sets it). See `engine/watchdog.ts`.
   */
  killWhenStuck?: boolean;
  /** The grace for tasks that do not set `graceMs` themselves, in ms (default {@link DEFAULT_GRACE_MS}). */
  graceMs?: number;
  /** The id of the dead engine this one replaces (a supervised restart); told to the controller and its clients. */
  replaces?: number;
}

/** How many replies an engine keeps to send again to a restarted controller. */
export const OUTBOX_SIZE = 1000;

/** The most bytes of result buffers and output an engine keeps for a restarted controller (oldest out first). */
export const OUTBOX_BYTES = 64 * 1024 * 1024;

/**
 * What an engine keeps of the replies it sent on its direct endpoint, for a client whose direct connection dropped
 * and came back (it asks with a `result_request`): the last 1,000, within 64 MiB of buffers and output, for a minute
 * at most (as the controller keeps delivered replies).
 */
export const DIRECT_KEPT = { replies: 1000, bytes: 64 * 1024 * 1024, ms: 60_000 } as const;

export { DEFAULT_GRACE_MS };

/**
 * How long the reports of direct requests wait to leave together, as one `task_records` message (and at most how
 * many): one wake-up, one signature and one parse at the controller per batch instead of per call, which competed
 * with the client and the engine for the CPUs (sent one message each, the reports cost the controller ~80 us and
 * the engine ~90 us of CPU per W2 call).
 */
const RECORD_DELAY_MS = 20;
const RECORD_BATCH = 256;

/**
 * Where a request came from, and so where (and signed for which channel) its reply goes. A reply may be a draft
 * whose header holds only its type (see `Engine.#draft`): a route gives it a header of its own if it sends it alone.
 */
type ReplyRoute = (reply: Message<unknown>) => void;

/** A request waiting for its turn. */
interface QueuedRequest {
  msg: Message;
  route: ReplyRoute;
  /** Sent by a client to the direct endpoint (the controller never saw it). */
  isDirect: boolean;
}

/**
 * Replies to the controller may wait to leave together (one `batch_reply`) while the next queued request is another
 * call of the same function and the last one took less than this, in ms: a quick task's reply then waits at most
 * for one more quick task. Any other next request sends the waiting replies first.
 */
const QUICK_TASK_MS = 1;

/** Replies never wait longer than this, in ms (a timer sends them if the next task awaits something). */
const HOLD_REPLIES_MS = 2;

/**
 * A load-balanced task that ran at least this long, in ms, and {@link GIVE_BACK_FACTOR} times longer than the call
 * of the same function before it, makes the engine give back the calls of that function still queued here (see
 * `Engine.#giveBack`).
 */
const GIVE_BACK_MS = 20;

/** See {@link GIVE_BACK_MS}. */
const GIVE_BACK_FACTOR = 20;

/**
 * What a reply takes on the wire besides its content and buffers, at most, in bytes: its header, parent header and
 * metadata as the engine writes them, the signature and the delimiter (for the room left to a cut output).
 */
const ENVELOPE_BYTES = 1024;

/** What the engine accepts from the controller: clients' requests it forwards, and its own messages. */
const FROM_CONTROLLER = [Channels.clientToCluster, Channels.controllerToEngine];

/** The wire form of an error raised by user code. */
export interface ErrorInfo {
  /** The error's class name. */
  name: string;
  /** Its message. */
  message: string;
  /** Its stack trace. */
  stack?: string;
  /** The engine where it was raised. */
  engineId: number;
  /** The engine's host. */
  hostname?: string;
  /** The engine's process id. */
  pid?: number;
  /** The request that raised it. */
  taskId?: string;
  /**
   * The error's own enumerable properties whose values are strings, finite numbers, booleans or null (`code`,
   * `errno`, `syscall`, `path`, …): at most 20 of them, strings cut to 1000 characters.
   */
  props?: Record<string, string | number | boolean | null>;
}

/** At most this many of an error's own properties travel with it (see {@link ErrorInfo.props}). */
const MAX_ERROR_PROPS = 20;

/** A string property of an error travels cut to this many characters. */
const MAX_PROP_CHARS = 1000;

/** A thrown value that is not an error (`throw { code: 42 }`) is described in at most this many characters. */
const MAX_THROWN_CHARS = 2000;

/** An engine: one namespace, serving one controller. */
export class Engine {
  /** The id the controller gave it (-1 until registered). */
  id = -1;
  /** Its routing identity. */
  readonly uuid = randomUUID();
  /** Resolves with an exit code once the engine has stopped. */
  readonly stopped: Promise<number>;
  /**
   * Why the engine stopped on its own (its controller went silent), for its process to say; undefined while it runs
   * and when it was told to stop (by the controller, a signal, or {@link stop}).
   */
  stopReason?: string;
  readonly #namespace: Namespace;
  readonly #session: Session;
  readonly #modules = new Map<string, (...args: unknown[]) => unknown>();
  /** Requests the controller asked us not to start (timed out or aborted while queued here). */
  readonly #aborted = new Set<string>();
  /**
   * The request running now, and its abort controller once made: its signal is `taskSignal` in the namespace, made
   * when the task first reads it or when the task is aborted, since most tasks never look.
   */
  #current?: { msgId: string; abort?: AbortController; fail: (error: unknown) => void };
  /** The last task's signal, which `taskSignal` reads between tasks. */
  #lastSignal?: AbortSignal;
  /** Whether `taskSignal` is the engine's getter (code may assign over it: it is defined again for the next task). */
  #signalDefined = false;
  #processErrorHandler?: (error: unknown) => void;
  #resolveStopped!: (code: number) => void;
  #connection?: Connection;
  #direct?: Listener;
  #heart?: Heart;
  #lastPing = Date.now();
  /** The session of the controller that last accepted this engine (a restarted controller has a new one). */
  #controllerSession?: string;
  /**
   * The largest message the controller accepts (its `registration_reply` says; ZeroMQ disconnects a peer that sends
   * a larger one). A controller that does not say is taken to have the default: every controller since protocol 1.7
   * says, and the version check refuses older ones, so this only covers a controller of this protocol that leaves
   * the field out.
   */
  #maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;
  #watchdog?: NodeJS.Timeout;
  /** Requests accepted and not started yet, run one at a time in arrival order (`#queueHead` is the next). */
  #queue: (QueuedRequest | undefined)[] = [];
  #queueHead = 0;
  #pumping = false;
  /** Replies to the controller waiting to leave together (see {@link QUICK_TASK_MS}). */
  #heldReplies: Message<unknown>[] = [];
  #heldBytes = 0;
  #heldSince = 0;
  /** How long the tasks of the held replies ran, in ms: told to the controller with them (its pace of this engine). */
  #heldRanMs = 0;
  /** How long the task whose reply is being routed ran (0 for a reply without a run, e.g. an aborted task). */
  #routingRanMs = 0;
  #heldTimer?: NodeJS.Timeout;
  /**
   * The request type, function and duration (ms) of the last task run, and whether it has a time limit: whether the
   * next is likely quick, and whether the last one's reply may wait for it.
   */
  #last?: { type: string; fn: unknown; ms: number; limited: boolean };
  #stopping = false;
  #taskWatchdog?: TaskWatchdog;
  /** Requests from the controller accepted and not answered yet (queued or running). */
  readonly #inFlight = new Set<string>();
  /**
   * The last replies sent to the controller, by request id (at most {@link OUTBOX_SIZE} and {@link OUTBOX_BYTES}),
   * kept only when the engine waits for a restarted controller (`reconnectMs`): sent again when one adopts this
   * engine, since the old one may have died before passing them on.
   */
  readonly #outbox = new KeptReplies<{ reply: Message<unknown> }>({ replies: OUTBOX_SIZE, bytes: OUTBOX_BYTES });
  /** Requests from clients on the direct endpoint accepted and not answered yet (queued or running). */
  readonly #directInFlight = new Set<string>();
  /** The last replies sent on the direct endpoint (see {@link DIRECT_KEPT}). */
  readonly #directKept = new KeptReplies<{ reply: Message<unknown> }>(DIRECT_KEPT);
  /** When the controller went silent and this engine started waiting for it to come back (0: not waiting). */
  #orphanedSince = 0;
  #lastRegistration = 0;
  /** Reports of direct requests waiting to be sent to the controller (see {@link RECORD_DELAY_MS}). */
  #records: DirectTaskReport[] = [];
  #recordTimer?: NodeJS.Timeout;

  constructor(private readonly options: EngineOptions) {
    this.#namespace = options.namespace ?? new GlobalNamespace();
    this.#session = new Session(options.info.key, { replayWindowMs: options.info.replayWindowMs });
    this.stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
  }

  /** Messages dropped so far (bad signature, replay, expired, misrouted, malformed, invalid), from the controller and on the direct endpoint. */
  get dropped() {
    return this.#session.dropped;
  }

  /**
   * Connect, register, and start answering heartbeats.
   * @throws TimeoutError when the controller does not accept the registration in time.
   */
  async start(): Promise<this> {
    const { transport, info } = this.options;
    const timeoutMs = this.options.registrationTimeoutMs ?? REGISTRATION_TIMEOUT_MS;
    const curveServerKey = info.curveServerKey;
    this.#connection = await transport.dial(info.address, { identity: this.uuid, curveServerKey });
    const toController: ReplyRoute = (reply) => {
      const parent = reply.parent.msg_id;
      if (parent) {
        this.#inFlight.delete(parent);
        if (this.options.info.reconnectMs) this.#outbox.keep(parent, { reply });
      }
      this.#replyToController(reply);
    };
    // On an encrypted cluster the direct endpoint is encrypted too, with a key pair of its own; a transport that
    // cannot encrypt offers none rather than an unencrypted one.
    const directKeys = curveServerKey ? transport.newCurveKeyPair?.() : undefined;
    const directAddress = curveServerKey && !directKeys ? false : (this.options.directAddress ?? (await engineDirectBind(info.address)));
    if (directAddress !== false) {
      const direct = (this.#direct = await transport.listen(directAddress, { curve: directKeys }));
      direct.setMessageHandler(({ identity, frames }) => {
        const toClient: ReplyRoute = (reply) => {
          const sent = this.#finalize(reply);
          const parent = sent.parent.msg_id;
          if (parent && this.#directInFlight.delete(parent)) this.#directKept.keep(parent, { reply: sent });
          direct.send(identity, this.#session.encode(sent, Channels.engineToClient(this.id)));
        };
        const msg = this.#read(frames, [Channels.clientToEngine(this.id)], 'a client', toClient);
        const type = msg?.header.msg_type;
        if (type === BATCH_REQUEST) {
          // Only the controller sends batches; a client's requests come here one by one.
          this.#session.dropped.invalid++;
          const error = { name: 'ProtocolError', message: `a ${BATCH_REQUEST} is taken from the controller only, not on an engine's direct endpoint`, engineId: this.id, origin: 'controller' };
          toClient(this.#session.message(BATCH_REPLY, { status: 'error', error }, { parent: msg!.header }));
        } else if (type === 'result_request') this.#answerResultRequest(msg!, toClient);
        else if (msg && type!.endsWith('_request')) {
          if (type !== 'abort_request' && type !== 'shutdown_request') this.#directInFlight.add(msg.header.msg_id);
          this.#enqueue(msg, toClient, true);
        }
      });
    }
    const registered = new Promise<number>((resolve, reject) => {
      this.#connection!.setMessageHandler((frames) => {
        const msg = this.#read(frames, FROM_CONTROLLER, 'the controller', toController);
        if (!msg) return;
        if (msg.header.msg_type === 'registration_reply') {
          const reply = msg.content as { status?: string; id: number; error?: string; maxMessageBytes?: number };
          const mismatch = versionMismatch(msg.header.version, 'the controller');
          if (mismatch) {
            reject(new ConfigError(`the controller at ${info.address} cannot take this engine: ${mismatch}`));
          } else if (reply.status === 'error') {
            reject(new ConfigError(`the controller at ${info.address} refused this engine: ${reply.error ?? 'no reason given'}; ask for a free id (or none)`));
          } else {
            const another = this.#controllerSession !== undefined && this.#controllerSession !== msg.header.session;
            this.#controllerSession = msg.header.session;
            // Checked by checkEngineInput: a positive whole number when present. A restarted controller may have another.
            this.#maxMessageBytes = reply.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
            if (this.id < 0) resolve(reply.id);
            else this.#adopted(msg, another);
          }
          return;
        }
        if (msg.header.msg_type === BATCH_REQUEST) {
          const check = taskChecker();
          for (const task of unpackRequests(msg)) {
            const problem = check(task);
            if (problem) {
              this.#session.dropped.invalid++;
              log('dropped an invalid %s of a batch: %s', task.header.msg_type, problem);
              this.#answerInvalid(task.header, problem, toController);
            } else {
              this.#inFlight.add(task.header.msg_id);
              this.#enqueue(task, toController);
            }
          }
          return;
        }
        if (msg.header.msg_type.endsWith('_request') && msg.header.msg_type !== 'abort_request' && msg.header.msg_type !== 'shutdown_request') this.#inFlight.add(msg.header.msg_id);
        this.#enqueue(msg, toController);
      });
    });
    const direct = this.#direct && (this.options.directAdvertised ?? advertisedEndpoint(this.#direct.address));
    const jobEnd = jobEndFromEnvironment();
    // The heart connects first: the controller's heartbeat clock starts at registration, and a heart still starting
    // (its handshake: seconds on a loaded host) would have the engine declared dead at once.
    let heartUp = !info.heartbeatAddress;
    if (info.heartbeatAddress) this.#heart = await transport.startHeart(info.heartbeatAddress, { identity: this.uuid, curveServerKey });
    const requested = (this.#heart?.ready ?? Promise.resolve()).then(() => {
      heartUp = true;
      this.#send(this.#session.message('registration_request', {
        pid: process.pid, hostname: this.options.hostname ?? hostname(), direct, directKey: directKeys?.publicKey, pidNamespace: pidNamespace(),
        requestedId: this.options.requestedId, ...(jobEnd !== undefined && { jobEnd }),
        ...(this.options.replaces !== undefined ? { replaces: this.options.replaces } : {}),
      }));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => {
          const handshake = this.#connection?.handshakeError;
          const why = handshake
            ? `the secure handshake failed: ${handshake}`
            : 'is it running, and is the connection file current?' +
              (heartUp ? '' : ` Its heartbeat endpoint ${info.heartbeatAddress} never answered (is that port reachable from this host?)`);
          reject(new TimeoutError(`the controller at ${info.address} did not accept this engine in ${timeoutMs} ms: ${why}`, timeoutMs));
        },
        timeoutMs,
      );
    });
    try {
      this.id = await Promise.race([requested.then(() => registered), timeout]);
    } catch (err) {
      await this.#heart?.close();
      await this.#connection.close();
      await this.#direct?.close();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    log('registered as engine %d', this.id);
    this.#connection.onReconnect?.(() => this.#reconnected());
    if (this.options.killWhenStuck) this.#taskWatchdog = new TaskWatchdog();
    if (this.options.catchProcessErrors) {
      this.#processErrorHandler = (error) => this.#asyncError(error);
      process.on('uncaughtException', this.#processErrorHandler);
      process.on('unhandledRejection', this.#processErrorHandler);
    }
    const heart = this.#heart;
    if (heart) {
      const limit = info.heartbeatTimeoutMs ?? 10_000;
      this.#lastPing = Date.now();
      const reconnectMs = info.reconnectMs ?? 0;
      const everyMs = Math.max(50, Math.min(limit / 4, info.heartbeatMs ?? 1000));
      const clock = new SilenceClock(everyMs);
      this.#watchdog = setInterval(() => {
        // The heart's own record: pings it answered while this thread was busy count (a heart on this thread
        // cannot answer while it is busy: the clock does not count such a stall).
        const silent = clock.tick() - Math.max(this.#lastPing, heart.lastPingAt);
        if (silent <= limit) return;
        if (silent > limit + reconnectMs) {
          log('no ping from the controller for %d ms: it is gone, stopping', silent);
          const waited = reconnectMs ? ` + engines.reconnectMs ${reconnectMs} ms` : '';
          this.stopReason =
            `stopped: no ping from the controller at ${info.heartbeatAddress} for ${silent} ms (controller.heartbeatTimeoutMs ${limit} ms${waited}): ` +
            'it is gone, or this host cannot reach it. Set engines.reconnectMs for engines to wait longer for a restarted controller';
          void this.stop(0, { unregister: false });
          return;
        }
        // Wait for a controller restarted with --restore: ask it, now and then, to take this engine back.
        if (!this.#orphanedSince) {
          this.#orphanedSince = Date.now();
          log('no ping from the controller for %d ms: waiting up to %d ms for it to come back', silent, reconnectMs);
        }
        if (Date.now() - this.#lastRegistration >= 500) this.#registerAgain();
      }, everyMs);
    }
    return this;
  }

  /**
   * A client whose direct connection to this engine dropped and came back asks what became of its requests (what was
   * on the way either side is lost): the replies kept go again (fresh messages, marked `resent`), requests still
   * queued or running are answered when they end, as always, and the others are named `unknown` (the request never
   * came, or its reply is no longer kept).
   */
  #answerResultRequest(msg: Message, toClient: ReplyRoute): void {
    const unknown: string[] = [];
    for (const id of (msg.content as { msgIds: string[] }).msgIds) {
      const kept = this.#directKept.get(id)?.reply;
      if (kept) toClient(this.#resent(kept));
      else if (!this.#directInFlight.has(id)) unknown.push(id);
    }
    toClient(this.#session.message('result_reply', { status: 'ok', unknown }, { parent: msg.header }));
  }

  /** A kept reply as a fresh message (a header, date and signature of its own), marked `resent`. */
  #resent(reply: Message<unknown>): Message<unknown> {
    return this.#session.message(reply.header.msg_type, reply.content, { parent: reply.parent as Message['header'], metadata: { ...reply.metadata, resent: true }, buffers: reply.buffers });
  }

  /**
   * The connection to the controller dropped and came back. Say so in a registration, naming the controller that
   * accepted this engine: that one, if it is still the one listening, stops the engine (messages on the way when
   * the connection dropped may be lost, and neither side can tell which); a restarted controller (another session)
   * takes it back as after any restart.
   */
  #reconnected(): void {
    if (this.#stopping || this.#controllerSession === undefined) return;
    log('the connection to the controller at %s dropped and came back', this.options.info.address);
    this.#registerAgain({ reconnectedTo: this.#controllerSession });
  }

  /**
   * Ask a (restarted) controller to take this engine back, with its id, what it holds and what it answered; `extra`
   * adds the session this engine's connection dropped from (see #reconnected).
   */
  #registerAgain(extra: { reconnectedTo?: string } = {}): void {
    this.#lastRegistration = Date.now();
    this.#send(this.#session.message('registration_request', {
      ...extra,
      pid: process.pid, hostname: this.options.hostname ?? hostname(), pidNamespace: pidNamespace(), id: this.id,
      held: [...this.#inFlight], done: this.#outbox.ids(),
      ...(this.#direct ? { direct: this.options.directAdvertised ?? advertisedEndpoint(this.#direct.address) } : {}),
    }));
  }

  /**
   * A controller took this engine back after a restart: send the kept replies again (marked `resent`; the old
   * controller may have died before passing them on, and the new one forwards only what its clients still need).
   */
  #adopted(msg: Message, byAnother: boolean): void {
    const id = (msg.content as { id: number }).id;
    this.#lastPing = Date.now();
    // Taken back by another controller (a restart) before this engine missed its pings, when its connection came
    // back (#reconnected) at once: the kept replies go again all the same.
    if (!this.#orphanedSince && !byAnother) return;
    this.#orphanedSince = 0;
    log('the controller took this engine back as engine %d after %s; sending %d kept replies again', id, 'a restart', this.#outbox.size);
    if (id !== this.id) {
      // It declared this engine dead meanwhile (a long pause): the old id is gone for everyone, so this engine takes
      // the new one (its direct endpoint's channel, and the id a later restore looks for in the journal).
      log('the controller gave id %d, not %d: this engine is engine %d from now on', id, this.id, id);
      this.id = id;
    }
    for (const { reply } of this.#outbox.values()) {
      const resent = this.#resent(reply);
      // Kept as the task left it: one too large was made to fit when it was first sent, and is again.
      this.#send(resent, (bytes) => this.#sendFitted(resent, bytes));
    }
  }

  /** Stop: tell the controller (unless it is gone), close the sockets, resolve {@link stopped}. */
  async stop(code = 0, options: { unregister?: boolean } = {}): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#flushReplies();
    clearInterval(this.#watchdog);
    if (this.#processErrorHandler) {
      process.off('uncaughtException', this.#processErrorHandler);
      process.off('unhandledRejection', this.#processErrorHandler);
    }
    this.#flushRecords();
    if (options.unregister !== false && this.#connection) {
      this.#send(this.#session.message('unregistration_request', { id: this.id }));
      await new Promise((r) => setTimeout(r, 20));
    }
    await this.#taskWatchdog?.close();
    await this.#heart?.close();
    await this.#connection?.close();
    await this.#direct?.close();
    // Nobody can ask for them any more: free them now, not when their minute is over.
    this.#directKept.clear();
    log('engine %d stopped', this.id);
    this.#resolveStopped(code);
  }

  /**
   * This engine's process is exiting now with `code` (`process.exit()` in a task, or anywhere): tell the controller
   * at once, so the request running here fails with an `EngineDiedError` carrying the code. Synchronous, for the
   * process's 'exit' event, where nothing asynchronous runs any more; the send is handed to ZeroMQ's I/O thread,
   * which delivers it while the process winds down (if it cannot, the controller still sees the engine die).
   */
  exiting(code: number): void {
    if (this.#stopping || !this.#connection || this.id < 0) return;
    this.#stopping = true;
    // Not through the send queue: a send still settling, or a queue waiting for the next macrotask (a batch), holds
    // what follows it, and neither happens once the process exits.
    const frames = this.#session.encode(this.#session.message('unregistration_request', { id: this.id, exitCode: code }), Channels.engineToCluster);
    if (this.#connection!.sendNow) this.#connection!.sendNow(frames);
    else this.#connection!.send(frames);
  }

  /** Verify, decode and check a message; a bad one is dropped, counted and logged (never thrown). */
  #read(frames: Buffer[], channels: readonly string[], from: string, answer: ReplyRoute): Message | undefined {
    const msg = this.#session.decode(frames, channels);
    if (!msg) {
      log('dropped a message from %s (%o)', from, this.#session.dropped);
      return undefined;
    }
    const problem = checkEngineInput(msg);
    if (problem) {
      this.#session.dropped.invalid++;
      log('dropped an invalid %s from %s: %s (%o)', msg.header.msg_type, from, problem, this.#session.dropped);
      const type = msg.header.msg_type;
      // A batch that cannot be read: each of its tasks whose id can be read is answered, so that none waits for ever.
      if (type === BATCH_REQUEST) for (const task of readableTasks(msg)) this.#answerInvalid(task, problem, answer);
      else if (type.endsWith('_request') && type !== 'abort_request' && type !== 'shutdown_request') this.#answerInvalid(msg.header, problem, answer);
      return undefined;
    }
    return msg;
  }

  /** Answer an invalid request with a ProtocolError naming the problem. */
  #answerInvalid(header: Pick<Message['header'], 'msg_id' | 'msg_type'>, problem: string, answer: ReplyRoute): void {
    const type = header.msg_type;
    const error = { name: 'ProtocolError', message: `invalid ${type}: ${problem}`, engineId: this.id, origin: 'controller' };
    answer(this.#session.message(type.replace(/_request$/, '_reply'), { status: 'error', error, stdout: '', stderr: '' }, { parent: header as Message['header'], metadata: { engineId: this.id } }));
  }

  /**
   * A reply without a header of its own yet (only its type): in a `batch_reply` it needs none, and alone it gets one
   * from {@link #finalize}, so a batched reply costs no id and no date.
   */
  #draft(type: string, content: unknown, parent: Message['header'], metadata: Record<string, unknown>, buffers: Buffer[] = []): Message<unknown> {
    return { header: { msg_type: type } as Message['header'], parent, metadata, content, buffers };
  }

  /** A reply with a header of its own, to send alone (a draft gets one; a whole message is kept as it is). */
  #finalize(reply: Message<unknown>): Message<unknown> {
    if (reply.header.msg_id) return reply;
    return this.#session.message(reply.header.msg_type, reply.content, { parent: reply.parent, metadata: reply.metadata, buffers: reply.buffers });
  }

  /**
   * Send a reply to the controller, now or with the next ones: it waits while the next queued request is likely
   * quick (see {@link QUICK_TASK_MS}) and the task has no time limit, until the queue is empty, within
   * {@link MAX_BATCH_TASKS}, {@link MAX_BATCH_BYTES} and {@link HOLD_REPLIES_MS}. Sporadic requests (nothing queued
   * behind them) are answered at once. (Measured: sending at half the queue, to keep the engine fed, cost a third
   * more CPU per task for W3 than this.)
   */
  #replyToController(reply: Message<unknown>): void {
    if (this.#heldReplies.length === 0) this.#heldSince = performance.now();
    this.#heldReplies.push(reply);
    this.#heldRanMs += this.#routingRanMs;
    // Output counts with the buffers: a batch of chatty tasks' replies is as large as one of big results.
    const { stdout, stderr } = reply.content as { stdout?: string; stderr?: string };
    this.#heldBytes += (stdout?.length ?? 0) + (stderr?.length ?? 0);
    for (const b of reply.buffers) this.#heldBytes += b.length;
    if (this.#mayHoldReplies()) {
      this.#heldTimer ??= setTimeout(() => this.#flushReplies(), HOLD_REPLIES_MS).unref();
      return;
    }
    this.#flushReplies();
  }

  #mayHoldReplies(): boolean {
    const next = this.#queue[this.#queueHead];
    const last = this.#last;
    // A reply that waited behind a slow task could make the controller's time limit fire for a task that finished.
    if (!next || next.isDirect || !last || last.ms >= QUICK_TASK_MS || last.limited) return false;
    const held = this.#heldReplies.length;
    if (held >= MAX_BATCH_TASKS || this.#heldBytes >= MAX_BATCH_BYTES) return false;
    if (performance.now() - this.#heldSince >= HOLD_REPLIES_MS) return false;
    const type = next.msg.header.msg_type;
    return type === last.type && (type === 'apply_request' || type === 'map_request') && sameFunction(next.msg.content.fn, last.fn);
  }

  /**
   * A call of `fn` just ran far longer than the one before it: give the controller back the load-balanced calls of
   * `fn` queued here and not started (`tasks_returned`), to place again at the pace it now knows (the reply just sent
   * says how long this one ran). The controller sends quick tasks many per message at their recent pace
   * (`controller.hwmMs`); when inputs make the same function slow, they would otherwise wait here one after the other
   * while other engines are idle. Calls the controller asked to abort stay, to be answered as aborted.
   */
  #giveBack(type: string, fn: unknown): void {
    const back: string[] = [];
    const kept: QueuedRequest[] = [];
    for (let i = this.#queueHead; i < this.#queue.length; i++) {
      const q = this.#queue[i]!;
      const id = q.msg.header.msg_id;
      const mine = !q.isDirect && q.msg.header.msg_type === type && q.msg.metadata.balanced === true && !this.#aborted.has(id);
      if (mine && sameFunction((q.msg.content as { fn?: unknown }).fn, fn)) {
        back.push(id);
        this.#inFlight.delete(id);
      } else kept.push(q);
    }
    if (back.length === 0) return;
    this.#queue = kept;
    this.#queueHead = 0;
    log('a task took %d ms, over %d x the call before it: giving back %d queued calls of its function', Math.round(this.#last!.ms), GIVE_BACK_FACTOR, back.length);
    this.#flushReplies();
    // The ids of a long queue may be more than the controller accepts in one message.
    this.#sendInParts(back, (part) => this.#session.message('tasks_returned', { msgIds: part }), () => log('could not give back a task: its id alone is too large a message'));
  }

  /**
   * Send the replies that wait: one alone, several as one `batch_reply`. Either says how long its tasks ran (a
   * reply alone in `metadata.ranMs`, to the microsecond), the controller's measure of this engine's pace. Replies
   * too large together go in parts; a reply too large alone is made to fit (see {@link #fitted}).
   */
  #flushReplies(): void {
    clearTimeout(this.#heldTimer);
    this.#heldTimer = undefined;
    const replies = this.#heldReplies;
    if (replies.length === 0) return;
    this.#heldReplies = [];
    this.#heldBytes = 0;
    const ranMs = this.#heldRanMs;
    this.#heldRanMs = 0;
    // A part of the replies is told its share of the time.
    const share = (part: readonly unknown[]) => (ranMs * part.length) / replies.length;
    this.#sendInParts(
      replies,
      (part) => {
        if (part.length > 1) {
          const { content, buffers } = packReplies(part, share(part));
          return this.#session.message(BATCH_REPLY, content, { buffers });
        }
        const only = part[0]!;
        // A draft's metadata is this engine's own (a kept whole message is sent as it was).
        if (!only.header.msg_id) only.metadata.ranMs = Math.round(share(part) * 1000) / 1000;
        return this.#finalize(only);
      },
      (reply, bytes) => this.#sendFitted(reply, bytes),
    );
  }

  /** Send a reply whose message is `bytes` long, more than the controller accepts, made to fit (see {@link #fitted}). */
  #sendFitted(reply: Message<unknown>, bytes: number): void {
    this.#send(this.#fitted(reply, bytes), () => this.#send(this.#fitted(reply, bytes, { bare: true })));
  }

  /**
   * `reply`, `bytes` long on the wire and so larger than the controller accepts, made to fit: sent as it is, it
   * would have the controller disconnect this engine (and the task's client wait in vain). A result (or error) too
   * large is replaced by a ProtocolError saying so and what to do, which the controller does not retry (another
   * engine's result would be as large); output too large is cut in its middle, with a note saying so. `bare`: the
   * last resort, should a cut output still not fit: the ProtocolError alone, without output.
   */
  #fitted(reply: Message<unknown>, bytes: number, { bare = false } = {}): Message<unknown> {
    const limit = this.#maxMessageBytes;
    const { stdout = '', stderr = '', ...rest } = reply.content as { status: string; stdout?: string; stderr?: string };
    const outputBytes = jsonBytes(stdout) + jsonBytes(stderr);
    let content: Record<string, unknown> = rest;
    let buffers = reply.buffers;
    if (bare || bytes - outputBytes > limit) {
      const taskId = reply.parent.msg_id ?? 'unknown';
      const resultBytes = buffers.reduce((n, b) => n + b.length, 0);
      const what = rest.status === 'ok' && !bare ? `the result of task ${taskId} on engine ${this.id} is ${resultBytes} bytes` : `the reply to task ${taskId} on engine ${this.id} is ${bytes} bytes`;
      const message =
        `${what}, more than the controller accepts (controller.maxMessageBytes = ${limit}): return less (or in parts), ` +
        `run it on a direct view (client.view(id): its replies skip the controller when the client reaches the engine directly), ` +
        `or raise controller.maxMessageBytes`;
      content = { status: 'error', error: { name: 'ProtocolError', message, engineId: this.id, taskId, origin: 'controller' } };
      buffers = [];
      log('task %s: a reply of %d bytes is more than the controller accepts (%d); answering with a ProtocolError', taskId, bytes, limit);
    }
    if (!bare && outputBytes > 0) {
      const room = limit - ENVELOPE_BYTES - jsonBytes(reply.parent) - jsonBytes(reply.metadata) - jsonBytes(content) - buffers.reduce((n, b) => n + b.length, 0);
      const why = `a reply through the controller is at most controller.maxMessageBytes = ${limit} bytes`;
      // Each stream keeps its share of the room.
      if (stdout) content.stdout = cutText(stdout, Math.floor((room * jsonBytes(stdout)) / outputBytes), why);
      if (stderr) content.stderr = cutText(stderr, Math.floor((room * jsonBytes(stderr)) / outputBytes), why);
    }
    return this.#session.message(reply.header.msg_type, content, { parent: reply.parent as Message['header'], metadata: reply.metadata, buffers });
  }

  /**
   * User code threw outside any await chain (in a timer, an event handler) or left a rejection unhandled. While a
   * task runs, it fails that task (the engine cannot know which task's code it was, so it blames the running one);
   * between tasks, the controller is told with an `engine_event`.
   */
  #asyncError(error: unknown): void {
    const info = this.#describe(error);
    if (this.#current) {
      log('uncaught error during task %s: %s', this.#current.msgId, info.message);
      this.#current.fail(error);
      return;
    }
    log('uncaught error between tasks: %s', info.message);
    this.#send(this.#session.message('engine_event', { event: 'uncaught_error', id: this.id, error: { name: info.name, message: info.message, stack: info.stack } }));
  }

  /**
   * Send a message to the controller. One larger than it accepts (`controller.maxMessageBytes`) is not sent: ZeroMQ
   * would disconnect this engine, and the controller drop it for that. `tooLarge` is told its size, to send it
   * another way (in parts, or cut); without one it is dropped and logged.
   */
  #send(msg: Message<unknown>, tooLarge?: (bytes: number) => void): void {
    const frames = this.#session.encode(msg, Channels.engineToCluster);
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    // The whole message against the limit, as the client counts its requests: ZeroMQ checks each frame, and the
    // frames besides the largest (delimiter, signature, header…) outweigh what CURVE adds to it.
    if (bytes <= this.#maxMessageBytes) return this.#connection?.send(frames);
    if (tooLarge) return tooLarge(bytes);
    log('dropped a %s of %d bytes: more than the controller accepts (controller.maxMessageBytes = %d)', msg.header.msg_type, bytes, this.#maxMessageBytes);
  }

  /**
   * Send `items` in one message made by `make`, or, while that is larger than the controller accepts, in halves;
   * `alone` is told of the message of a single item still too large, and its size.
   */
  #sendInParts<T>(items: readonly T[], make: (part: readonly T[]) => Message<unknown>, alone: (msg: Message<unknown>, bytes: number) => void): void {
    const msg = make(items);
    this.#send(msg, (bytes) => {
      if (items.length === 1) return alone(msg, bytes);
      const half = Math.ceil(items.length / 2);
      this.#sendInParts(items.slice(0, half), make, alone);
      this.#sendInParts(items.slice(half), make, alone);
    });
  }

  /** Queue the report of a direct request; the reports of {@link RECORD_DELAY_MS} leave together. */
  #record(record: DirectTaskReport): void {
    this.#records.push(record);
    if (this.#records.length >= RECORD_BATCH) this.#flushRecords();
    else if (!this.#recordTimer) {
      this.#recordTimer = setTimeout(() => this.#flushRecords(), RECORD_DELAY_MS);
      this.#recordTimer.unref();
    }
  }

  #flushRecords(): void {
    clearTimeout(this.#recordTimer);
    this.#recordTimer = undefined;
    const records = this.#records;
    if (records.length === 0) return;
    this.#records = [];
    this.#sendInParts(records, (part) => this.#session.message('task_records', { records: part }), (msg, bytes) => {
      const [record] = (msg.content as { records: DirectTaskReport[] }).records;
      log('dropped the record of direct request %s: %d bytes, more than the controller accepts', record?.msgId, bytes);
    });
  }

  #enqueue(msg: Message, reply: ReplyRoute, isDirect = false): void {
    if (msg.header.msg_type === 'shutdown_request') {
      void this.stop(0, { unregister: false });
      return;
    }
    if (msg.header.msg_type === 'abort_request') {
      // Handled at once, not queued: it must overtake the requests it aborts.
      for (const id of (msg.content as { msgIds?: string[] }).msgIds ?? []) {
        // A running task cannot be interrupted; it is told through its signal, and may stop early.
        if (this.#current?.msgId === id) (this.#current.abort ??= new AbortController()).abort(new Error(`task ${id} was aborted by the controller (time limit or abort)`));
        // Only a request still queued here is dropped when its turn comes. An abort that crossed its task's reply
        // (a time limit that fired as the task ended) is not kept: the id would stay for ever, and abort the same
        // task sent here again (a retry on the only engine that may take it) before it ran.
        else if (this.#inFlight.has(id) || this.#directInFlight.has(id)) this.#aborted.add(id);
      }
      return;
    }
    // One request at a time, in arrival order, as an IPython engine does.
    this.#queue.push({ msg, route: reply, isDirect });
    if (this.#pumping) return;
    this.#pumping = true;
    queueMicrotask(() => void this.#pump());
  }

  /** Run the queued requests one after the other, until none is left. */
  async #pump(): Promise<void> {
    try {
      while (this.#queueHead < this.#queue.length) {
        const next = this.#queue[this.#queueHead]!;
        this.#queue[this.#queueHead++] = undefined;
        if (this.#queueHead >= 1024 && this.#queueHead * 2 >= this.#queue.length) {
          this.#queue = this.#queue.slice(this.#queueHead);
          this.#queueHead = 0;
        }
        try {
          // A request whose work is synchronous is handled without a promise (most quick tasks): less to allocate,
          // and less code for a fresh engine to run before V8 has optimised it.
          const pending = this.#handle(next.msg, next.route, next.isDirect);
          if (pending) await pending;
        } catch (err) {
          // #handle answers every failure of user code; this is a failure of the engine's own (a reply it could not send).
          log('request %s failed outside its task: %s', next.msg.header.msg_id, (err as Error)?.stack ?? String(err));
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Run one request and route its reply: at once when its work is synchronous, else once it settles. */
  #handle(msg: Message, route: ReplyRoute, isDirect: boolean): Promise<void> | undefined {
    const type = msg.header.msg_type;
    if (this.#aborted.delete(msg.header.msg_id)) {
      const error = { name: 'TaskAbortedError', message: `task ${msg.header.msg_id} was aborted before it started`, engineId: this.id };
      route(this.#draft(type.replace(/_request$/, '_reply'), { status: 'aborted', error, stdout: '', stderr: '' }, msg.header, { engineId: this.id }));
      return undefined;
    }
    const started = Date.now();
    const startedAt = performance.now();
    // An error raised outside the task's own calls (a timer, an unhandled rejection) can only arrive from the event
    // loop, so after the task's synchronous part: the promise it fails is made only for a task that awaits.
    let early: { error: unknown } | undefined;
    const current: { msgId: string; abort?: AbortController; fail: (error: unknown) => void } = { msgId: msg.header.msg_id, fail: (error) => void (early ??= { error }) };
    this.#current = current;
    if (!this.#signalDefined) this.#defineTaskSignal();
    const limit = msg.metadata.timeoutMs;
    const armed = this.#taskWatchdog !== undefined && typeof limit === 'number' && limit > 0;
    if (armed) {
      const grace = typeof msg.metadata.graceMs === 'number' ? msg.metadata.graceMs : (this.options.graceMs ?? DEFAULT_GRACE_MS);
      this.#taskWatchdog!.arm(limit + grace, `task ${msg.header.msg_id} ran past its time limit of ${limit} ms and ignored its abort signal for ${grace} ms (graceMs)`);
    }
    const outcome = this.#namespace.capture(() => {
      const result = this.#run(type, msg);
      // Raised during the synchronous part after all (code that emits 'uncaughtException' itself).
      if (early) throw early.error;
      if (!isThenable(result)) return result;
      const failed = new Promise<never>((_, reject) => (current.fail = reject));
      failed.catch(() => {});
      return Promise.race([result, failed]);
    });
    const finish = (done: Captured<unknown>) => {
      if (armed) this.#taskWatchdog!.disarm();
      this.#current = undefined;
      this.#answer(msg, route, isDirect, done, started, startedAt);
    };
    if (outcome instanceof Promise) return outcome.then(finish);
    finish(outcome);
    return undefined;
  }

  /** Build the reply to a request from how its work ended, and route it (and, for a direct request, its record). */
  #answer(msg: Message, route: ReplyRoute, isDirect: boolean, outcome: Captured<unknown>, started: number, startedAt: number): void {
    const type = msg.header.msg_type;
    const limit = msg.metadata.timeoutMs;
    const completed = Date.now();
    let buffers: Buffer[] = [];
    let error: ErrorInfo | undefined = outcome.failed ? { ...this.#describe(outcome.error, msg), hostname: hostname(), pid: process.pid, taskId: msg.header.msg_id } : undefined;
    if (!error) {
      try {
        buffers = serialize(outcome.value);
      } catch (err) {
        error = {
          name: 'SerializationError',
          message: `the result could not be sent back (${(err as Error).message}); return data (numbers, strings, arrays, objects, typed arrays, Map, Set, Date, Error), not functions or handles`,
          engineId: this.id,
        };
      }
    }
    // Output only when there is some: most tasks print nothing, and a batch of replies is parsed at every hop.
    const content: Record<string, unknown> = error ? { status: 'error', error } : { status: 'ok' };
    if (outcome.stdout) content.stdout = outcome.stdout;
    if (outcome.stderr) content.stderr = outcome.stderr;
    const metadata: Record<string, unknown> = { engineId: this.id, started, completed };
    if (typeof msg.metadata.retry === 'number') metadata.retry = msg.metadata.retry;
    const reply = this.#draft(type.replace(/_request$/, '_reply'), content, msg.header, metadata, buffers);
    const fn = (msg.content as { fn?: unknown }).fn;
    const ms = performance.now() - startedAt;
    const before = this.#last;
    const turnedSlow = !isDirect && ms >= GIVE_BACK_MS && before !== undefined && ms >= GIVE_BACK_FACTOR * before.ms && before.type === type && sameFunction(before.fn, fn);
    this.#last = { type, fn, ms, limited: typeof limit === 'number' && limit > 0 };
    this.#routingRanMs = ms;
    try {
      route(reply);
    } finally {
      this.#routingRanMs = 0;
    }
    if (turnedSlow) this.#giveBack(type, fn);
    if (isDirect) {
      // The controller never saw this request: tell it afterwards, so its records stay complete.
      this.#record({
        msgId: msg.header.msg_id,
        type,
        state: error ? 'failed' : 'completed',
        started,
        completed,
        resultBytes: buffers.reduce((n, b) => n + b.length, 0),
        ...(error && { error: { name: error.name, message: error.message } }),
      });
    }
  }

  /** `taskSignal` in the namespace: the running task's signal, made when first read. */
  #defineTaskSignal(): void {
    this.#signalDefined = true;
    this.#namespace.defineGetter(
      'taskSignal',
      () => {
        const current = this.#current;
        if (current) this.#lastSignal = (current.abort ??= new AbortController()).signal;
        return (this.#lastSignal ??= new AbortController().signal);
      },
      () => (this.#signalDefined = false),
    );
  }

  /** Do a request's work: its value, or a promise of it when the work awaits (a module to import, an async function). */
  #run(type: string, msg: Message): unknown {
    const content = msg.content as { fn?: FunctionSpec; code?: string; names?: string[] | string };
    switch (type) {
      case 'apply_request': {
        const fn = this.#function(content.fn!);
        if (fn instanceof Promise) return fn.then((f) => f(...(deserialize(msg.buffers) as unknown[])));
        return fn(...(deserialize(msg.buffers) as unknown[]));
      }
      case 'map_request': {
        const fn = this.#function(content.fn!);
        if (fn instanceof Promise) return fn.then((f) => mapItems(f, deserialize(msg.buffers) as ArrayLike<unknown>));
        return mapItems(fn, deserialize(msg.buffers) as ArrayLike<unknown>);
      }
      case 'execute_request':
        return this.#namespace.execute(content.code ?? '');
      case 'push_request': {
        const names = deserialize(msg.buffers) as Record<string, unknown>;
        for (const [name, value] of Object.entries(names)) this.#namespace.set(name, value);
        return undefined;
      }
      case 'pull_request': {
        const names = content.names!;
        return Array.isArray(names) ? names.map((n) => this.#namespace.get(n)) : this.#namespace.get(names);
      }
      default:
        throw new Error(`this engine does not know requests of type '${type}'; are the client and engine the same version?`);
    }
  }

  /** The function a spec names: at once when compiled or imported before, else once its module is imported. */
  #function(spec: FunctionSpec): ((...args: unknown[]) => unknown) | Promise<(...args: unknown[]) => unknown> {
    if ('source' in spec) return this.#namespace.compile(spec.source);
    const key = `${spec.module}#${spec.export}`;
    return this.#modules.get(key) ?? this.#importFunction(spec, key);
  }

  async #importFunction(spec: { module: string; export: string }, key: string): Promise<(...args: unknown[]) => unknown> {
    const mod = (await import(spec.module)) as Record<string, unknown>;
    const value = mod[spec.export];
    if (typeof value !== 'function') {
      throw new TypeError(`module ${spec.module} has no exported function '${spec.export}' (its exports: ${Object.keys(mod).join(', ') || 'none'})`);
    }
    const fn = value as (...args: unknown[]) => unknown;
    this.#modules.set(key, fn);
    return fn;
  }

  /** Describe anything thrown, in strings only; never throws, whatever was thrown (null-prototype objects, getters that throw). */
  #describe(error: unknown, msg?: Message): ErrorInfo {
    try {
      return this.#describeUnsafe(error, msg);
    } catch {
      return { name: 'Error', message: `a value that cannot be described was thrown (${safeString(error)})`, engineId: this.id };
    }
  }

  #describeUnsafe(error: unknown, msg?: Message): ErrorInfo {
    // Not instanceof: errors thrown in an isolated namespace come from another V8 context.
    if (typeof error !== 'object' || error === null || !('message' in error)) {
      return { name: error === null ? 'null' : typeof error, message: describeThrown(error), engineId: this.id };
    }
    const err = error as Error;
    let message = safeString(err.message);
    const fromSource = msg && (msg.content as { fn?: FunctionSpec }).fn && 'source' in (msg.content as { fn: FunctionSpec }).fn;
    const missing = err.name === 'ReferenceError' && /^(\S+) is not defined$/.exec(message);
    if (missing && fromSource) {
      const missingName = missing[1];
      // Push takes data only (functions cannot be cloned): a missing function needs its definition run there.
      message +=
        `: the function was sent as source text, so it sees only the engine's namespace and Node's globals, not ` +
        `the variables around it where it was written. If ${missingName} is a value, push it first: view.push({ ${missingName} }). ` +
        `If it is a function (push takes no functions), define it inside the function you send, define it on the ` +
        `engines first with view.execute(\`var ${missingName} = \${${missingName}}\`), or send the function by module reference ` +
        `(fromModule('./module.js', 'name', import.meta.url))`;
    }
    const name = typeof err.name === 'string' ? err.name : 'Error';
    const stack = typeof err.stack === 'string' ? err.stack : undefined;
    const props = errorProps(err);
    return { name, message, stack, engineId: this.id, ...(props && { props }) };
  }
}

/**
 * `fn` over every item, in order: synchronously while it returns plain values, and from the first promise on
 * awaiting each result before the next call, as a `for` loop with `await` would.
 */
function mapItems(fn: (item: unknown) => unknown, items: ArrayLike<unknown>): unknown[] | Promise<unknown[]> {
  const results = new Array<unknown>(items.length);
  for (let i = 0; i < items.length; i++) {
    const r = fn(items[i]);
    if (isThenable(r)) return mapRest(fn, items, results, i, r);
    results[i] = r;
  }
  return results;
}

async function mapRest(fn: (item: unknown) => unknown, items: ArrayLike<unknown>, results: unknown[], at: number, pending: PromiseLike<unknown>): Promise<unknown[]> {
  results[at] = await pending;
  for (let i = at + 1; i < items.length; i++) {
    let r = fn(items[i]);
    if (isThenable(r)) r = await r;
    results[i] = r;
  }
  return results;
}

/** Whether two function specs (`content.fn` of requests) name the same function. */
function sameFunction(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return x.source === y.source && x.module === y.module && x.export === y.export;
}

/**
 * A thrown value that is not an error, readable and bounded: a string as it is, anything else as Node's inspect
 * shows it (`{ code: 42 }`, not `[object Object]`), without running its own inspect method or getters.
 */
function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  let text: string;
  try {
    // One line: fully expanded, then joined (strings keep their newlines escaped, so only the layout's are joined).
    text = inspect(value, { depth: 2, maxArrayLength: 20, maxStringLength: 200, compact: false, customInspect: false }).replace(/\n\s*/g, ' ');
  } catch {
    text = safeString(value);
  }
  return text.length > MAX_THROWN_CHARS ? `${text.slice(0, MAX_THROWN_CHARS)}…` : text;
}

/**
 * An error's own enumerable data properties (not getters, which are not run) with primitive values JSON keeps, for
 * the client's RemoteError: what Node's system errors carry (`code`, `errno`, `syscall`, `path`), and what code adds
 * (`e.code = 'E_X'`). Bounded ({@link ErrorInfo.props}); undefined when there are none or they cannot be read.
 */
function errorProps(error: object): ErrorInfo['props'] {
  let props: ErrorInfo['props'];
  try {
    let count = 0;
    for (const key of Object.keys(error)) {
      if (key === 'name' || key === 'message' || key === 'stack' || key === '__proto__' || key.length > 100) continue;
      const own = Object.getOwnPropertyDescriptor(error, key);
      let value: unknown = own && 'value' in own ? own.value : undefined;
      if (typeof value === 'string' && value.length > MAX_PROP_CHARS) value = `${value.slice(0, MAX_PROP_CHARS)}…`;
      else if (!(typeof value === 'string' || typeof value === 'boolean' || value === null || (typeof value === 'number' && Number.isFinite(value)))) continue;
      (props ??= {})[key] = value as string | number | boolean | null;
      if (++count >= MAX_ERROR_PROPS) break;
    }
  } catch {
    // A proxy's traps, or the like: the error travels without its properties.
  }
  return props;
}

/** `String(value)`, or a fallback for values that cannot be turned into a string (null-prototype objects). */
function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    try {
      return JSON.stringify(value) ?? Object.prototype.toString.call(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
}

/** The bytes `value` takes as JSON (UTF-8). */
function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

/**
 * `text` cut in its middle to at most `maxBytes` as JSON (its head and tail kept), with a note saying how much was
 * cut and `why`; unchanged when it fits.
 */
function cutText(text: string, maxBytes: number, why: string): string {
  let bytes = jsonBytes(text);
  let keep = text.length;
  let cut = text;
  // JSON takes 1 to 6 bytes per character: shrink by the measured ratio until it fits.
  while (bytes > maxBytes && keep > 0) {
    keep = Math.floor(keep * Math.max(0, Math.min(0.9, maxBytes / bytes)));
    const head = Math.ceil(keep / 2);
    cut = `${text.slice(0, head)}\n[tsparallel: ${text.length - keep} of ${text.length} characters of output cut here: ${why}]\n${text.slice(text.length - (keep - head))}`;
    bytes = jsonBytes(cut);
  }
  return cut;
}
