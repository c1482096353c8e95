/**
 * The controller's task journal: an append-only file in the profile's `security/` folder (private to the user, since
 * it holds requests) from which a controller restarted with `--restore` learns what its predecessor knew.
 *
 * One JSON record per line: a task submitted (with its request, so it can run again), sent to an engine, put back in
 * the queue, finished; an engine registered or gone. Records are written in batches, once per turn of the event loop
 * (a kill -9 loses at most the records of that turn), with `writeSync` so a batch is in the kernel's page cache
 * before the controller does anything else. The file stays bounded: when the records written since the last
 * compaction outnumber the live state by far, the journal is rewritten as a snapshot of the live state (unfinished
 * tasks, the last {@link JournalLimits.finished} finished ones, the engines) into a temporary file renamed over the
 * old one. A torn last record (a crash in the middle of a write) is ignored and cut off when the file is opened.
 * @module
 */
import debug from 'debug';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, statSync, truncateSync, unlinkSync, writeSync } from 'node:fs';
import type { Message } from '../wire/protocol.js';
import type { TaskState } from '../core/tasks.js';

const log = debug('tsparallel:controller');

/** A request as the journal keeps it: the decoded message, its buffers in base64. */
export interface JournalMessage {
  /** The message's header, parent header, metadata and content, as on the wire. */
  header: Message['header'];
  /** The parent header. */
  parent: Message['parent'];
  /** The metadata (the task's flags). */
  metadata: Message['metadata'];
  /** The content. */
  content: Message['content'];
  /** The buffers, base64. */
  buffers: string[];
}

/** A task as the journal knows it. */
export interface JournalTask {
  /** The task's id (its request's msg_id). */
  msgId: string;
  /** The routing identity of the client that sent it, base64. */
  client: string;
  /** The request, for load-balanced tasks not yet finished (direct requests are not run again). */
  message?: JournalMessage;
  /** The engine of a direct request. */
  target?: number;
  /** Where it is: `queued` (or waiting), `running` on `engineId`, or a final state. */
  state: TaskState;
  /** The engine it was last sent to. */
  engineId?: number;
  /** How many times it was run again. */
  retries: number;
  /** When the controller received it (ms since epoch). */
  submitted: number;
}

/** An engine as the journal knows it. */
export interface JournalEngine {
  /** Its id. */
  id: number;
  /** Its routing identity. */
  uuid: string;
  /** Its process id. */
  pid: number;
  /** Its host. */
  hostname: string;
}

/** What a journal holds: the state a restored controller starts from. */
export interface JournalState {
  /** Tasks by id: every unfinished one, and the most recent finished ones (for replies that arrive late). */
  tasks: Map<string, JournalTask>;
  /** Engines registered and not gone, by id. */
  engines: Map<number, JournalEngine>;
  /** The next engine id to give (ids are never reused). */
  nextEngineId: number;
}

/** One line of the journal. */
type JournalRecord =
  | { op: 'submit'; task: JournalTask }
  | { op: 'sent'; msgId: string; engineId: number }
  | { op: 'requeued'; msgId: string; retries: number }
  | { op: 'finished'; msgId: string; state: TaskState }
  | { op: 'engine'; engine: JournalEngine }
  | { op: 'engine_gone'; id: number }
  | { op: 'snapshot'; nextEngineId: number };

/** How big the journal may grow. */
export interface JournalLimits {
  /** Finished tasks kept (their client, for replies an engine sends again after a restore). Default 1000. */
  finished: number;
  /** Compact once this many records were written since the last compaction and they are 4x the live state. Default 20000. */
  compactAfter: number;
}

const FINAL: ReadonlySet<TaskState> = new Set(['completed', 'failed', 'aborted']);

/** The append-only task journal of one controller. */
export class TaskJournal {
  readonly #state: JournalState;
  readonly #limits: JournalLimits;
  /** Finished tasks in the order they finished: the oldest are dropped first. */
  readonly #finished = new Set<string>();
  #fd: number;
  #batch: string[] = [];
  #flushScheduled = false;
  #sinceCompaction = 0;
  #closed = false;

