/**
 * An engine's namespace: where pushed names live, where `execute` code runs and where functions sent as source
 * text are evaluated, so that names persist between calls, as in an IPython engine.
 * @module
 */
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import vm from 'node:vm';

/** What a piece of work printed while it ran, and how it ended. */
export interface Captured<T> {
  /** Its value, when it succeeded. */
  value?: T;
  /** What it threw, when it failed. */
  error?: unknown;
  /** Whether it failed. */
  failed: boolean;
  /** Text written to standard output. */
  stdout: string;
  /** Text written to standard error. */
  stderr: string;
}

/** A persistent namespace on an engine. */
export interface Namespace {
  /** Evaluate a function's source text in this namespace (cached per source). */
  compile(source: string): (...args: unknown[]) => unknown;
  /** Run code as a script in this namespace; resolves to its completion value. */
  execute(code: string): Promise<unknown>;
  /** Bind `name` to `value`. */
  set(name: string, value: unknown): void;
  /**
   * Bind `name` to a getter: reading it calls `get()` (so a value can be made only when code reads it). Assigning
   * to it (from code, or with {@link set}) replaces the getter by the value and calls `replaced()`.
   */
  defineGetter(name: string, get: () => unknown, replaced?: () => void): void;
  /** Read `name`; throws a ReferenceError when it is not defined. */
  get(name: string): unknown;
  /**
   * Run `work`, capturing what it writes to stdout and stderr: at once when it returns a plain value or throws, as a
   * promise (capturing until it settles) when it returns one.
   */
  capture<T>(work: () => T | PromiseLike<T>): Captured<T> | Promise<Captured<T>>;
}

const MAX_COMPILED = 1000;

/**
 * esbuild's `__name` helper, which code compiled with its `keepNames` option calls (tsx compiles that way, as do
 * bundlers built on esbuild): `const sq = (y) => y * y` inside a function becomes `const sq = __name((y) => y * y,
 * "sq")`, and named local functions and classes get such calls too. esbuild defines the helper once per module, so a
 * function sent as source text arrives with the calls but not the helper. Same semantics as esbuild's runtime,
 * `(target, value) => __defProp(target, "name", { value, configurable: true })`: it sets the target's `name` and
 * returns the target.
 */
function keepName<T extends object>(target: T, value: string): T {
  return Object.defineProperty(target, 'name', { value, configurable: true });
}

/**
 * Give a namespace's global object the helpers that compiled code expects from its module ({@link keepName} as
 * `__name`), unless it has a `__name` already. Not enumerable, and code or a push may replace it.
 */
function defineHelpers(global: object): void {
  if (!('__name' in global)) Object.defineProperty(global, '__name', { value: keepName, writable: true, configurable: true, enumerable: false });
}

/** Turn function source into an expression; method shorthand (`f(x) { … }`) is not one on its own. */
function functionExpression(source: string, run: (code: string) => unknown): (...args: unknown[]) => unknown {
  try {
    return run(`(${source}\n)`) as (...args: unknown[]) => unknown;
  } catch (err) {
    if (!(err instanceof SyntaxError) && (err as Error)?.name !== 'SyntaxError') throw err;
    return run(`(() => { const o = { ${source}\n }; return o[Object.keys(o)[0]]; })()`) as (...args: unknown[]) => unknown;
  }
}

/** Define `name` on `target` as a getter that a plain value replaces when assigned. */
function defineGetterOn(target: object, name: string, get: () => unknown, replaced?: () => void): void {
  Object.defineProperty(target, name, {
    get,
    set(value: unknown) {
      Object.defineProperty(target, name, { value, writable: true, configurable: true, enumerable: true });
      replaced?.();
    },
    configurable: true,
    enumerable: false,
  });
}

/** A small bounded cache of compiled functions: the same source is evaluated once. */
class CompiledCache {
  readonly #map = new Map<string, (...args: unknown[]) => unknown>();
  get(source: string, compile: () => (...args: unknown[]) => unknown) {
    let fn = this.#map.get(source);
    if (!fn) {
      fn = compile();
      if (this.#map.size >= MAX_COMPILED) this.#map.delete(this.#map.keys().next().value!);
      this.#map.set(source, fn);
    }
    return fn;
  }
}

const DYNAMIC_IMPORT = { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER } as vm.RunningScriptOptions;

/** Whether code failed only because it uses top-level `await` (checked by name: the error may come from another context). */
function needsAsyncWrapper(err: unknown): boolean {
  return (err as Error)?.name === 'SyntaxError' && /await is only valid|Unexpected reserved word/.test((err as Error).message);
}

/**
 * Run code that uses top-level `await` inside an async function. A single expression keeps its value; otherwise the
 * code runs as a function body, so its declarations are local to it (assign to globalThis to keep a name).
 */
async function runWithAwait(code: string, run: (wrapped: string) => unknown): Promise<unknown> {
  let wrapped: unknown;
  try {
    wrapped = run(`(async () => (\n${code}\n))()`);
  } catch (err) {
    if ((err as Error)?.name !== 'SyntaxError') throw err;
    wrapped = run(`(async () => {\n${code}\n})()`);
  }
  return await wrapped;
}

/**
 * The namespace of an engine process: the process's own global scope. Functions see every Node global (`process`,
 * `Buffer`, `console`, timers, `process.getBuiltinModule`, dynamic `import()`), as an IPython engine sees Python's.
 */
export class GlobalNamespace implements Namespace {
  readonly #cache = new CompiledCache();
  static #warmed = false;

