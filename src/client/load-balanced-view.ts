/**
 * `LoadBalancedView`: tasks go to whichever engine the controller's task policy picks, as IPython's
 * `load_balanced_view()`; with retries, time limits, dependencies and abort.
 * @module
 */
import { TsParallelError } from '../core/errors.js';
import { encodeFunction } from '../wire/functions.js';
import type { TaskFlags } from '../core/tasks.js';
import { describeValue } from './describe-value.js';
import { checkEngineIds } from './engine-ids.js';
import { AsyncResult, type Part } from './async-result.js';
import { serializeArguments, serializeNamed, type RemoteFunction } from './direct-view.js';
import type { Sequence } from './partition.js';

/** A task another depends on: its AsyncResult (every request of it), or a task id. */
export type Dependency = AsyncResult<unknown> | string;

/** Flags of load-balanced calls; set them per call with `with()` or for every later call with `set()`. */
export interface TaskOptions {
  /** Run a task again on another engine, up to this many times, when it fails or its engine dies (default 0). */
  retries?: number;
  /** Fail a task with a TimeoutError when it has not finished this long after reaching an engine (default: no limit). */
  timeoutMs?: number;
  /**
   * How long a task past `timeoutMs` may ignore its abort signal (`taskSignal`) before its engine process is killed
   * (and, with `engines.restart`, replaced), in ms (default: the cluster's `engines.graceMs`, 5000).
   */
  graceMs?: number;
  /** Tasks that must have succeeded before these run. */
  after?: readonly Dependency[];
  /** Tasks that must have succeeded, whose engine these must run on. */
  follow?: readonly Dependency[];
  /**
   * Keep results in the controller after delivery until purged (`client.purgeResults`), for `client.getResult` from
   * any client (default false: the controller keeps a reply only a while, its last 64 MiB up to a minute).
   */
  keepResult?: boolean;
}

/** Options of {@link LoadBalancedView.map}. */
export interface MapOptions {
  /** Items per task (default 1). Larger chunks cost fewer messages; smaller ones balance better. */
  chunksize?: number;
  /** Yield results in the items' order (default true), or as they complete (`false`). */
  ordered?: boolean;
}

/** The content of requests that run `fn`, made once per function (see {@link contentOf}). */
const contents = new WeakMap<object, Readonly<Record<string, unknown>>>();

/**
 * The content (`{ fn }`) of a request that runs `fn`: one object for every task of a map and every `apply` of one
 * function, so that a `batch_request` holding them carries the function once (batches share contents by identity,
 * `src/wire/task-batch.ts`); a new object per task made each batch repeat the source text for every task, to be
 * sent, parsed and forwarded by the controller and parsed again by the engine. Frozen, since requests share it.
 * A function's source cannot change; a `fromModule()` reference is a plain object and is encoded each time.
 */
function contentOf(fn: Parameters<typeof encodeFunction>[0]): Record<string, unknown> {
  if (typeof fn !== 'function') return { fn: encodeFunction(fn) };
  let content = contents.get(fn);
  if (!content) contents.set(fn, (content = Object.freeze({ fn: Object.freeze(encodeFunction(fn)) })));
  return content as Record<string, unknown>;
}

/** What a load-balanced view needs from its client (the `Client` is one). @internal */
export interface BalancedHost {
  /** Send one load-balanced request. */
  submitBalanced(type: string, content: Record<string, unknown>, buffers: Buffer[], flags: TaskFlags): Part;
  /** Abort requests by id. */
  abort(msgIds: readonly string[]): Promise<void>;
  /** Where requests not answered yet are, in words (see `AsyncResult.get`). */
  whereabouts?(msgIds: readonly string[]): Promise<string>;
}

/**
 * Tasks for whichever engine is free. Made by `client.loadBalancedView()` (any engine) or
 * `client.loadBalancedView([1, 2])` (only those).
 * @example
 * ```ts
 * const lview = client.loadBalancedView();
 * for await (const v of lview.map(heavy, inputs, { ordered: false })) console.log(v);
 * await lview.with({ retries: 2, timeoutMs: 30_000 }).apply(f, x);
 * ```
 */
export class LoadBalancedView {
  #options: TaskOptions;

  /** @internal */
  constructor(
    private readonly host: BalancedHost,
    private readonly targets: readonly number[] | undefined,
    options: TaskOptions = {},
  ) {
    checkEngineIds(targets, 'loadBalancedView(targets)');
    this.#options = { ...options };
  }

  /** The flags every call of this view uses. */
  get options(): Readonly<TaskOptions> {
    return this.#options;
  }