  private constructor(readonly file: string, state: JournalState, limits: JournalLimits) {
    this.#state = state;
    this.#limits = limits;
    for (const t of state.tasks.values()) if (FINAL.has(t.state)) this.#finished.add(t.msgId);
    this.#fd = openSync(file, 'a', 0o600);
  }

  /**
   * Open the journal at `file`: with `restore`, read what it holds (a torn last record is cut off); without, start
   * an empty one (an old file is replaced).
   */
  static open(file: string, options: { restore?: boolean; limits?: Partial<JournalLimits> } = {}): TaskJournal {
    const limits = { finished: 1000, compactAfter: 20_000, ...options.limits };
    const state: JournalState = { tasks: new Map(), engines: new Map(), nextEngineId: 0 };
    if (options.restore && existsSync(file)) readJournal(file, state, limits.finished);
    else if (existsSync(file)) unlinkSync(file);
    const journal = new TaskJournal(file, state, limits);
    // Start from a snapshot: the file then holds exactly the state read, whatever it held before.
    journal.compact();
    return journal;
  }

  /** The state as the journal knows it now. */
  get state(): JournalState {
    return this.#state;
  }

  /** A task was received. */
  submitted(task: JournalTask): void {
    this.#apply({ op: 'submit', task });
  }

  /** A task was sent to an engine. */
  sent(msgId: string, engineId: number): void {
    this.#apply({ op: 'sent', msgId, engineId });
  }

  /** A task went back to the queue (a retry, or its engine did not come back). */
  requeued(msgId: string, retries: number): void {
    this.#apply({ op: 'requeued', msgId, retries });
  }

  /** A task reached a final state. */
  finished(msgId: string, state: TaskState): void {
    this.#apply({ op: 'finished', msgId, state });
  }

  /** An engine registered. */
  engineAdded(engine: JournalEngine): void {
    this.#apply({ op: 'engine', engine });
  }

  /** An engine is gone. */
  engineRemoved(id: number): void {
    this.#apply({ op: 'engine_gone', id });
  }