  constructor() {
    defineHelpers(globalThis);
    // vm's main-context loader (for import() inside executed code) warns once that it is experimental; take that
    // warning here, at start, so it never lands in a task's captured stderr.
    if (!GlobalNamespace.#warmed) {
      GlobalNamespace.#warmed = true;
      const emit = process.emitWarning;
      process.emitWarning = () => {};
      void (vm.runInThisContext('import("node:path")', DYNAMIC_IMPORT) as Promise<unknown>)
        .catch(() => {})
        .finally(() => (process.emitWarning = emit));
    }
  }

  compile(source: string) {
    return this.#cache.get(source, () => functionExpression(source, (code) => (0, eval)(code)));
  }
  async execute(code: string): Promise<unknown> {
    try {
      return await vm.runInThisContext(code, { filename: 'execute', ...DYNAMIC_IMPORT });
    } catch (err) {
      if (!needsAsyncWrapper(err)) throw err;
      return await runWithAwait(code, (wrapped) => vm.runInThisContext(wrapped, { filename: 'execute', ...DYNAMIC_IMPORT }));
    }
  }
  set(name: string, value: unknown): void {
    (globalThis as Record<string, unknown>)[name] = value;
  }
  defineGetter(name: string, get: () => unknown, replaced?: () => void): void {
    defineGetterOn(globalThis, name, get, replaced);
  }
  get(name: string): unknown {
    // Through eval so that names declared with let/const by execute() are found too.
    return name in globalThis ? (globalThis as Record<string, unknown>)[name] : (0, eval)(name);
  }
  capture<T>(work: () => T | PromiseLike<T>): Captured<T> | Promise<Captured<T>> {
    const out: string[] = [];
    const err: string[] = [];
    const restoreOut = divert(process.stdout, out);
    const restoreErr = divert(process.stderr, err);
    return settle(work, () => {
      restoreOut();
      restoreErr();
      return { stdout: out.join(''), stderr: err.join('') };
    });
  }
}

/** Whether `value` is a promise or other thenable (reading `then` may throw: callers read it where that is caught). */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<T>).then === 'function';
}

/**
 * Run `work` and say how it ended, calling `end` once (to stop capturing, and take what was captured) when it has:
 * synchronously for a plain value or a throw, once settled for a promise or other thenable.
 */
function settle<T>(work: () => T | PromiseLike<T>, end: () => { stdout: string; stderr: string }): Captured<T> | Promise<Captured<T>> {
  let result: T | PromiseLike<T>;
  try {
    result = work();
    // Reading `then` may throw (a getter): that is the work failing too.
    if (!isThenable(result)) return { value: result, failed: false, ...end() };
  } catch (error) {
    return { error, failed: true, ...end() };
  }
  return Promise.resolve(result).then(
    (value) => ({ value, failed: false, ...end() }),
    (error: unknown) => ({ error, failed: true, ...end() }),
  );
}

function divert(stream: NodeJS.WriteStream, into: string[]): () => void {
  const original = stream.write;
  stream.write = function (chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
    const cb = typeof encoding === 'function' ? encoding : callback;
    if (typeof cb === 'function') process.nextTick(cb as () => void);
    return true;
  } as typeof stream.write;
  return () => {
    stream.write = original;
  };
}

/** The Node globals an isolated namespace gets (what functions expect to find). */
const SHARED_GLOBALS = [
  'process', 'Buffer', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
  'queueMicrotask', 'structuredClone', 'URL', 'URLSearchParams', 'TextEncoder', 'TextDecoder', 'AbortController',
  'AbortSignal', 'performance', 'fetch', 'atob', 'btoa', 'crypto', 'EventTarget', 'Event',
] as const;

/**
 * A namespace in its own V8 context, for engines that run inside another program's process (the in-process
 * launcher): each engine gets its own globals, and its `console` writes into the engine's capture. Node's
 * globals are shared with the host process.
 */
export class IsolatedNamespace implements Namespace {
  readonly #context: vm.Context;
  readonly #cache = new CompiledCache();
  #sink: { out: string[]; err: string[] } | undefined;

  constructor() {
    const sandbox: Record<string, unknown> = {};
    for (const name of SHARED_GLOBALS) sandbox[name] = (globalThis as Record<string, unknown>)[name];
    const stream = (key: 'out' | 'err') =>
      new Writable({
        write: (chunk, _enc, cb) => {
          if (this.#sink) this.#sink[key].push(chunk.toString());
          cb();
        },
      });
    sandbox.console = new Console({ stdout: stream('out'), stderr: stream('err') });
    this.#context = vm.createContext(sandbox);
    vm.runInContext('globalThis.global = globalThis', this.#context);
    defineHelpers(this.#context);
  }

  compile(source: string) {
    return this.#cache.get(source, () => functionExpression(source, (code) => vm.runInContext(code, this.#context, DYNAMIC_IMPORT)));
  }
  async execute(code: string): Promise<unknown> {
    try {
      return await vm.runInContext(code, this.#context, { filename: 'execute', ...DYNAMIC_IMPORT });
    } catch (err) {
      if (!needsAsyncWrapper(err)) throw err;
      return await runWithAwait(code, (wrapped) => vm.runInContext(wrapped, this.#context, { filename: 'execute', ...DYNAMIC_IMPORT }));
    }
  }
  set(name: string, value: unknown): void {
    (this.#context as Record<string, unknown>)[name] = value;
  }
  defineGetter(name: string, get: () => unknown, replaced?: () => void): void {
    defineGetterOn(this.#context, name, get, replaced);
  }
  get(name: string): unknown {
    return name in this.#context ? (this.#context as Record<string, unknown>)[name] : vm.runInContext(name, this.#context);
  }
  capture<T>(work: () => T | PromiseLike<T>): Captured<T> | Promise<Captured<T>> {
    const sink = { out: [] as string[], err: [] as string[] };
    this.#sink = sink;
    return settle(work, () => {
      this.#sink = undefined;
      return { stdout: sink.out.join(''), stderr: sink.err.join('') };
    });
  }
}
