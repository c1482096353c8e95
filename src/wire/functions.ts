/**
 * How functions travel to engines: as source text, evaluated in the engine's namespace, or by module reference
 * (an `import` specifier plus an export name) for code that needs closures or imports.
 * @module
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TsParallelError } from '../core/errors.js';

/** A function as sent on the wire. */
export type FunctionSpec =
  | {
      /** The function's source text. */
      source: string;
    }
  | {
      /** The module's specifier (an absolute `file:` URL or a package name). */
      module: string;
      /** The export's name. */
      export: string;
    };

const MODULE_FUNCTION = Symbol.for('tsparallel.ModuleFunction');

/** A reference to an exported function of a module, made by {@link fromModule}; engines import it. */
export interface ModuleFunction {
  /** Marks the object as a module reference. */
  readonly [MODULE_FUNCTION]: true;
  /** The module's specifier: an absolute `file:` URL, or a package name. */
  readonly module: string;
  /** The export's name (`default` for the default export). */
  readonly export: string;
}

/**
 * Refer to a function by module and export, so engines `import` it instead of evaluating its source: the way to send
 * a function that uses closures or imports. Relative paths resolve against `base` (a directory path or a module
 * URL such as `import.meta.url`; default: the current directory). The engines must be able to reach the file.
 * @example
 * ```ts
 * await view.map(fromModule('./tasks.js', 'score', import.meta.url), inputs);
 * ```
 */
export function fromModule(specifier: string, exportName = 'default', base?: string): ModuleFunction {
  let module = specifier;
  if (specifier.startsWith('.') || path.isAbsolute(specifier)) {
    const baseUrl = base?.startsWith('file:')
      ? base
      : pathToFileURL(path.resolve(base ?? process.cwd()) + path.sep).href;
    module = new URL(specifier, baseUrl).href;
  }
  return { [MODULE_FUNCTION]: true, module, export: exportName };
}

/** Whether a value is a {@link ModuleFunction}. */
export function isModuleFunction(value: unknown): value is ModuleFunction {
  return typeof value === 'object' && value !== null && (value as ModuleFunction)[MODULE_FUNCTION] === true;
}

/**
 * Something that can run on an engine: a function (sent as source) or a module reference.
 * @typeParam F the function's type.
 */
export type Remote<F extends (...args: any[]) => any> = F | ModuleFunction;

/**
 * Turn a function or module reference into its wire form.
 * @throws TsParallelError for native and bound functions, whose source cannot be sent.
 */
export function encodeFunction(fn: ((...args: never[]) => unknown) | ModuleFunction): FunctionSpec {
  if (isModuleFunction(fn)) return { module: fn.module, export: fn.export };
  if (typeof fn !== 'function') {
    throw new TsParallelError(`expected a function or fromModule(...) reference, got ${describe(fn)}`);
  }
  const source = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}$/.test(source)) {
    throw new TsParallelError(
      `cannot send ${fn.name ? `'${fn.name}'` : 'this function'}: it is native or bound, so it has no source text; ` +
        `wrap it, e.g. (x) => ${fn.name || 'f'}(x), or use fromModule()`,
    );
  }
  return { source };
}

function describe(value: unknown): string {
  return value === null ? 'null' : typeof value === 'object' ? `a ${value.constructor?.name ?? 'object'}` : `a ${typeof value}`;
}