  /** Write what is batched now (it is written at the end of each turn of the event loop anyway). */
  flush(): void {
    this.#flushScheduled = false;
    if (this.#batch.length === 0 || this.#closed) return;
    const text = this.#batch.join('');
    this.#batch = [];
    writeSync(this.#fd, text);
    if (this.#sinceCompaction > this.#limits.compactAfter && this.#sinceCompaction > 4 * (this.#state.tasks.size + this.#state.engines.size)) this.compact();
  }

  /** Rewrite the journal as a snapshot of the live state (temporary file, then rename: a crash leaves one or the other). */
  compact(): void {
    if (this.#closed) return;
    const lines = [JSON.stringify({ op: 'snapshot', nextEngineId: this.#state.nextEngineId } satisfies JournalRecord)];
    for (const engine of this.#state.engines.values()) lines.push(JSON.stringify({ op: 'engine', engine } satisfies JournalRecord));
    for (const task of this.#state.tasks.values()) lines.push(JSON.stringify({ op: 'submit', task } satisfies JournalRecord));
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, lines.join('\n') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    closeSync(this.#fd);
    this.#fd = openSync(this.file, 'a', 0o600);
    this.#sinceCompaction = 0;
    log('journal compacted: %d tasks, %d engines', this.#state.tasks.size, this.#state.engines.size);
  }

  /** Write what is left and close the file; with `remove`, delete it (a clean stop leaves nothing to restore). */
  close(options: { remove?: boolean } = {}): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    closeSync(this.#fd);
    if (options.remove) {
      try {
        unlinkSync(this.file);
      } catch {
        // already gone
      }
    }
  }

  #apply(record: JournalRecord): void {
    if (this.#closed) return;
    applyRecord(this.#state, record, this.#finished, this.#limits.finished);
    this.#batch.push(JSON.stringify(record) + '\n');
    this.#sinceCompaction++;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }
}

/** Apply one record to a state. `finished` tracks final tasks in order, so only the last `keep` stay. */
function applyRecord(state: JournalState, r: JournalRecord, finished: Set<string>, keep: number): void {
  switch (r.op) {
    case 'snapshot':
      state.nextEngineId = Math.max(state.nextEngineId, r.nextEngineId);
      return;
    case 'submit':
      state.tasks.set(r.task.msgId, r.task);
      if (FINAL.has(r.task.state)) finished.add(r.task.msgId);
      return;
    case 'sent': {
      const t = state.tasks.get(r.msgId);
      if (t) Object.assign(t, { state: 'running', engineId: r.engineId });
      return;
    }
    case 'requeued': {
      const t = state.tasks.get(r.msgId);
      if (t) Object.assign(t, { state: 'queued', engineId: undefined, retries: r.retries });
      return;
    }
    case 'finished': {
      const t = state.tasks.get(r.msgId);
      if (!t) return;
      t.state = r.state;
      // A finished task needs its request no more; its client is kept for replies an engine sends again.
      t.message = undefined;
      finished.add(r.msgId);
      for (const id of finished) {
        if (finished.size <= keep) break;
        finished.delete(id);
        state.tasks.delete(id);
      }
      return;
    }
    case 'engine':
      state.engines.set(r.engine.id, r.engine);
      state.nextEngineId = Math.max(state.nextEngineId, r.engine.id + 1);
      return;
    case 'engine_gone':
      state.engines.delete(r.id);
      return;
  }
}

/**
 * Read a journal file into `state`. A last line that does not parse (a torn write) is ignored, and with `repair`
 * cut off.
 */
function readJournal(file: string, state: JournalState, keep: number, repair = true): void {
  const text = readFileSync(file, 'utf8');
  const finished = new Set<string>();
  let end = 0;
  let torn = false;
  for (let start = 0; start < text.length; ) {
    const nl = text.indexOf('\n', start);
    const line = nl < 0 ? text.slice(start) : text.slice(start, nl);
    let record: JournalRecord | undefined;
    try {
      record = nl < 0 ? undefined : (JSON.parse(line) as JournalRecord);
    } catch {
      record = undefined;
    }
    if (!record) {
      // Only the last record can be torn; anything unreadable ends what is trusted.
      torn = true;
      break;
    }
    applyRecord(state, record, finished, keep);
    start = end = nl + 1;
  }
  if (torn) {
    log('journal %s: a torn record at byte %d (a crash mid-write) was ignored', file, end);
    if (repair) truncateSync(file, Buffer.byteLength(text.slice(0, end)));
  }
  log('journal %s read: %d tasks, %d engines (%d bytes)', file, state.tasks.size, state.engines.size, statSync(file).size);
}

/** What a journal holds, in numbers: what a restore from it will take over. */
export interface JournalSummary {
  /** Unfinished tasks waiting for an engine (queued, or waiting for their dependencies). */
  queued: number;
  /** Unfinished tasks that were running, by the id of the engine they ran on. */
  running: Map<number, number>;
  /** The engines registered when it ends. */
  engines: JournalEngine[];
}

/** Read a journal without changing it (a torn last record is ignored, not cut off), and count what it holds. */
export function summarizeJournal(file: string): JournalSummary {
  const state: JournalState = { tasks: new Map(), engines: new Map(), nextEngineId: 0 };
  readJournal(file, state, 1000, false);
  const summary: JournalSummary = { queued: 0, running: new Map(), engines: [...state.engines.values()] };
  for (const t of state.tasks.values()) {
    if (FINAL.has(t.state)) continue;
    if (t.state === 'running' && t.engineId !== undefined) summary.running.set(t.engineId, (summary.running.get(t.engineId) ?? 0) + 1);
    else summary.queued++;
  }
  return summary;
}

/**
 * Move a journal that will not be restored out of the way (`…-journal-<time>.discarded.jsonl` beside it, still
 * private to the user), so that nothing it held is lost without a trace. Returns the new path.
 */
export function archiveJournal(file: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const archived = file.replace(/\.jsonl$/, '') + `-${stamp}.discarded.jsonl`;
  renameSync(file, archived);
  return archived;
}

/** Encode a message for the journal. */
export function toJournalMessage(msg: Message): JournalMessage {
  return { header: msg.header, parent: msg.parent, metadata: msg.metadata, content: msg.content, buffers: msg.buffers.map((b) => b.toString('base64')) };
}

/** Decode a message from the journal. */
export function fromJournalMessage(m: JournalMessage): Message {
  return { header: m.header, parent: m.parent, metadata: m.metadata, content: m.content, buffers: m.buffers.map((b) => Buffer.from(b, 'base64')) };
}
