/**
 * `DirectView`: calls addressed to chosen engines (all of them, some, or one), as IPython's `c[:]` and `c[0]`.
 * @module
 */
import { SerializationError, TsParallelError } from '../core/errors.js';
import { encodeFunction, type ModuleFunction } from '../wire/functions.js';
import { serialize } from '../wire/serialize.js';
import { describeValue } from './describe-value.js';
import { AsyncResult, type Part } from './async-result.js';
import { concatenate, partition, type Sequence } from './partition.js';

/** What a view needs from its client: the engine ids and a way to send one request (the `Client` is one). @internal */
export interface ViewHost {
  /** The registered engine ids. */
  readonly ids: readonly number[];
  /** Send one request of `type` to engine `engineId`; the part settles when the reply arrives. */
  submit(engineId: number, type: string, content: Record<string, unknown>, buffers: Buffer[]): Part;
  /** Where requests not answered yet are, in words (see `AsyncResult.get`). */
  whereabouts?(msgIds: readonly string[]): Promise<string>;
}

/** One value per engine for a multi-engine view; the value itself for a single-engine view. */
export type PerEngine<Single extends boolean, R> = Single extends true ? R : R[];

/** A function to run on engines: a function (sent as source text) or a `fromModule()` reference. */
export type RemoteFunction<A extends unknown[], R> = ((...args: A) => R) | ModuleFunction;

/**
 * Calls addressed to chosen engines. Made by `client.view()` (every engine, resolved at each call),
 * `client.view([0, 2])` (those engines) or `client.view(0)` (one engine: results are not wrapped in arrays).
 */
export class DirectView<Single extends boolean = false> {
  /** @internal */
  constructor(
    private readonly host: ViewHost,
    private readonly chosen: readonly number[] | 'all',
    private readonly single: Single,
  ) {}

  /** The engines this view addresses now. */
  get targets(): number[] {
    const ids = this.chosen === 'all' ? [...this.host.ids] : [...this.chosen];
    if (ids.length === 0) {
      throw new TsParallelError('no engines to run on: the cluster has no registered engines yet (wait with client.waitForEngines(n))');
    }
    return ids;
  }

  /**
   * Run `fn(...args)` on each engine of the view.
   * @example `await client.view().apply((a: number, b: number) => a + b, 1, 2)  // [3, 3, …]`
   */
  apply<A extends unknown[], R>(fn: RemoteFunction<A, R>, ...args: A): AsyncResult<PerEngine<Single, Awaited<R>>, Awaited<R>> {
    const spec = encodeFunction(fn as (...a: never[]) => unknown);
    const buffers = serializeArguments(args);
    return this.#each('apply_request', { fn: spec }, () => buffers);
  }

  /**
   * Apply `fn` to every item, in parallel: the items are split into one contiguous piece per engine, and the
   * results come back in the items' order. `for await` yields each result.
   * @example `await client.view().map((x: number) => x ** 10, range(15))`
   */
  map<T, R>(fn: RemoteFunction<[T], R>, items: Iterable<T> | Sequence<T>): AsyncResult<Awaited<R>[], Awaited<R>> {
    if (items === null || typeof items !== 'object' || !(isSequence(items) || Symbol.iterator in items)) {
      throw new TsParallelError(`map(fn, items): items must be an array, typed array or other iterable, got ${describeValue(items)}`);
    }
    const spec = encodeFunction(fn as (...a: never[]) => unknown);
    const seq: Sequence<T> = isSequence(items) ? items : [...(items as Iterable<T>)];
    const targets = this.targets;
    const pieces = partition(seq, Math.min(targets.length, Math.max(1, seq.length)));
    const parts = pieces.map((piece, i) => this.host.submit(targets[i]!, 'map_request', { fn: spec }, serializeNamed(piece, 'the items to map')));
    return this.#result(parts, (values) => (values as unknown[][]).flat() as Awaited<R>[], (v) => v as Awaited<R>[]);
  }

  /** Run code as a script in each engine's namespace; the value is each script's completion value. */
  execute(code: string): AsyncResult<PerEngine<Single, unknown>, unknown> {
    return this.#each('execute_request', { code }, () => []);
  }

