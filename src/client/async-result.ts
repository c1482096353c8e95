/**
 * `AsyncResult`: the handle every client call returns. Awaitable like a Promise, and more: readiness, waiting with a
 * time limit, per-engine metadata and captured output, and `for await` over results as they arrive.
 * @module
 */
import { CompositeError, RemoteError, TimeoutError, TsParallelError } from '../core/errors.js';
import { addListener } from '../util/listeners.js';
import { isErrorProps } from '../wire/validate.js';

/** What is known about one request of a call (one engine's share of it). */
export interface ResultMetadata {
  /** The request's message id. */
  msgId: string;
  /** The engine it went to (-1 until a load-balanced task is placed and answered). */
  engineId: number;
  /** Where it is: `pending`, `ok` or `error`. */
  status: 'pending' | 'ok' | 'error';
  /** When the client sent it. */
  submitted: Date;
  /** When the engine started it. */
  started?: Date;
  /** When the engine finished it. */
  completed?: Date;
  /** When the client received the reply. */
  received?: Date;
  /** What it printed to stdout on the engine. */
  stdout: string;
  /** What it printed to stderr on the engine. */
  stderr: string;
  /** Its error, when it failed. */
  error?: Error;
  /**
   * Set when the answer came from a run after the first (a retry after a failure, a time limit, an engine's death,
   * or a controller restart that lost track of it): which retry it was (1, 2, …). A task with side effects may have
   * had them more than once.
   */
  retries?: number;
}

/** One request's outcome, settled by the client when the reply arrives; an {@link AsyncResult} combines parts. */
export class Part {
  /** The request's value, once settled without error. */
  value: unknown;
  /** Whether the reply (or a failure) arrived. */
  settled = false;
  readonly #listeners: (() => void)[] = [];
  /** @param metadata what is known about the request; updated as it progresses. */
  constructor(readonly metadata: ResultMetadata) {}
  /** Record the reply. */
  settle(value: unknown, error?: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.value = value;
    this.metadata.received = new Date();
    this.metadata.status = error ? 'error' : 'ok';
    if (error) this.metadata.error = error;
    for (const l of this.#listeners.splice(0)) l();
  }
  /** Call `listener` once settled (now, if it already is). */
  whenSettled(listener: () => void): void {
    if (this.settled) listener();
    else this.#listeners.push(listener);
  }
}

/** Progress of a call: parts done out of the total. */
export interface Progress {
  /** Requests answered. */
  done: number;
  /** Requests in all. */
  total: number;
}

/**
 * The result of a call to engines. `await` it for the combined value; a failure on one engine rejects with its
 * {@link RemoteError}, failures on several with a {@link CompositeError} holding each.
 *
 * @example
 * ```ts
 * const ar = view.map((x: number) => x * 2, range(100));
 * for await (const y of ar) console.log(y);   // each result, in order, as soon as it is there
 * console.log(ar.elapsedMs, ar.metadata.map((m) => m.engineId));
 * ```
 */
export class AsyncResult<T, Item = unknown> implements Promise<T>, AsyncIterable<Item> {
  /** Reads `AsyncResult` in `Object.prototype.toString`. */
  readonly [Symbol.toStringTag] = 'AsyncResult';
  /** Per-request metadata, in the order of the call's targets (or chunks). */
  readonly metadata: readonly ResultMetadata[];
  readonly #parts: readonly Part[];
  readonly #combine: (values: unknown[]) => T;
  readonly #items: (value: unknown) => Iterable<Item>;
  readonly #ordered: boolean;
  readonly #progress: ((p: Progress) => void)[] = [];
  /** Parts in the order they were answered: its length is how many are done. */
  readonly #arrival: Part[] = [];
  #arrivalWaiters: (() => void)[] = [];
  readonly #abort?: (msgIds: readonly string[]) => Promise<void>;
  readonly #whereabouts?: (msgIds: readonly string[]) => Promise<string>;
  #promise?: Promise<T>;

