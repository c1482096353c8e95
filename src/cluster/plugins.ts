/**
 * Loading launcher plugins: the packages and files listed under `plugins` in config. Each one's default export is a
 * {@link LauncherPlugin} (made with {@link defineLauncher}) or an array of them; loading registers them by name.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import debug from 'debug';
import { ConfigError } from '../core/errors.js';
import type { LauncherPlugin, LauncherRegistry } from '../core/launcher.js';

const log = debug('tsparallel:plugins');

/** Options of {@link loadLauncherPlugins}. */
export interface LoadLauncherPluginsOptions {
  /** The directory relative file paths and package names are resolved from (usually the config file's). */
  baseDir: string;
  /** Where the plugins are registered. */
  registry: LauncherRegistry;
}

/** Whether a spec names a file or directory rather than a package. */
function isPathSpec(spec: string): boolean {
  return spec.startsWith('.') || spec.startsWith('file:') || path.isAbsolute(spec) || path.win32.isAbsolute(spec);
}

/** Split `@scope/name/sub/path` or `name/sub/path` into the package name and the subpath (`.` or `./sub/path`). */
function splitPackageSpec(spec: string): { name: string; subpath: string } {
  const parts = spec.split('/');
  const count = spec.startsWith('@') ? 2 : 1;
  const name = parts.slice(0, count).join('/');
  const rest = parts.slice(count).join('/');
  return { name, subpath: rest ? `./${rest}` : '.' };
}

async function isDirectory(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** Pick an ESM entry from a package.json `exports` value for `subpath` (conditions: import, node, default). */
function exportTarget(exportsField: unknown, subpath: string): string | undefined {
  const pick = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) {
      for (const v of value) {
        const t = pick(v);
        if (t) return t;
      }
      return undefined;
    }
    if (value && typeof value === 'object') {
      for (const condition of ['import', 'node', 'default']) {
        if (condition in value) {
          const t = pick((value as Record<string, unknown>)[condition]);
          if (t) return t;
        }
      }
    }
    return undefined;
  };
  if (typeof exportsField === 'string' || Array.isArray(exportsField)) return subpath === '.' ? pick(exportsField) : undefined;
  if (!exportsField || typeof exportsField !== 'object') return undefined;
  const map = exportsField as Record<string, unknown>;
  const keys = Object.keys(map);
  // An object of conditions (no key starts with '.') describes the main entry only.
  if (keys.length && !keys.some((k) => k.startsWith('.'))) return subpath === '.' ? pick(map) : undefined;
  return pick(map[subpath]);
}

/**
 * The module file of a package directory: its `exports` (for `subpath`), else `main`, else `index.js`/`index.mjs`.
 * @throws Error with the reason when the directory has no usable entry.
 */
async function packageEntry(dir: string, subpath: string): Promise<string> {
  const pkgFile = path.join(dir, 'package.json');
  let pkg: { exports?: unknown; main?: string } = {};
  if (await isFile(pkgFile)) {
    try {
      pkg = JSON.parse(await readFile(pkgFile, 'utf8')) as typeof pkg;
    } catch (cause) {
      throw new Error(`its package.json (${pkgFile}) is not valid JSON: ${(cause as Error).message}`);
    }
  }
  if (pkg.exports !== undefined) {
    const target = exportTarget(pkg.exports, subpath);
    if (!target) throw new Error(`its package.json "exports" has no import entry for '${subpath}'`);
    return path.resolve(dir, target);
  }
  if (subpath !== '.') return path.resolve(dir, subpath);
  if (pkg.main) return path.resolve(dir, pkg.main);
  for (const index of ['index.js', 'index.mjs']) {
    if (await isFile(path.join(dir, index))) return path.join(dir, index);
  }
  throw new Error(`it has no package.json "exports" or "main" and no index.js`);
}

