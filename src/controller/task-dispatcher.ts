/**
 * The controller's book of tasks: a record of every request (direct or load-balanced), the queue of load-balanced
 * tasks, their dependencies, retries, time limits and aborts, and the choice of engine by the task policy.
 * @module
 */
import debug from 'debug';
import { Session, type Message, type MessageHeader } from '../wire/protocol.js';
import { DEFAULT_GRACE_MS, FINAL_TASK_STATES as FINAL, type DirectTaskReport, type TaskFlags, type TaskRecord, type TaskState } from '../core/tasks.js';
import type { Candidate, TaskPolicy } from './policies/index.js';
import type { ControllerStats } from './stats.js';
import { fromJournalMessage, toJournalMessage, type JournalTask, type TaskJournal } from './journal.js';
import { Fifo } from '../util/fifo.js';
import { BATCH_REPLY, MAX_BATCH_BYTES, MAX_BATCH_TASKS, unpackReplies } from '../wire/task-batch.js';

const log = debug('tsparallel:controller');

interface Task extends TaskRecord {
  client: Buffer;
  header: MessageHeader;
  flags: TaskFlags;
  retriesLeft: number;
  /** Engines it failed on (made at its first retry). */
  tried?: Set<number>;
  /** The original frames, forwarded unchanged on the first dispatch. */
  frames?: Buffer[];
  /** The decoded request, re-signed for retries and resubmissions; dropped under memory pressure. */
  message?: Message;
  heldBytes: number;
  followEngine?: number;
  timer?: NodeJS.Timeout;
  waitingOn: number;
  /** Its function (source text or module#export), for the engines' pace (see {@link LoadLimit.hwmMs}). */
  kind?: string;
  /**
   * Its reply's frames as the engine signed them, kept after delivery for a client that asks again (see
   * {@link TaskDispatcher.results}): its own message's, or those of the engine's `batch_reply` that held it (one
   * array shared by the batch's tasks). Frames, not decoded messages: buffers cost the collector next to nothing,
   * where a decoded reply per task, kept a minute, cost a third more of the controller's CPU per task (W3).
   */
  replyFrames?: Buffer[];
  /** The kept frames it holds and counts against {@link DispatcherLimits.replyBytes} (none for `keepResult` tasks). */
  replyKept?: KeptFrames;
  /** The error the controller answered it with, when it ended by one (not by an engine's reply). */
  failure?: ControllerFailure;
  /** Clients other than its own that asked for its reply while it was not over: they get it too. */
  watchers?: Buffer[];
}

/** An error the controller makes for a task (engine died, time limit, dependency, abort before it ran). */
export interface ControllerFailure {
  /** The error's class name. */
  name: string;
  /** Its message. */
  message: string;
  /** The engine concerned. */
  engineId?: number;
  /** The time limit it exceeded. */
  timeoutMs?: number;
  /** The engine's exit code, when it said it was exiting with one. */
  exitCode?: number;
}

/**
 * Frames kept for replies (see `Task.replyFrames`): one reply's, or a `batch_reply`'s shared by its tasks. They are
 * counted whole while any of their tasks holds them, since the memory is freed only when the last one lets go
 * (counting a share per task let one kept reply of a batch hold the whole batch's bytes while counting a fraction).
 */
export interface KeptFrames {
  /** The signed frames of a reply, or of a `batch_reply`. */
  frames: Buffer[];
  /** Their bytes, with what holding them costs besides (see `frameBytes`). */
  bytes: number;
  /** How many tasks hold them and count them against the bound. */
  holders: number;
}

/** Frames to keep for the replies they hold. */
function keptFrames(frames: Buffer[]): KeptFrames {
  return { frames, bytes: frameBytes(frames), holders: 0 };
}

/** The bytes of `frames`, with 512 for what holding them costs besides. */
function frameBytes(frames: readonly Buffer[]): number {
  let n = 512;
  for (const f of frames) n += f.length;
  return n;
}

/** What became of a task a client asked about (see {@link TaskDispatcher.results}). */
export type TaskOutcome =
  | { msgId: string; state: 'pending' }
  | { msgId: string; state: 'unknown' }
  | { msgId: string; state: 'forgotten' }
  | { msgId: string; state: 'replied'; reply: Message }
  | { msgId: string; state: 'failed'; header: MessageHeader; failure: ControllerFailure };

/** What function a request runs, as a string: tasks of one kind are expected to take alike. */
function kindOf(msg: Message): string | undefined {
  const fn = (msg.content as { fn?: { source?: unknown; module?: unknown; export?: unknown } } | undefined)?.fn;
  if (!fn || typeof fn !== 'object') return undefined;
  return typeof fn.source === 'string' ? fn.source : `${String(fn.module)}#${String(fn.export)}`;
}

/** The engine side the dispatcher sees. */
interface EngineSlot extends Candidate {
  alive: boolean;
  /**
   * The tasks running on it: what its death fails or runs again, found without a scan of every task record (up to
   * {@link DispatcherLimits.records}; losing a process of a thousand engines scanned them a thousand times).
   */
  running: Set<Task>;
  /** When the engine's batch job ends (ms since epoch), if it has a walltime. */
  jobEnd?: number;
  /**
   * Tasks that timed out on it and that it has not answered yet (it was told to drop them). While there are any it
   * takes no new task: it may be stuck in one that ignores its abort signal, until its watchdog kills it.
   */
  stuck?: Set<string>;
  /**
   * Its pace: a moving average of the time it ran each task, in ms, from its own clock (the `ranMs` of its batch
   * replies; see {@link LoadLimit.hwmMs}). Only for tasks of {@link paceKind}: it is forgotten when it is given a task
   * of another kind, which may be slower.
   */
  taskMs?: number;
  /** The kind of task (its function) its pace is of. */
  paceKind?: string;
}

/** How many load-balanced tasks an engine may hold at once. */
export interface LoadLimit {
  /** At most this many (0: no limit). */
  hwm: number;
  /**
   * Unless its tasks are quick: then as many as it runs in this many milliseconds at its recent pace, up to
   * {@link MAX_BATCH_TASKS} (0 or absent: `hwm` alone decides). Tasks of a few microseconds then travel many per
   * message, and what waits at a busy engine while another is idle is still bounded, by time instead of by count.
   * The pace is the engine's own measure of the tasks it ran (`ranMs` in its batch replies), of one kind of task
   * (one function): given a task of another kind, the engine holds `hwm` again until its pace for that kind is known.
   */
  hwmMs?: number;
}

/**
 * The share of `hwmMs` that one message fills with quick tasks for an idle engine (see TaskDispatcher's `#fill`): the
 * rest of its allowance is for the tasks sent while it works on those.
 */
const FILL_SHARE = 0.5;

/** How much one answer moves an engine's pace (an exponential moving average). */
const PACE_WEIGHT = 0.3;