  /** A view like this one with these flags added, for the calls made through it. */
  with(options: TaskOptions): LoadBalancedView {
    return new LoadBalancedView(this.host, this.targets, { ...this.#options, ...options });
  }

  /** Add these flags for every later call of this view. */
  set(options: TaskOptions): this {
    this.#options = { ...this.#options, ...options };
    return this;
  }

  /** Run `fn(...args)` once, on whichever engine is free. */
  apply<A extends unknown[], R>(fn: RemoteFunction<A, R>, ...args: A): AsyncResult<Awaited<R>, Awaited<R>> {
    const part = this.host.submitBalanced('apply_request', contentOf(fn as (...a: never[]) => unknown), serializeArguments(args), this.#flags());
    return new AsyncResult([part], (values) => values[0] as Awaited<R>, { abort: (ids) => this.host.abort(ids), whereabouts: this.host.whereabouts?.bind(this.host) });
  }

  /**
   * Apply `fn` to every item, as tasks of `chunksize` items spread over free engines. Results stream as they
   * complete (`for await`); awaiting gives them all, in the items' order.
   */
  map<T, R>(fn: RemoteFunction<[T], R>, items: Iterable<T> | Sequence<T>, options: MapOptions = {}): AsyncResult<Awaited<R>[], Awaited<R>> {
    checkMapOptions(options);
    const chunksize = options.chunksize ?? 1;
    if (!Number.isInteger(chunksize) || chunksize < 1) {
      throw new TsParallelError(`chunksize must be a whole number >= 1, got ${chunksize}`);
    }
    if (items === null || typeof items !== 'object' || !(Symbol.iterator in items || ArrayBuffer.isView(items))) {
      throw new TsParallelError(`map(fn, items): items must be an array, typed array or other iterable, got ${describeValue(items)}`);
    }
    const content = contentOf(fn as (...a: never[]) => unknown);
    const seq: Sequence<T> = Array.isArray(items) || ArrayBuffer.isView(items) ? (items as Sequence<T>) : [...(items as Iterable<T>)];
    const flags = this.#flags();
    const parts: Part[] = [];
    for (let i = 0; i < seq.length; i += chunksize) {
      const chunk = ArrayBuffer.isView(seq)
        ? (seq as unknown as Uint8Array).subarray(i, i + chunksize)
        : Array.prototype.slice.call(seq, i, i + chunksize);
      parts.push(this.host.submitBalanced('map_request', content, serializeNamed(chunk, 'the items to map'), flags));
    }
    return new AsyncResult(parts, (values) => (values as unknown[][]).flat() as Awaited<R>[], {
      items: (v) => v as Awaited<R>[],
      ordered: options.ordered ?? true,
      abort: (ids) => this.host.abort(ids),
      whereabouts: this.host.whereabouts?.bind(this.host),
    });
  }

  #flags(): TaskFlags {
    const o = this.#options;
    const ids = (deps: readonly Dependency[] | undefined) => deps?.flatMap((d) => (typeof d === 'string' ? [d] : d.msgIds));
    if (o.retries !== undefined && (!Number.isInteger(o.retries) || o.retries < 0)) {
      throw new TsParallelError(`retries must be a whole number >= 0, got ${o.retries}`);
    }
    if (o.timeoutMs !== undefined && !(o.timeoutMs > 0)) throw new TsParallelError(`timeoutMs must be a positive number of milliseconds, got ${o.timeoutMs}`);
    if (o.graceMs !== undefined && !(o.graceMs >= 0 && o.graceMs <= MAX_TIMEOUT_MS)) throw new TsParallelError(`graceMs must be a number of milliseconds from 0 to ${MAX_TIMEOUT_MS}, got ${o.graceMs}`);
    if (o.timeoutMs !== undefined && o.timeoutMs > MAX_TIMEOUT_MS) {
      throw new TsParallelError(`timeoutMs must be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days, the longest timer Node.js keeps), got ${o.timeoutMs}; leave it out for no limit`);
    }
    return {
      balanced: true,
      targets: this.targets ? [...this.targets] : undefined,
      retries: o.retries,
      timeoutMs: o.timeoutMs,
      graceMs: o.graceMs,
      after: ids(o.after),
      follow: ids(o.follow),
      keepResult: o.keepResult,
    };
  }
}

/** The keys of {@link MapOptions}. */
const MAP_OPTIONS: readonly string[] = ['chunksize', 'ordered'] satisfies (keyof MapOptions)[];

/** The keys of {@link TaskOptions}: flags set with `with()` or `set()`, which a map's options do not take. */
const TASK_FLAGS: readonly string[] = ['retries', 'timeoutMs', 'graceMs', 'after', 'follow', 'keepResult'] satisfies (keyof TaskOptions)[];

/**
 * Refuse a key of a map's options that is not one (from JavaScript, or through a cast): it would be dropped without a
 * word, e.g. a `keepResult` whose results are then not kept.
 */
function checkMapOptions(options: MapOptions): void {
  for (const key of Object.keys(options)) {
    if (MAP_OPTIONS.includes(key)) continue;
    const value = (options as Record<string, unknown>)[key];
    const shown = typeof value === 'number' || typeof value === 'boolean' ? String(value) : '…';
    const where = TASK_FLAGS.includes(key) ? `; ${key} is a task flag: set it with lb.with({ ${key}: ${shown} }).map(fn, items)` : '';
    throw new TsParallelError(`map(fn, items, options): '${key}' is not an option of map (its options: ${MAP_OPTIONS.join(', ')})${where}`);
  }
}

/** The longest delay a Node.js timer honours (2^31 - 1 ms); a longer one fires after 1 ms. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