/** Find `node_modules/<name>` from `baseDir` upwards. */
async function findPackageDir(name: string, baseDir: string): Promise<string | undefined> {
  let dir = path.resolve(baseDir);
  for (;;) {
    const candidate = path.join(dir, 'node_modules', name);
    if (await isDirectory(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** Resolve a spec to the module file to import. */
async function resolveSpec(spec: string, baseDir: string): Promise<string> {
  if (isPathSpec(spec)) {
    const target = spec.startsWith('file:') ? fileURLToPath(spec) : path.resolve(baseDir, spec);
    if (await isDirectory(target)) return packageEntry(target, '.');
    if (await isFile(target)) return target;
    throw new Error(`no such file or directory: ${target}`);
  }
  const { name, subpath } = splitPackageSpec(spec);
  const dir = await findPackageDir(name, baseDir);
  if (!dir) throw new Error(`package '${name}' is not installed in ${baseDir} or a parent's node_modules`);
  return packageEntry(dir, subpath);
}

/** Why `value` is not a launcher plugin, or undefined when it is one. */
function pluginProblem(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return `it is ${value === null ? 'null' : typeof value}, not an object`;
  const p = value as Partial<LauncherPlugin>;
  if (typeof p.name !== 'string' || !p.name.trim()) return "it has no 'name' (a non-empty string)";
  if (typeof p.create !== 'function') return `'${p.name}' has no 'create(context, options)' function`;
  if (p.options !== undefined && typeof (p.options as { safeParse?: unknown }).safeParse !== 'function') {
    return `'${p.name}' has an 'options' that is not a zod schema`;
  }
  if (p.description !== undefined && typeof p.description !== 'string') return `'${p.name}' has a 'description' that is not a string`;
  return undefined;
}

const FIX = "its default export must be a launcher plugin or an array of them: export default defineLauncher({ name, options, create })";

/**
 * Load launcher plugins and register them. Each spec is a package name (`tsparallel-launcher-pbs`, `@org/pkg/sub`),
 * or a file or package directory path, relative to `baseDir` (`./launchers/my.mjs`, `./plugins/pbs`). Its default
 * export is a {@link LauncherPlugin} or an array of them. Resolves with the plugins, in order.
 * @throws ConfigError naming the spec, the resolved path and why, with the fix, when a spec cannot be resolved, its
 * module throws while loading, or its default export is not a plugin.
 * @example
 * ```ts
 * const registry = new LauncherRegistry();
 * await loadLauncherPlugins(['./my-launcher.mjs', 'tsparallel-launcher-pbs'], { baseDir: process.cwd(), registry });
 * registry.names(); // [..., 'my-launcher', 'pbs']
 * ```
 */
export async function loadLauncherPlugins(
  specs: readonly string[],
  options: LoadLauncherPluginsOptions,
): Promise<LauncherPlugin<any>[]> {
  const loaded: LauncherPlugin<any>[] = [];
  for (const spec of specs) {
    if (typeof spec !== 'string' || !spec.trim()) {
      throw new ConfigError(`plugins: ${JSON.stringify(spec)} is not a plugin; give a package name or a file path`);
    }
    let file: string;
    try {
      file = await resolveSpec(spec, options.baseDir);
    } catch (cause) {
      throw new ConfigError(
        `cannot load launcher plugin '${spec}' (from ${options.baseDir}): ${(cause as Error).message}; ` +
          `install the package, or fix the path in 'plugins' (relative paths start with './')`,
        { cause },
      );
    }
    let module: { default?: unknown };
    try {
      module = (await import(pathToFileURL(file).href)) as { default?: unknown };
    } catch (cause) {
      const err = cause as NodeJS.ErrnoException;
      const why = err.code === 'ERR_MODULE_NOT_FOUND' && err.message.includes(file) ? 'the file does not exist' : `it threw while loading: ${err.message}`;
      throw new ConfigError(`cannot load launcher plugin '${spec}' (${file}): ${why}; fix the module so it can be imported`, {
        cause,
      });
    }
    if (module.default === undefined) {
      throw new ConfigError(`launcher plugin '${spec}' (${file}) has no default export; ${FIX}`);
    }
    const plugins = Array.isArray(module.default) ? module.default : [module.default];
    if (plugins.length === 0) throw new ConfigError(`launcher plugin '${spec}' (${file}) exports an empty array; ${FIX}`);
    plugins.forEach((plugin, i) => {
      const problem = pluginProblem(plugin);
      if (problem) {
        const which = Array.isArray(module.default) ? `element ${i} of the default export` : 'the default export';
        throw new ConfigError(`launcher plugin '${spec}' (${file}): ${which} is not a launcher plugin: ${problem}; ${FIX}`);
      }
    });
    for (const plugin of plugins as LauncherPlugin<any>[]) {
      log('plugin %s from %s: launcher %s', spec, file, plugin.name);
      options.registry.register(plugin);
      loaded.push(plugin);
    }
  }
  return loaded;
}