/** How the dispatcher talks to the world; the controller provides these. */
export interface DispatcherIO {
  /** Send frames to an engine. */
  toEngine(engineId: number, frames: Buffer[]): void;
  /** Send frames to a client. */
  toClient(client: Buffer, frames: Buffer[]): void;
  /**
   * Deliver to a client a reply that came in an engine's `batch_reply` (it has no frames of its own to forward): the
   * controller sends the replies of one batch together.
   */
  toClientBatched(client: Buffer, reply: Message): void;
  /** Sign several requests for one engine as one `batch_request` (`src/wire/task-batch.ts`); optional: without it each goes alone. */
  encodeBatch?(messages: Message[]): Buffer[];
  /** Send a client an error reply to `request` made by the controller itself. */
  replyError(client: Buffer, request: MessageHeader, error: ControllerFailure): void;
  /** Sign a request again with a fresh header (new date, and a new id when given). */
  reencode(message: Message, newMsgId?: string): Buffer[];
  /** Tell an engine not to start these requests (they are dropped if still queued there). */
  abortOnEngine(engineId: number, msgIds: string[]): void;
  /**
   * Whether a client's frames dated `header.date` may still be forwarded unchanged: engines refuse a message dated
   * outside the replay window, so a task held here too long is signed afresh (default: always).
   */
  canForward?(header: MessageHeader): boolean;
  /** Told when a task reaches an engine and when an attempt ends (the dashboard's statistics); optional. */
  stats?: Pick<ControllerStats, 'onTaskStarted' | 'onTaskEnded' | 'onTaskReturned'>;
  /** The task journal, when the controller keeps one (for `--restore`); optional. */
  journal?: TaskJournal;
}

/** Limits that keep the controller's memory bounded. */
export interface DispatcherLimits {
  /** Bytes of finished requests kept for `resubmit` (default 64 MiB); the oldest go first. */
  heldBytes: number;
  /** Records kept (default 100000); the oldest finished ones go first. */
  records: number;
  /**
   * Bytes of replies kept after delivery (default 64 MiB), for a client whose connection dropped and came back (the
   * replies on the way were lost) or that asks again; the oldest go first. Tasks sent with `keepResult` keep theirs
   * until purged, outside this bound.
   */
  replyBytes?: number;
  /** How long a reply is kept after delivery, in ms (default 60000; `keepResult` tasks: until purged). */
  replyMs?: number;
}

/** The default {@link DispatcherLimits}. */
const DEFAULT_LIMITS: Required<DispatcherLimits> = { heldBytes: 64 * 1024 * 1024, records: 100_000, replyBytes: 64 * 1024 * 1024, replyMs: 60_000 };

/** What {@link TaskDispatcher.abort} did. */
export interface AbortOutcome {
  /** Tasks dropped before they reached an engine. */
  aborted: string[];
  /** Tasks already on an engine: it was told to drop them (if not started) or signal them (if running). */
  running: string[];
}

/** The task book and load balancer of one controller. */
export class TaskDispatcher {
  readonly #tasks = new Map<string, Task>();
  readonly #engines = new Map<number, EngineSlot>();
  readonly #dependents = new Map<string, Set<Task>>();
  readonly #held = new Set<Task>();
  /**
   * Finished tasks whose request is still held, in the order they finished: the ones to release first. Kept apart
   * from the unfinished, so that releasing never walks past pending tasks (a cost per submit that grew with them).
   */
  readonly #heldFinished = new Fifo<Task>((t) => this.#held.has(t));
  /** Finished task records, oldest first: the ones trimming drops, reached without walking past unfinished ones. */
  readonly #finishedRecords = new Fifo<Task>((t) => this.#tasks.get(t.msgId) === t);
  #heldBytes = 0;
  /** Finished tasks whose reply is kept within the bounds ({@link DispatcherLimits.replyBytes}), oldest first. */
  readonly #replied = new Fifo<Task>((t) => t.replyKept !== undefined);
  #repliedBytes = 0;
  readonly limits: Required<DispatcherLimits>;
  /** Tasks restored from the journal that were running on an engine that has not come back (yet), by engine id. */
  readonly #awaiting = new Map<number, Set<Task>>();
  /** Restored queued tasks with dependencies: resolved once the engines had their chance to come back. */
  #restoredWithDeps: Task[] = [];
  #queue: Task[] = [];
  /**
   * Queued tasks that only some engines may take (targets, or tasks to follow), by each engine id they name: the
   * ones an engine's death can leave with nowhere to run, and the ones an engine that registers may take. Kept apart
   * so that a death or a registration looks at these, not at the whole queue (a host of many engines lost with a
   * deep queue cost engines x queue). Entries that left the queue are dropped as they are met.
   */
  readonly #pinnedOn = new Map<number, Set<Task>>();
  /**
   * Pinned tasks that found none of their engines free, taken out of the queue: by engine (each of its registered
   * targets, or the engine it follows), oldest first. A pass places these on engines with room first (they are older
   * than what is left in the queue), and never walks them again while their engines are full: left in the queue,
   * tasks pinned to one busy engine were walked past on every pass while others had room (20,000 of them cost 4 ms a
   * task). Entries that left the queue meanwhile (placed on another of their engines, aborted, failed) are dropped
   * as they are met, and when a list outgrows its `limit` (twice what was still queued at the last look, at least
   * {@link PARKED_MIN_LIMIT}): an engine that stays full must not keep them all.
   */
  readonly #parked = new Map<number, ParkedList>();
  #head = 0;
  #clock = 0;
  #scheduling = false;
  /** While above 0, scheduling waits (several tasks or replies are taken in at once, then scheduled in one pass). */
  #deferred = 0;
  /** A restored dispatcher sends no task until its predecessor's engines are back (see {@link allEnginesBack}). */
  #holdingRestored = false;
  /** Tasks dispatched in the current scheduling pass, by engine: they leave together at its end. */
  readonly #outgoing = new Map<number, Task[]>();
  readonly #hwm: number;
  readonly #hwmMs: number;

  /** @param load the high-water mark: a number is `{ hwm }` (a fixed count, as before {@link LoadLimit.hwmMs}). */
  constructor(
    private readonly io: DispatcherIO,
    private readonly policy: TaskPolicy,
    load: number | LoadLimit,
    limits: Partial<DispatcherLimits> = {},
    private readonly random: () => number = Math.random,
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    const limit = typeof load === 'number' ? { hwm: load } : load;
    this.#hwm = limit.hwm;
    this.#hwmMs = limit.hwmMs ?? 0;
  }