  /**
   * Bind names in every engine's namespace. Data only: a function is defined on the engines with {@link DirectView.execute}.
   * @example `await view.push({ a: new Float64Array(1e6) })`
   * @throws SerializationError for a value that cannot be sent (a function: the message says how to define it).
   */
  push(names: Record<string, unknown>): AsyncResult<PerEngine<Single, void>, void> {
    const fn = Object.keys(names).find((name) => typeof names[name] === 'function');
    if (fn !== undefined) {
      throw new SerializationError(
        `push takes data, not functions, and ${fn} is a function: define it on the engines with ` +
          `view.execute(\`var ${fn} = \${${fn}}\`), define it inside the function you send, or send that function by ` +
          `module reference (fromModule('./module.js', 'name', import.meta.url))`,
      );
    }
    const buffers = serializeNamed(names, 'the values to push');
    return this.#each<void>('push_request', {}, () => buffers);
  }

  /** Read a name (or several) from every engine's namespace. */
  pull<V = unknown>(names: string | readonly string[]): AsyncResult<PerEngine<Single, V>, V> {
    return this.#each('pull_request', { names }, () => []);
  }

  /** Split `seq` into one contiguous piece per engine and bind each piece to `name` there. */
  scatter(name: string, seq: Sequence): AsyncResult<void> {
    if (!isSequence(seq)) {
      throw new TsParallelError(`scatter('${name}', seq): seq must be an array or typed array (it is split by index), got ${describeValue(seq)}; for a Set or other iterable, pass [...seq]`);
    }
    const targets = this.targets;
    const pieces = partition(seq, targets.length);
    const parts = targets.map((id, i) => this.host.submit(id, 'push_request', {}, serializeNamed({ [name]: pieces[i] }, `the values to scatter as '${name}'`)));
    return this.#result(parts, () => undefined);
  }

  /** Pull `name` from every engine and join the pieces in engine order (typed arrays into one typed array). */
  gather<V = unknown>(name: string): AsyncResult<V> {
    const parts = this.targets.map((id) => this.host.submit(id, 'pull_request', { names: name }, []));
    return this.#result(parts, (values) => concatenate(values) as V);
  }

  #each<R>(type: string, content: Record<string, unknown>, buffers: () => Buffer[]): AsyncResult<PerEngine<Single, R>, R> {
    const targets = this.targets;
    const parts = targets.map((id) => this.host.submit(id, type, content, buffers()));
    return this.#result(parts, (values) => (this.single ? values[0] : values) as PerEngine<Single, R>);
  }

  /** The AsyncResult of `parts`, which can say where those not answered are (see `AsyncResult.get`). */
  #result<T, Item>(parts: Part[], combine: (values: unknown[]) => T, items?: (value: unknown) => Iterable<Item>): AsyncResult<T, Item> {
    return new AsyncResult<T, Item>(parts, combine, { items, whereabouts: this.host.whereabouts?.bind(this.host) });
  }
}

function isSequence<T>(items: unknown): items is Sequence<T> {
  return Array.isArray(items) || ArrayBuffer.isView(items);
}

/** Serialize call arguments, naming the argument that cannot be sent. @internal */
export function serializeArguments(args: readonly unknown[]): Buffer[] {
  try {
    return serialize(args);
  } catch (cause) {
    const index = args.findIndex((a) => {
      try {
        serialize(a);
        return false;
      } catch {
        return true;
      }
    });
    const what = index >= 0 ? `argument ${index + 1} (${describe(args[index])})` : 'the arguments';
    throw new SerializationError(
      `${what} cannot be sent to engines: ${causeText(cause)}. Send data (numbers, strings, arrays, ` +
        `objects, typed arrays, Map, Set, Date); a function can only be the one to run (define helpers on the ` +
        `engines with view.execute, or use fromModule)`,
      { cause },
    );
  }
}

/** Serialize a value, saying what it was when it cannot be sent. @internal */
export function serializeNamed(value: unknown, what: string): Buffer[] {
  try {
    return serialize(value);
  } catch (cause) {
    throw new SerializationError(`${what} cannot be sent to engines: ${causeText(cause)}`, { cause });
  }
}

/** A serializer's error message without its closing period (V8's ends with one), to go inside a sentence. */
function causeText(cause: unknown): string {
  return String((cause as Error)?.message ?? cause).replace(/\.+$/, '');
}

function describe(value: unknown): string {
  if (typeof value === 'function') return `the function ${value.name || '(anonymous)'}`;
  if (value === null) return 'null';
  return typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `a ${typeof value}`;
}