  /**
   * @param parts the requests behind the call.
   * @param combine turns the parts' values (in order) into the call's value.
   * @param items what `for await` yields for one part's value (default: the value itself, as an `Item`).
   * @param whereabouts where requests not answered yet are, in words (for the TimeoutError of {@link get}).
   * @internal
   */
  constructor(
    parts: readonly Part[],
    combine: (values: unknown[]) => T,
    options: {
      items?: (value: unknown) => Iterable<Item>;
      ordered?: boolean;
      abort?: (msgIds: readonly string[]) => Promise<void>;
      whereabouts?: (msgIds: readonly string[]) => Promise<string>;
    } = {},
  ) {
    this.#abort = options.abort;
    this.#whereabouts = options.whereabouts;
    this.#parts = parts;
    this.metadata = parts.map((p) => p.metadata);
    this.#combine = combine;
    this.#items = options.items ?? ((v) => [v as Item]);
    this.#ordered = options.ordered ?? true;
    for (const part of parts) {
      part.whenSettled(() => {
        this.#arrival.push(part);
        for (const wake of this.#arrivalWaiters.splice(0)) wake();
        if (this.#progress.length) {
          const p = this.progress;
          for (const h of [...this.#progress]) h(p);
        }
      });
    }
  }

  /** Message ids of the requests. */
  get msgIds(): string[] {
    return this.metadata.map((m) => m.msgId);
  }

  /** Whether every request has been answered. */
  ready(): boolean {
    return this.#arrival.length === this.#parts.length;
  }

  /** Requests answered so far, out of the total. */
  get progress(): Progress {
    return { done: this.#arrival.length, total: this.#parts.length };
  }

  /** Call `handler` each time a request is answered. Returns the function that removes it. */
  onProgress(handler: (progress: Progress) => void): () => void {
    return addListener(this.#progress, handler);
  }

  /** Milliseconds from the first submission to the last reply (or to now, while not ready). */
  get elapsedMs(): number {
    if (this.metadata.length === 0) return 0;
    const start = Math.min(...this.metadata.map((m) => m.submitted.getTime()));
    const end = this.ready() ? Math.max(...this.metadata.map((m) => m.received!.getTime())) : Date.now();
    return end - start;
  }

  /** What each request printed to stdout, in order. */
  get stdout(): string[] {
    return this.metadata.map((m) => m.stdout);
  }

  /** What each request printed to stderr, in order. */
  get stderr(): string[] {
    return this.metadata.map((m) => m.stderr);
  }

  /** Wait until ready or until `timeoutMs` passes; resolves to whether it is ready. Never rejects. */
  async wait(timeoutMs?: number): Promise<boolean> {
    if (this.ready()) return true;
    const all = Promise.all(this.#parts.map((p) => new Promise<void>((r) => p.whenSettled(r))));
    if (timeoutMs === undefined) {
      await all;
      return true;
    }
    let timer: NodeJS.Timeout | undefined;
    // Node fires a timer longer than 2^31 - 1 ms after 1 ms: wait in chunks until the whole time has passed.
    const deadline = Date.now() + timeoutMs;
    const sleep = (resolve: () => void) => {
      const left = deadline - Date.now();
      if (left <= 0) return resolve();
      timer = setTimeout(() => sleep(resolve), Math.min(left, 2 ** 31 - 1));
    };
    await Promise.race([all, new Promise<void>((r) => sleep(r))]);
    clearTimeout(timer);
    return this.ready();
  }

  /**
   * The combined value.
   * @throws TimeoutError when not ready within `timeoutMs` (the requests go on). Its message says where the requests
   * not answered are, as the client can tell (queued at the controller, and whether any engine is registered; waiting
   * for dependencies; running on engine N; sent straight to engine N): asking the controller may take up to a second.
   */
  async get(options: { timeoutMs?: number } = {}): Promise<T> {
    if (options.timeoutMs !== undefined && !(await this.wait(options.timeoutMs))) {
      const { done, total } = this.progress;
      const waiting = this.metadata.filter((m) => m.status === 'pending').map((m) => m.msgId);
      const where = await this.#whereabouts?.(waiting).catch(() => undefined);
      throw new TimeoutError(
        `result not ready after ${options.timeoutMs} ms (${done} of ${total} requests answered)` +
          (where ? `: ${where}` : `; not answered yet: wait longer, or see where they are with client.taskRecords({ msgIds: result.msgIds })`),
        options.timeoutMs,
      );
    }
    return this.#result();
  }

  then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    return this.#result().then(onfulfilled, onrejected);
  }

  /** Like `Promise.catch`. */
  catch<R = never>(onrejected?: ((reason: unknown) => R | PromiseLike<R>) | null): Promise<T | R> {
    return this.#result().catch(onrejected);
  }

  /**
   * Abort the requests not answered yet: load-balanced tasks still queued are dropped (they fail with
   * TaskAbortedError); running ones finish. Direct requests cannot be aborted.
   * @throws TsParallelError for a result of direct requests.
   */
  async abort(): Promise<void> {
    if (!this.#abort) throw new TsParallelError('only load-balanced tasks can be aborted; this result is of direct requests');
    const pending = this.metadata.filter((m) => m.status === 'pending').map((m) => m.msgId);
    if (pending.length) await this.#abort(pending);
  }

  /** Like `Promise.finally`. */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.#result().finally(onfinally);
  }

  /**
   * Results as they arrive: in call order (each as soon as it and those before it are there), or in arrival order
   * for calls made with `ordered: false`. Throws the first error reached. A map yields its elements (typed as the
   * function's result), a call on several engines one value per engine.
   * @example
   * ```ts
   * for await (const n of lview.map((s: string) => s.length, words)) total += n; // n: number
   * ```
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Item> {
    for (let i = 0; i < this.#parts.length; i++) {
      let part: Part;
      if (this.#ordered) {
        part = this.#parts[i]!;
      } else {
        while (this.#arrival.length <= i) await this.#nextArrival();
        part = this.#arrival[i]!;
      }
      await new Promise<void>((r) => part.whenSettled(r));
      if (part.metadata.error) throw part.metadata.error;
      yield* this.#items(part.value);
    }
  }

  /** Resolves at the next answer (at once if every part is answered). Counted, not rescanned: maps have many parts. */
  #nextArrival(): Promise<void> {
    if (this.ready()) return Promise.resolve();
    return new Promise((resolve) => this.#arrivalWaiters.push(resolve));
  }

  #result(): Promise<T> {
    this.#promise ??= (async () => {
      await this.wait();
      const errors = this.metadata.flatMap((m) => (m.error ? [m.error] : []));
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) {
        throw new CompositeError(errors);
      }
      return this.#combine(this.#parts.map((p) => p.value));
    })();
    return this.#promise;
  }
}

/** Rebuild a remote error from its wire form. @internal */
export function remoteError(info: { name: string; message: string; stack?: string; engineId: number; hostname?: string; pid?: number; taskId?: string; props?: unknown }): RemoteError {
  return new RemoteError({
    engineId: info.engineId, remoteName: info.name, message: info.message, remoteStack: info.stack,
    hostname: info.hostname, pid: info.pid, taskId: info.taskId,
    // Checked here too: a reply that travels alone reaches the client unchecked past its envelope.
    ...(isErrorProps(info.props) && { remoteProps: info.props }),
  });
}