  /** Load-balanced tasks not yet sent to an engine (queued or waiting on dependencies). */
  get unassigned(): number {
    let n = 0;
    for (const t of this.#tasks.values()) if (t.state === 'queued' || t.state === 'waiting') n++;
    return n;
  }

  /** Tasks each engine holds. */
  loadOf(engineId: number): number {
    return this.#engines.get(engineId)?.load ?? 0;
  }

  /**
   * An engine registered: it can take tasks. `jobEnd`: when its batch job's walltime ends (ms since epoch).
   * `adopted`: an engine of the controller before a restart, which says which requests it still holds (queued or
   * running) and which replies it keeps (it sends those again).
   */
  engineAdded(id: number, options: { jobEnd?: number; adopted?: { held: ReadonlySet<string>; done: ReadonlySet<string> } } = {}): void {
    const { jobEnd, adopted } = options;
    const slot: EngineSlot = { id, load: 0, lastUsed: 0, alive: true, running: new Set(), ...(jobEnd !== undefined && { jobEnd }) };
    this.#engines.set(id, slot);
    // Parked tasks that may run here too (it is among their targets) wait for it as well.
    for (const t of this.#pinnedOn.get(id) ?? []) if (t.state === 'queued' && t.followEngine === undefined) this.#parkOn(id, t);
    const awaiting = this.#awaiting.get(id);
    this.#awaiting.delete(id);
    for (const t of awaiting ?? []) {
      if (t.state !== 'running') continue;
      if (adopted?.held.has(t.msgId) || adopted?.done.has(t.msgId)) {
        slot.load++;
        slot.running.add(t);
        continue;
      }
      // The engine never got it (lost in flight when the controller died): it did not run, so no retry is spent.
      log('task %s never reached engine %d before the controller restarted: queued again', t.msgId, id);
      this.#requeue(t);
    }
    if (adopted) {
      // A task the journal has as queued may have reached this engine all the same (its 'sent' record was among the
      // last ones a killed controller never wrote): it holds it or kept its reply, so it is not sent again.
      for (let i = this.#head; i < this.#queue.length; i++) {
        const t = this.#queue[i]!;
        if (t.state !== 'queued' || !(adopted.held.has(t.msgId) || adopted.done.has(t.msgId))) continue;
        log('task %s, queued in the journal, is on engine %d after the restart: not sent again', t.msgId, id);
        this.#unpin(t);
        t.state = 'running';
        t.engineId = id;
        slot.load++;
        slot.running.add(t);
        this.io.journal?.sent(t.msgId, id);
      }
    }
    this.#schedule();
  }

  /**
   * Every engine the journal named is back (the controller tells it; {@link adoptionOver} does the same when their
   * time is over): the restored queued tasks may go out now. Until then none is sent, since an engine still to come
   * back may hold one of them (see {@link engineAdded}).
   */
  allEnginesBack(): void {
    if (!this.#holdingRestored) return;
    this.#holdingRestored = false;
    this.#schedule();
  }

  /**
   * Take the unfinished tasks of a journal (a controller restarted with `--restore`). Queued ones are queued again;
   * running ones wait for their engine to come back ({@link engineAdded} with `adopted`) until
   * {@link adoptionOver}. Finished ones are kept as records, so that a reply an engine sends again still reaches
   * its client.
   */
  restore(tasks: Iterable<JournalTask>): void {
    this.#holdingRestored = true;
    for (const j of tasks) {
      if (this.#tasks.has(j.msgId)) continue;
      const message = j.message ? fromJournalMessage(j.message) : undefined;
      const flags = (message?.metadata ?? {}) as TaskFlags;
      const header = message?.header ?? { msg_id: j.msgId, msg_type: 'apply_request', session: '', date: '', version: '' };
      const t: Task = {
        msgId: j.msgId, type: header.msg_type, balanced: flags.balanced === true, state: j.state, engineId: j.engineId,
        submitted: j.submitted, retries: j.retries, client: Buffer.from(j.client, 'base64'), header, flags,
        retriesLeft: Math.max(0, Math.floor(flags.retries ?? 0) - j.retries), message, heldBytes: 0, waitingOn: 0,
      };
      this.#tasks.set(t.msgId, t);
      if (FINAL.has(t.state)) {
        this.#finishedRecords.push(t);
        continue;
      }
      this.#hold(t);
      if (t.state === 'running' && t.engineId !== undefined) {
        let set = this.#awaiting.get(t.engineId);
        if (!set) this.#awaiting.set(t.engineId, (set = new Set()));
        set.add(t);
      } else if (!message) {
        this.#fail(t, { name: 'EngineDiedError', message: `the controller restarted before task ${t.msgId} reached its engine, and the request was not kept; send it again` });
      } else if (t.flags.after?.length || t.flags.follow?.length) {
        t.state = 'waiting';
        this.#restoredWithDeps.push(t);
      } else {
        this.#enqueue(t);
      }
    }
    this.#schedule();
  }

  /**
   * The engines of the controller before a restart had their chance to come back: tasks that ran on one that did
   * not run again elsewhere while they have retries left (counted as retries: they may have run), else fail with
   * EngineDiedError.
   */
  adoptionOver(): void {
    for (const [id, tasks] of this.#awaiting) {
      for (const t of tasks) {
        if (t.state !== 'running') continue;
        const why = `engine ${id} did not come back after the controller restarted`;
        if (t.balanced && t.retriesLeft > 0) this.#retry(t, id, { name: 'EngineDiedError', message: why });
        else this.#fail(t, { name: 'EngineDiedError', message: `${why}, and task ${t.msgId} has no retries left`, engineId: id });
      }
    }
    this.#awaiting.clear();
    const withDeps = this.#restoredWithDeps;
    this.#restoredWithDeps = [];
    for (const t of withDeps) if (t.state === 'waiting') this.#resolveDependencies(t);
    this.#holdingRestored = false;
    // Only tasks with targets can be left with none registered.
    const pinned = new Set([...this.#pinnedOn.values()].flatMap((tasks) => [...tasks]));
    for (const t of pinned) if (t.state === 'queued') this.#unrunnable(t);
    this.#schedule();
  }

  /**
   * A reply an engine sends again after its controller restarted (it could not know whether the old controller
   * passed it on). Completes the task when it still runs there; else forwards it to the task's client, which drops
   * it when it already has its answer.
   */
  completeResent(engineId: number, parentId: string, reply: Message, frames?: Buffer[]): void {
    const t = this.#tasks.get(parentId);
    log('engine %d sent again its reply to task %s (%s)', engineId, parentId, t ? `${t.state} on ${t.engineId}` : 'unknown');
    if (!t) return;
    if (t.state === 'running' && t.engineId === engineId) {
      this.complete(engineId, parentId, reply, frames);
      return;
    }
    if (FINAL.has(t.state) && t.client.length) this.#toClient(t.client, reply, frames);
  }

  /** Forward a reply's own frames to a client, or (a reply that came in a batch) hand it over to be sent with the batch's others. */
  #toClient(client: Buffer, reply: Message, frames: Buffer[] | undefined): void {
    if (frames) this.io.toClient(client, frames);
    else this.io.toClientBatched(client, reply);
  }

  /**
   * An engine is gone: its load-balanced tasks run again elsewhere while they have retries left; the rest fail with
   * EngineDiedError (with the engine's exit code, when it said it was exiting with one).
   */
  engineRemoved(id: number, reason: string, exitCode?: number): void {
    const slot = this.#engines.get(id);
    if (!slot) return;
    slot.alive = false;
    this.#engines.delete(id);
    this.#parked.delete(id);
    for (const t of [...slot.running]) {
      if (t.state !== 'running' || t.engineId !== id) continue;
      clearTimeout(t.timer);
      if (t.balanced && t.retriesLeft > 0) {
        this.#retry(t, id, { name: 'EngineDiedError', message: `engine ${id} died (${reason})` });
      } else {
        this.#fail(t, { name: 'EngineDiedError', message: `engine ${id} died before answering (${reason})`, engineId: id, ...(exitCode !== undefined && { exitCode }) });
      }
    }
    // Queued tasks that only this engine could take can never run now.
    for (const t of [...(this.#pinnedOn.get(id) ?? [])]) {
      if (t.state !== 'queued') {
        this.#unpin(t);
        continue;
      }
      if (t.followEngine === id) {
        this.#fail(t, { name: 'DependencyError', message: `task ${t.msgId} can never run: engine ${id}, where the tasks it follows ran, is gone (${reason})`, engineId: id });
      } else {
        this.#unrunnable(t);
      }
    }
    this.#schedule();
  }

  /**
   * Fail `t` at once when no registered engine is among its targets: engine ids are never reused, so an engine
   * that is not registered now is gone (or never was), and the task could only wait forever. Returns true if failed.
   */
  #unrunnable(t: Task): boolean {
    const targets = t.flags.targets;
    if (!targets?.length || targets.some((id) => this.#engines.has(id))) return false;
    const known = [...this.#engines.keys()];
    this.#fail(t, {
      name: 'DependencyError',
      message: `task ${t.msgId} can never run: none of its target engines (${targets.join(', ')}) is registered ` +
        `(registered: ${known.join(', ') || 'none'}); target registered engines, or none to let any engine take it`,
    });
    return true;
  }

  /** Record a direct request (sent by the controller to `engineId` itself). */
  recordDirect(client: Buffer, msg: Message, engineId: number): void {
    const t = this.#newTask(client, msg, undefined, {});
    t.state = 'running';
    t.engineId = engineId;
    t.started = Date.now();
    this.io.journal?.sent(t.msgId, engineId);
    const slot = this.#engines.get(engineId)!;
    slot.load++;
    slot.running.add(t);
    this.io.stats?.onTaskStarted({ msgId: t.msgId, type: t.type, engineId, started: t.started });
  }

  /** Record a request a client sent straight to an engine, from the engine's report once it finished. */
  recordFinished(engineId: number, report: DirectTaskReport): void {
    if (this.#tasks.has(report.msgId)) return;
    const t: Task = {
      msgId: report.msgId, type: report.type, balanced: false, state: report.state, engineId,
      submitted: report.started, started: report.started, completed: report.completed, retries: 0,
      error: report.error, resultBytes: report.resultBytes,
      client: Buffer.alloc(0), header: { msg_id: report.msgId, msg_type: report.type, session: '', date: '', version: '' },
      flags: {}, retriesLeft: 0, heldBytes: 0, waitingOn: 0,
    };
    this.#tasks.set(t.msgId, t);
    this.#finishedRecords.push(t);
    if (this.#tasks.size > this.limits.records) this.#trimRecords();
    this.io.stats?.onTaskEnded({ msgId: t.msgId, type: t.type, engineId, started: t.started, outcome: t.state === 'completed' ? 'completed' : 'failed', error: report.error });
  }

  /** Whether a task of this id is in the book (a new task must not take the id of another). */
  has(msgId: string): boolean {
    return this.#tasks.has(msgId);
  }

  /** A client submitted a load-balanced task (`frames`: its message as it came, forwarded unchanged when it can be). */
  submit(client: Buffer, msg: Message, frames?: Buffer[]): void {
    const flags = msg.metadata as TaskFlags;
    const t = this.#newTask(client, msg, frames, flags);
    this.#hold(t);
    if (this.#unrunnable(t)) return;
    this.#resolveDependencies(t);
  }

  /** A client submitted several load-balanced tasks in one message: each is recorded as if it had come alone, then all are scheduled in one pass. */
  submitMany(client: Buffer, msgs: readonly Message[]): void {
    this.#together(() => {
      for (const msg of msgs) this.submit(client, msg);
    });
  }

  /**
   * Engine `engineId` answered several requests in one message: each completes as if it had come alone (see
   * {@link complete}). `ranMs`: how long the engine says it ran them (its pace, see {@link LoadLimit.hwmMs}).
   */
  completeMany(engineId: number, replies: readonly Message[], ranMs?: number, frames?: Buffer[]): void {
    // The batch's frames are kept once, for all of its tasks (see Task.replyFrames).
    const batch = frames && replies.length ? keptFrames(frames) : undefined;
    this.#together(() => {
      const slot = this.#engines.get(engineId);
      // Only a batch all of the kind the pace is of says how quick that kind is.
      let pacing = this.#hwmMs > 0 && ranMs !== undefined && slot?.paceKind !== undefined;
      for (const reply of replies) {
        const parentId = reply.parent.msg_id ?? '';
        if (pacing && this.#tasks.get(parentId)?.kind !== slot!.paceKind) pacing = false;
        if (reply.metadata.resent === true) this.completeResent(engineId, parentId, reply);
        else this.complete(engineId, parentId, reply, undefined, batch);
      }
      if (pacing) this.#paced(slot!, ranMs! / replies.length);
    });
  }

  /**
   * Engine `engineId` gives back tasks it holds and has not started (`tasks_returned`: a call of their function ran
   * far longer than the ones before, see `Engine.#giveBack`). They go back to the front of the queue, in their order,
   * with their retries untouched, to be placed again at the pace its slow reply told. Ids of tasks no longer running
   * there (answered, aborted, or run elsewhere since) are ignored.
   */
  returned(engineId: number, msgIds: readonly string[]): void {
    const slot = this.#engines.get(engineId);
    if (!slot) return;
    const back: Task[] = [];
    for (const id of msgIds) {
      const t = this.#tasks.get(id);
      if (!t || t.state !== 'running' || t.engineId !== engineId || slot.stuck?.has(id)) continue;
      clearTimeout(t.timer);
      t.timer = undefined;
      this.#leaveRunning(t);
      slot.load = Math.max(0, slot.load - 1);
      this.io.stats?.onTaskReturned(t.msgId);
      back.push(t);
    }
    if (back.length === 0) return;
    log('engine %d gave back %d tasks it had not started', engineId, back.length);
    for (let i = back.length - 1; i >= 0; i--) this.#requeue(back[i]!);
    this.#schedule();
  }

  /** Engine `slot` ran tasks of its pace's kind in `perTaskMs` each: its pace, for {@link #limitOf}. */
  #paced(slot: EngineSlot, perTaskMs: number): void {
    if (!Number.isFinite(perTaskMs) || perTaskMs < 0) return;
    slot.taskMs = slot.taskMs === undefined ? perTaskMs : slot.taskMs + PACE_WEIGHT * (perTaskMs - slot.taskMs);
  }

  /** How many load-balanced tasks `slot` may hold now (see {@link LoadLimit}). */
  #limitOf(slot: EngineSlot): number {
    if (this.#hwm === 0) return Infinity;
    if (this.#hwmMs <= 0 || slot.taskMs === undefined) return this.#hwm;
    return Math.max(this.#hwm, Math.min(MAX_BATCH_TASKS, Math.floor(this.#hwmMs / Math.max(slot.taskMs, 1e-4))));
  }

  /** Run `work` with scheduling deferred, then schedule once: the tasks it frees or queues leave in one pass. */
  #together(work: () => void): void {
    this.#deferred++;
    try {
      work();
    } finally {
      this.#deferred--;
    }
    this.#schedule();
  }

  /**
   * An engine answered request `parentId`. Returns true when the reply was for a known task (and was forwarded, or
   * absorbed by a retry). `frames`: the reply as it came, to forward unchanged; absent for one that came in a batch.
   */
  complete(engineId: number, parentId: string, reply: Message, frames?: Buffer[], batch?: KeptFrames): boolean {
    const t = this.#tasks.get(parentId);
    const slot = this.#engines.get(engineId);
    const wasStuck = slot?.stuck?.delete(parentId) ?? false;
    if (!t) {
      if (wasStuck) slot!.load = Math.max(0, slot!.load - 1);
      if (wasStuck) this.#schedule();
      return wasStuck;
    }
    // The engine was busy with it until now, whatever became of the task meanwhile (failed, or run again elsewhere).
    if (slot && (wasStuck || t.engineId === engineId)) slot.load = Math.max(0, slot.load - 1);
    if (t.state !== 'running' || t.engineId !== engineId) {
      // Timed out or aborted already: the client has its answer. The engine is free again.
      this.#schedule();
      return true;
    }
    clearTimeout(t.timer);
    this.#leaveRunning(t);
    // A reply alone says how long its task ran (one in a batch does not: the batch does, see completeMany).
    const ranMs = reply.metadata.ranMs;
    if (typeof ranMs === 'number' && this.#hwmMs > 0 && t.kind !== undefined && t.kind === slot?.paceKind) this.#paced(slot, ranMs);
    const content = reply.content as { status: string; error?: { name: string; message: string; stack?: string; origin?: string } };
    // A ProtocolError is about the message (a request the engine could not read, a result larger than this
    // controller accepts), not the engine: another engine would answer the same, so it is not run again.
    const aboutMessage = content.error?.name === 'ProtocolError' && content.error.origin === 'controller';
    if (content.status === 'error' && t.balanced && t.retriesLeft > 0 && !aboutMessage) {
      log('task %s failed on engine %d; running it again (%d retries left)', t.msgId, engineId, t.retriesLeft - 1);
      this.#retry(t, engineId, content.error);
      this.#schedule();
      return true;
    }
    t.completed = Date.now();
    t.resultBytes = reply.buffers.reduce((n, b) => n + b.length, 0);
    if (content.status === 'ok') t.state = 'completed';
    else if (content.status === 'aborted') t.state = 'aborted';
    else {
      t.state = 'failed';
      t.error = content.error ? { name: content.error.name, message: content.error.message } : { name: 'Error', message: 'failed' };
    }
    this.io.stats?.onTaskEnded({ msgId: t.msgId, type: t.type, engineId, outcome: t.state, error: content.error });
    this.#toClient(t.client, reply, frames);
    for (const w of t.watchers ?? []) this.#toClient(w, reply, frames);
    const kept = frames ? keptFrames(frames) : batch;
    if (kept) this.#keepReply(t, kept);
    this.#finished(t);
    this.#schedule();
    return true;
  }

  /** Abort tasks: queued and waiting ones are dropped at once; ones sent to an engine are dropped there if not started. */
  abort(msgIds: readonly string[]): AbortOutcome {
    const aborted: string[] = [];
    const running = new Map<number, string[]>();
    for (const id of msgIds) {
      const t = this.#tasks.get(id);
      if (!t) continue;
      if (t.state === 'queued' || t.state === 'waiting') {
        this.#fail(t, { name: 'TaskAbortedError', message: `task ${id} was aborted before it ran` }, 'aborted');
        aborted.push(id);
      } else if (t.state === 'running' && t.engineId !== undefined) {
        const list = running.get(t.engineId) ?? [];
        list.push(id);
        running.set(t.engineId, list);
      }
    }
    for (const [engineId, ids] of running) this.io.abortOnEngine(engineId, ids);
    return { aborted, running: [...running.values()].flat() };
  }

  /**
   * Run finished load-balanced tasks again under new ids (`pairs[i].new`, chosen by the client so it can wait for
   * them). Returns the problems, one line each; nothing is resubmitted when there is any.
   */
  resubmit(client: Buffer, pairs: readonly { old: string; new: string }[]): string[] {
    const problems: string[] = [];
    for (const p of pairs) {
      const t = this.#tasks.get(p.old);
      if (!t) problems.push(`task ${p.old} is unknown (purged, or never submitted)`);
      else if (!FINAL.has(t.state)) problems.push(`task ${p.old} is still ${t.state}; only finished tasks can be resubmitted`);
      else if (!t.message) problems.push(`task ${p.old} is no longer held by the controller (its request was dropped to bound memory); submit it again`);
    }
    if (problems.length) return problems;
    for (const p of pairs) {
      const old = this.#tasks.get(p.old)!;
      const frames = this.io.reencode(old.message!, p.new);
      const msg: Message = { ...old.message!, header: { ...old.message!.header, msg_id: p.new } };
      const t = this.#newTask(client, msg, frames, { ...old.flags, balanced: true, after: [], follow: [] });
      this.#hold(t);
      this.#enqueue(t);
    }
    this.#schedule();
    return [];
  }

  /** Records matching a filter, oldest first. */
  records(filter: { state?: TaskState | TaskState[]; engineId?: number; msgIds?: string[] } = {}): TaskRecord[] {
    const states = filter.state === undefined ? undefined : new Set(Array.isArray(filter.state) ? filter.state : [filter.state]);
    const ids = filter.msgIds ? new Set(filter.msgIds) : undefined;
    const out: TaskRecord[] = [];
    for (const t of this.#tasks.values()) {
      if (states && !states.has(t.state)) continue;
      if (filter.engineId !== undefined && t.engineId !== filter.engineId) continue;
      if (ids && !ids.has(t.msgId)) continue;
      out.push({
        msgId: t.msgId, type: t.type, balanced: t.balanced, state: t.state, engineId: t.engineId, submitted: t.submitted,
        started: t.started, completed: t.completed, retries: t.retries, error: t.error, resultBytes: t.resultBytes,
      });
    }
    return out;
  }

  /**
   * What became of these tasks, for a client asking again (its connection dropped and came back, or it fetches a
   * result by id): each finished one's reply or error when still kept, `pending` for one not over (`client`, when not
   * its own, gets the reply too when it comes), `forgotten` for one whose reply is no longer kept, `unknown` for an id
   * never received (or purged).
   */
  results(client: Buffer, msgIds: readonly string[]): TaskOutcome[] {
    const out: TaskOutcome[] = [];
    // A batch's replies, decoded once for all of its tasks asked for.
    const batches = new Map<Buffer[], Map<string, Message>>();
    const replyOf = (t: Task): Message | undefined => {
      const frames = t.replyFrames!;
      let byParent = batches.get(frames);
      if (!byParent) {
        const msg = Session.parse(frames);
        const replies = msg?.header.msg_type === BATCH_REPLY ? unpackReplies(msg) : msg ? [msg] : [];
        batches.set(frames, (byParent = new Map(replies.map((r) => [r.parent.msg_id as string, r]))));
      }
      return byParent.get(t.msgId);
    };
    for (const msgId of msgIds) {
      const t = this.#tasks.get(msgId);
      const reply = t?.replyFrames && FINAL.has(t.state) ? replyOf(t) : undefined;
      if (!t) out.push({ msgId, state: 'unknown' });
      else if (!FINAL.has(t.state)) {
        if (!t.client.equals(client) && !t.watchers?.some((w) => w.equals(client))) (t.watchers ??= []).push(client);
        out.push({ msgId, state: 'pending' });
      } else if (reply) out.push({ msgId, state: 'replied', reply });
      else if (t.failure) out.push({ msgId, state: 'failed', header: t.header, failure: t.failure });
      else out.push({ msgId, state: 'forgotten' });
    }
    return out;
  }

  /** Forget finished tasks (these ids, or all finished ones). Returns how many were forgotten. */
  purge(msgIds?: readonly string[]): number {
    let n = 0;
    if (!msgIds) {
      for (const t of this.#finishedRecords.values()) {
        this.#forget(t);
        n++;
      }
      // Let the queue's array go too, when nothing is left in it.
      if (this.#head >= this.#queue.length) {
        this.#queue = [];
        this.#head = 0;
      }
      return n;
    }
    for (const id of msgIds) {
      const t = this.#tasks.get(id);
      if (t && FINAL.has(t.state)) {
        this.#forget(t);
        n++;
      }
    }
    return n;
  }

  #newTask(client: Buffer, msg: Message, frames: Buffer[] | undefined, flags: TaskFlags): Task {
    const t: Task = {
      msgId: msg.header.msg_id,
      type: msg.header.msg_type,
      balanced: flags.balanced === true,
      state: 'queued',
      submitted: Date.now(),
      retries: 0,
      client,
      header: msg.header,
      flags,
      retriesLeft: Math.max(0, Math.floor(flags.retries ?? 0)),
      frames,
      message: flags.balanced ? msg : undefined,
      heldBytes: 0,
      waitingOn: 0,
      kind: flags.balanced && this.#hwmMs > 0 ? kindOf(msg) : undefined,
      // Every field a task gets later, there from the start: V8 gives an object a new shape for each field added
      // afterwards, and the dispatcher's property reads see fewer shapes when tasks at every stage share one.
      engineId: undefined, started: undefined, completed: undefined, error: undefined, resultBytes: undefined,
      timer: undefined, tried: undefined, followEngine: undefined, replyFrames: undefined, replyKept: undefined,
      failure: undefined, watchers: undefined,
    };
    this.#tasks.set(t.msgId, t);
    if (this.#tasks.size > this.limits.records) this.#trimRecords();
    this.io.journal?.submitted({
      msgId: t.msgId, client: client.toString('base64'), message: t.message ? toJournalMessage(t.message) : undefined,
      state: 'queued', retries: 0, submitted: t.submitted,
    });
    return t;
  }

  /** Check `after` and `follow`: fail at once if impossible, wait if pending, queue if met. */
  #resolveDependencies(t: Task): void {
    const { after, follow: following } = t.flags;
    const deps = after?.length || following?.length ? [...(after ?? []), ...(following ?? [])] : NO_DEPENDENCIES;
    let waiting = 0;
    for (const id of deps) {
      const dep = this.#tasks.get(id);
      if (!dep) return this.#fail(t, { name: 'DependencyError', message: `impossible dependency: task ${id} is unknown to the controller (never submitted, or purged)` });
      if (dep.state === 'failed' || dep.state === 'aborted') {
        return this.#fail(t, { name: 'DependencyError', message: `dependency ${id} ${dep.state === 'failed' ? 'failed' : 'was aborted'}, so this task cannot run` });
      }
      if (dep.state !== 'completed') {
        waiting++;
        let set = this.#dependents.get(id);
        if (!set) this.#dependents.set(id, (set = new Set()));
        set.add(t);
      }
    }
    t.waitingOn = waiting;
    if (waiting > 0) {
      t.state = 'waiting';
      return;
    }
    if (this.#unrunnable(t)) return;
    const follow = t.flags.follow ?? [];
    if (follow.length) {
      const where = new Set(follow.map((id) => this.#tasks.get(id)!.engineId));
      if (where.size > 1) {
        return this.#fail(t, { name: 'DependencyError', message: `impossible dependency: the tasks to follow ran on different engines (${[...where].join(', ')}), and a task runs on one` });
      }
      const [engineId] = where;
      if (engineId === undefined || !this.#engines.has(engineId)) {
        return this.#fail(t, { name: 'DependencyError', message: `impossible dependency: engine ${engineId}, where the tasks to follow ran, is gone` });
      }
      if (t.flags.targets?.length && !t.flags.targets.includes(engineId)) {
        return this.#fail(t, { name: 'DependencyError', message: `impossible dependency: the tasks to follow ran on engine ${engineId}, which is not among this task's targets (${t.flags.targets.join(', ')})` });
      }
      t.followEngine = engineId;
    }
    this.#enqueue(t);
    this.#schedule();
  }

  #enqueue(t: Task): void {
    t.state = 'queued';
    this.#queue.push(t);
    this.#pin(t);
  }

  /**
   * Queue `t` ahead of every other (a retry, or a task an engine never got: they have waited longest), in O(1)
   * amortised: into the slot before the head, making room ahead of it when there is none (a splice at the head
   * moved the whole queue, once per retry).
   */
  #queueFirst(t: Task): void {
    t.state = 'queued';
    this.#pin(t);
    // A pinned task goes ahead of the tasks parked for its engines, which are younger.
    if (this.#park(t, true)) return;
    if (this.#head === 0) [this.#queue, this.#head] = withRoomAhead(this.#queue);
    this.#queue[--this.#head] = t;
  }

  #retry(t: Task, failedOn: number, error?: { name: string; message: string; stack?: string }): void {
    this.#leaveRunning(t);
    this.io.stats?.onTaskEnded({ msgId: t.msgId, type: t.type, engineId: failedOn, outcome: 'retried', error });
    t.retriesLeft--;
    t.retries++;
    (t.tried ??= new Set()).add(failedOn);
    this.#requeue(t);
  }

  /** `t`, sent to an engine, goes back to the front of the queue (a retry, a task given back, one lost in a restart). */
  #requeue(t: Task): void {
    t.engineId = undefined;
    this.io.journal?.requeued(t.msgId, t.retries);
    this.#queueFirst(t);
  }

  /** Whether `slot` may take one more task: not full, and not stuck in one that timed out. */
  #takes(slot: EngineSlot): boolean {
    return slot.load < this.#limitOf(slot) && !slot.stuck?.size;
  }

  /** The engines that may take a task without constraints now. */
  #openSlots(): EngineSlot[] {
    const open: EngineSlot[] = [];
    for (const slot of this.#engines.values()) if (this.#takes(slot)) open.push(slot);
    return open;
  }

  /** The policy's pick among the open engines, for a task without constraints (the same pick as {@link #choose}). */
  #chooseOpen(open: readonly EngineSlot[]): EngineSlot | undefined {
    return open.length ? (this.policy(open, this.random) as EngineSlot) : undefined;
  }

  /** Which engine may take `t` now, or undefined. */
  #choose(t: Task): EngineSlot | undefined {
    const candidates: EngineSlot[] = [];
    let untried: EngineSlot[] | undefined;
    for (const slot of this.#engines.values()) {
      if (!this.#takes(slot)) continue;
      if (t.followEngine !== undefined && slot.id !== t.followEngine) continue;
      if (t.flags.targets?.length && !t.flags.targets.includes(slot.id)) continue;
      // An engine whose batch job ends before the task's time limit could not finish it.
      if (!hasWalltimeFor(slot, t)) continue;
      candidates.push(slot);
    }
    if (candidates.length === 0) return undefined;
    const tried = t.tried;
    if (tried?.size) {
      untried = candidates.filter((c) => !tried.has(c.id));
      // Prefer another engine; fall back to a tried one only when no other engine could ever take it.
      if (untried.length) return this.policy(untried, this.random) as EngineSlot;
      const others = [...this.#engines.values()].some((s) => !tried.has(s.id) && (t.followEngine === undefined || s.id === t.followEngine) && (!t.flags.targets?.length || t.flags.targets.includes(s.id)));
      if (others) return undefined;
    }
    return this.policy(candidates, this.random) as EngineSlot;
  }

  /** Whether every engine that could take `t` is one whose batch job ends before the task's time limit. */
  #outlivesEveryEngine(t: Task): boolean {
    const fitting = [...this.#engines.values()].filter(
      (s) => (t.followEngine === undefined || s.id === t.followEngine) && (!t.flags.targets?.length || t.flags.targets.includes(s.id)),
    );
    return fitting.length > 0 && fitting.every((s) => !hasWalltimeFor(s, t));
  }

  #hasCapacity(): boolean {
    if (this.#engines.size === 0) return false;
    if (this.#hwm === 0) return true;
    for (const s of this.#engines.values()) if (s.load < this.#limitOf(s)) return true;
    return false;
  }

  #schedule(): void {
    if (this.#scheduling || this.#deferred > 0 || this.#holdingRestored) return;
    this.#scheduling = true;
    try {
      if (this.#parked.size) this.#placeParked();
      const blocked: Task[] = [];
      // The engines that may take a task without constraints, made once per pass (not once per task: with 1,000
      // engines that cost ~25 us per task), and kept up to date as this pass fills them.
      let open: EngineSlot[] | undefined;
      while (this.#head < this.#queue.length && this.#hasCapacity()) {
        const t = this.#queue[this.#head++]!;
        if (t.state !== 'queued') continue;
        const plain = isPlain(t);
        const slot = plain ? this.#chooseOpen((open ??= this.#openSlots())) : this.#choose(t);
        if (slot) {
          this.#dispatch(t, slot);
          if (plain) this.#fill(slot);
          // Full now (one more task, or a limit back at hwm for a task of another kind): no longer open.
          if (open && !this.#takes(slot)) {
            const at = open.indexOf(slot);
            if (at >= 0) open.splice(at, 1);
          }
        }
        else if (this.#outlivesEveryEngine(t)) this.#failOutlived(t);
        else if (!this.#park(t)) blocked.push(t);
      }
      // Tasks that could not go back to the front, in their order, into slots this pass emptied (each came from one):
      // rebuilding the queue around them copied it all on every pass while one waited (for an engine it has not
      // tried, or for walltime).
      for (let i = blocked.length - 1; i >= 0; i--) this.#queue[--this.#head] = blocked[i]!;
      if (this.#head > 4096 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
    } finally {
      this.#scheduling = false;
      this.#send();
    }
  }

  /**
   * Give `slot`, just given a task without constraints, the ones behind it in the queue as long as they are of the
   * same kind (function) and it runs them quickly: as many as take it {@link FILL_SHARE} of `hwmMs` at its pace.
   * They leave in one message. Without this, quick tasks trickling in from a client went one per idle engine: on
   * 1,000 engines a map of 10,000 no-ops was 9,600 messages of one task each way (W8). Tasks of unknown pace, or
   * slower, still spread one per engine.
   */
  #fill(slot: EngineSlot): void {
    if (slot.taskMs === undefined) return;
    let more = Math.min(this.#limitOf(slot) - slot.load, Math.floor((this.#hwmMs * FILL_SHARE) / Math.max(slot.taskMs, 1e-4)) - 1);
    while (more > 0 && this.#head < this.#queue.length) {
      const t = this.#queue[this.#head]!;
      if (t.state === 'queued') {
        if (!isPlain(t) || t.kind !== slot.paceKind) return;
        this.#dispatch(t, slot);
        more--;
      }
      this.#head++;
    }
  }

  /** The engine ids pinned task `t` names: the one it follows, else its targets (none for a task that is not pinned). */
  #pinIds(t: Task): readonly number[] {
    return t.followEngine !== undefined ? [t.followEngine] : (t.flags.targets ?? NO_ENGINES);
  }

  /** Note queued task `t` under each engine it names ({@link #pinnedOn}); nothing for a task that is not pinned. */
  #pin(t: Task): void {
    for (const id of this.#pinIds(t)) {
      const tasks = this.#pinnedOn.get(id);
      if (tasks) tasks.add(t);
      else this.#pinnedOn.set(id, new Set([t]));
    }
  }

  /** `t` left the queue: off {@link #pinnedOn}. */
  #unpin(t: Task): void {
    for (const id of this.#pinIds(t)) {
      const tasks = this.#pinnedOn.get(id);
      if (tasks?.delete(t) && tasks.size === 0) this.#pinnedOn.delete(id);
    }
  }

  /** Fail `t`: every engine that could take it ends its batch job before the task's time limit. */
  #failOutlived(t: Task): void {
    const left = Math.max(...[...this.#engines.values()].map((s) => (s.jobEnd ?? 0) - Date.now()));
    this.#fail(t, {
      name: 'TimeoutError',
      message: `task ${t.msgId} needs up to ${t.flags.timeoutMs} ms but every engine's batch job ends sooner (the most walltime left is ${Math.max(0, left)} ms); add engines with a longer walltime or lower the task's timeoutMs`,
      timeoutMs: t.flags.timeoutMs!,
    });
  }

  /**
   * Park pinned task `t` on each registered engine it may run on ({@link #parked}), last (or `first`); false when it
   * is not pinned or has none.
   */
  #park(t: Task, first = false): boolean {
    let parked = false;
    for (const id of this.#pinIds(t)) {
      if (!this.#engines.has(id)) continue;
      this.#parkOn(id, t, first);
      parked = true;
    }
    return parked;
  }

  #parkOn(id: number, t: Task, first = false): void {
    const list = this.#parked.get(id);
    if (!list) {
      this.#parked.set(id, { tasks: [t], head: 0, limit: PARKED_MIN_LIMIT });
      return;
    }
    if (!first) list.tasks.push(t);
    else {
      if (list.head === 0) [list.tasks, list.head] = withRoomAhead(list.tasks);
      list.tasks[--list.head] = t;
    }
    if (list.tasks.length - list.head > list.limit) {
      list.tasks = list.tasks.slice(list.head).filter((p) => p.state === 'queued');
      list.head = 0;
      list.limit = Math.max(PARKED_MIN_LIMIT, 2 * list.tasks.length);
    }
  }

  /**
   * Place parked tasks on their engines that have room, oldest first for each engine. A task that still cannot go
   * (it prefers an engine it has not tried, or needs more walltime) stays parked, in its place.
   */
  #placeParked(): void {
    for (const [id, list] of this.#parked) {
      const slot = this.#engines.get(id)!;
      if (!this.#takes(slot)) continue;
      const kept: Task[] = [];
      let i = list.head;
      for (; i < list.tasks.length && this.#takes(slot); i++) {
        const t = list.tasks[i]!;
        if (t.state !== 'queued') continue;
        const chosen = this.#choose(t);
        if (chosen) this.#dispatch(t, chosen);
        else if (this.#outlivesEveryEngine(t)) this.#failOutlived(t);
        else kept.push(t);
      }
      if (i === list.tasks.length && kept.length === 0) {
        this.#parked.delete(id);
      } else if (kept.length) {
        list.tasks = kept.concat(list.tasks.slice(i));
        list.head = 0;
      } else {
        list.head = i;
        if (i > 1024 && i * 2 > list.tasks.length) {
          list.tasks = list.tasks.slice(i);
          list.head = 0;
        }
      }
    }
  }

  /**
   * Send what the scheduling pass dispatched: to each engine, a task alone as before (forwarded unchanged when it
   * can be), or several as `batch_request` messages within {@link MAX_BATCH_TASKS} and {@link MAX_BATCH_BYTES}.
   */
  #send(): void {
    if (this.#outgoing.size === 0) return;
    for (const [engineId, tasks] of this.#outgoing) {
      this.#outgoing.delete(engineId);
      let start = 0;
      while (start < tasks.length) {
        let end = start;
        let bytes = 0;
        while (end < tasks.length && end - start < MAX_BATCH_TASKS && (end === start || bytes < MAX_BATCH_BYTES)) bytes += tasks[end++]!.heldBytes;
        if (end - start === 1 || !this.io.encodeBatch) {
          for (let i = start; i < end; i++) this.io.toEngine(engineId, this.#framesOf(tasks[i]!));
        } else {
          const messages: Message[] = [];
          for (let i = start; i < end; i++) {
            messages.push(this.#requestOf(tasks[i]!));
            tasks[i]!.frames = undefined;
          }
          this.io.toEngine(engineId, this.io.encodeBatch(messages));
        }
        start = end;
      }
    }
  }

  /** The request to send for `t`: a run after the first tells the engine which retry it is (its reply's metadata carries it to the client). */
  #requestOf(t: Task): Message {
    return t.retries > 0 ? { ...t.message!, metadata: { ...t.message!.metadata, retry: t.retries } } : t.message!;
  }

  /** The frames of `t` sent alone: the client's own on the first dispatch, else signed afresh. */
  #framesOf(t: Task): Buffer[] {
    // An engine drops a signature it has seen (replay protection), so a retry needs a fresh one, and so does a task
    // held past the replay window.
    const forward = t.retries === 0 && t.frames && (!t.message || (this.io.canForward?.(t.header) ?? true));
    const frames = forward ? t.frames! : this.io.reencode(this.#requestOf(t));
    t.frames = undefined;
    return frames;
  }

  #dispatch(t: Task, slot: EngineSlot): void {
    this.#unpin(t);
    t.state = 'running';
    t.engineId = slot.id;
    t.started = Date.now();
    if (this.#hwmMs > 0 && t.kind !== slot.paceKind) {
      // A task of another kind may be slower: until the engine's pace for it is known, it holds `hwm` at most.
      slot.paceKind = t.kind;
      slot.taskMs = undefined;
    }
    slot.load++;
    slot.running.add(t);
    slot.lastUsed = ++this.#clock;
    this.io.stats?.onTaskStarted({ msgId: t.msgId, type: t.type, engineId: slot.id, started: t.started });
    this.io.journal?.sent(t.msgId, slot.id);
    // Sent at the end of the scheduling pass, with the other tasks it placed on this engine.
    const list = this.#outgoing.get(slot.id);
    if (list) list.push(t);
    else this.#outgoing.set(slot.id, [t]);
    if (t.flags.timeoutMs && t.flags.timeoutMs > 0) {
      const limit = t.flags.timeoutMs;
      t.timer = setTimeout(() => {
        if (t.state !== 'running') return;
        const engineId = t.engineId!;
        this.io.abortOnEngine(engineId, [t.msgId]);
        const slot = this.#engines.get(engineId);
        if (slot) {
          const stuck = (slot.stuck ??= new Set());
          stuck.add(t.msgId);
          // Not for ever: a stuck engine is killed by its watchdog within the grace; one still here after it is not
          // stuck (it may have dropped the request) and takes tasks again.
          const expiry = setTimeout(() => {
            if (stuck.delete(t.msgId)) this.#schedule();
          }, (t.flags.graceMs ?? DEFAULT_GRACE_MS) + 2000);
          expiry.unref();
        }
        const error = { name: 'TimeoutError', message: `task ${t.msgId} did not finish within ${limit} ms on engine ${engineId}; the engine was told to drop it`, engineId, timeoutMs: limit };
        // Retries apply to a time limit too: the task runs again on another engine.
        if (t.balanced && t.retriesLeft > 0) {
          this.#retry(t, engineId, error);
          this.#schedule();
        } else {
          this.#fail(t, error);
        }
      }, limit);
      t.timer.unref();
    }
  }

  /** `t` stops running on its engine (whatever it becomes next): off that engine's {@link EngineSlot.running}. */
  #leaveRunning(t: Task): void {
    if (t.state === 'running' && t.engineId !== undefined) this.#engines.get(t.engineId)?.running.delete(t);
  }

  /** End a task with an error the controller makes (not an engine reply). */
  #fail(t: Task, error: ControllerFailure, state: TaskState = 'failed'): void {
    clearTimeout(t.timer);
    this.#leaveRunning(t);
    this.#unpin(t);
    t.timer = undefined;
    t.state = state;
    t.completed = Date.now();
    t.error = { name: error.name, message: error.message };
    // Small, so kept with the record: a client that asks again gets the same answer.
    t.failure = error;
    this.io.stats?.onTaskEnded({ msgId: t.msgId, type: t.type, engineId: t.engineId, outcome: state === 'aborted' ? 'aborted' : 'failed', error });
    this.io.replyError(t.client, t.header, error);
    for (const w of t.watchers ?? []) this.io.replyError(w, t.header, error);
    this.#finished(t);
  }

  /** A task reached a final state: wake its dependents, and drop what memory it need not keep. */
  #finished(t: Task): void {
    this.io.journal?.finished(t.msgId, t.state);
    t.frames = undefined;
    if (t.watchers) t.watchers = undefined;
    if (!t.balanced) t.message = undefined;
    this.#finishedRecords.push(t);
    if (this.#held.has(t)) this.#heldFinished.push(t);
    const dependents = this.#dependents.get(t.msgId);
    if (!dependents) return;
    this.#dependents.delete(t.msgId);
    for (const d of dependents) {
      if (d.state !== 'waiting') continue;
      if (t.state !== 'completed') {
        this.#fail(d, { name: 'DependencyError', message: `dependency ${t.msgId} ${t.state === 'failed' ? 'failed' : 'was aborted'}, so this task cannot run` });
      } else if (--d.waitingOn === 0) {
        this.#resolveDependencies(d);
      }
    }
  }

  #hold(t: Task): void {
    if (!t.message) return;
    t.heldBytes = t.message.buffers.reduce((n, b) => n + b.length, 0) + 512;
    this.#held.add(t);
    this.#heldBytes += t.heldBytes;
    // Only finished tasks give up their request; a pending one still needs it for a retry.
    while (this.#heldBytes > this.limits.heldBytes) {
      const old = this.#heldFinished.oldest();
      if (!old) break;
      this.#release(old);
    }
  }

  #release(t: Task): void {
    if (!this.#held.delete(t)) return;
    // A held task is in #heldFinished from the moment it finished.
    if (FINAL.has(t.state)) this.#heldFinished.left();
    this.#heldBytes -= t.heldBytes;
    t.message = undefined;
  }

  /**
   * Keep a delivered reply: within the bounds (the oldest go first, by bytes and by age), or until purged for a task
   * sent with `keepResult`.
   */
  #keepReply(t: Task, kept: KeptFrames): void {
    t.replyFrames = kept.frames;
    if (t.flags.keepResult === true) return;
    t.replyKept = kept;
    if (kept.holders++ === 0) this.#repliedBytes += kept.bytes;
    this.#replied.push(t);
    const oldest = t.completed! - this.limits.replyMs;
    for (let old = this.#replied.oldest(); old && (this.#repliedBytes > this.limits.replyBytes || old.completed! < oldest); old = this.#replied.oldest()) {
      this.#dropReply(old);
    }
  }

  #dropReply(t: Task): void {
    t.replyFrames = undefined;
    const kept = t.replyKept;
    if (!kept) return;
    t.replyKept = undefined;
    if (--kept.holders === 0) this.#repliedBytes -= kept.bytes;
    this.#replied.left();
  }

  #forget(t: Task): void {
    this.#release(t);
    this.#dropReply(t);
    if (this.#tasks.delete(t.msgId)) this.#finishedRecords.left();
  }

  #trimRecords(): void {
    while (this.#tasks.size > this.limits.records * 0.9) {
      const t = this.#finishedRecords.oldest();
      if (!t) break;
      this.#forget(t);
    }
  }
}

const NO_DEPENDENCIES: readonly string[] = [];
const NO_ENGINES: readonly number[] = [];

/** The tasks parked on one engine (see `TaskDispatcher.#parked`): `tasks` from `head` on, oldest first. */
interface ParkedList {
  tasks: Task[];
  head: number;
  /** How long the list may grow before the entries no longer queued are dropped. */
  limit: number;
}

/**
 * `tasks` copied behind room for half as many more (at least 64), and where they start: so that putting tasks ahead
 * of the others, one at a time, costs O(1) amortised instead of moving them all each time.
 */
function withRoomAhead(tasks: readonly Task[]): [Task[], number] {
  const room = Math.max(64, tasks.length >> 1);
  const copy = new Array<Task>(room + tasks.length);
  for (let i = 0; i < tasks.length; i++) copy[room + i] = tasks[i]!;
  return [copy, room];
}

/** The least {@link ParkedList.limit}. */
const PARKED_MIN_LIMIT = 1024;

/** Whether any engine that is not full may take `t`: no targets, nothing to follow, no engine it failed on, no time limit. */
function isPlain(t: Task): boolean {
  return t.followEngine === undefined && !t.flags.targets?.length && !t.tried?.size && !(t.flags.timeoutMs && t.flags.timeoutMs > 0);
}

/** Whether `slot`'s batch job (if it has a walltime) has at least the task's `timeoutMs` left. */
function hasWalltimeFor(slot: EngineSlot, t: Task): boolean {
  const limit = t.flags.timeoutMs;
  return slot.jobEnd === undefined || !limit || limit <= 0 || slot.jobEnd - Date.now() >= limit;
}
