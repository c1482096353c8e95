/**
 * Finding and reading the config file of one directory with cosmiconfig: `tsparallel.config.{mjs,js,cjs,ts,json,yaml}`,
 * `.tsparallelrc*`, `.config/tsparallelrc*`, or the `tsparallel` key of package.json.
 *
 * Only the given directory is searched, never its parents, home or a global folder, so a stray file elsewhere is
 * never picked up. cosmiconfig's own `search()` is not used because it first consults a "meta config" in
 * `process.cwd()` (package.json's `cosmiconfig` key, `.config/config.*`), which can lie outside the directory;
 * instead each search place is checked here and cosmiconfig's `load()` parses the file with its loaders.
 * @module
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { cosmiconfig, getDefaultSearchPlaces, type Loader } from 'cosmiconfig';
import debug from 'debug';
import { ConfigError, TimeoutError } from '../core/errors.js';

const log = debug('tsparallel:config');
const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

/** The name cosmiconfig searches under. */
export const CONFIG_MODULE_NAME = 'tsparallel';

/** The file `createProfile()` writes and the one the docs recommend. */
export const CONFIG_FILE_NAME = 'tsparallel.config.mjs';

/**
 * The file names looked for in a directory, in cosmiconfig's order, plus `tsparallel.config.{json,yaml,yml}`
 * (cosmiconfig's defaults have no JSON/YAML `*.config.*` names).
 */
export const CONFIG_SEARCH_PLACES: readonly string[] = [
  ...getDefaultSearchPlaces(CONFIG_MODULE_NAME),
  `${CONFIG_MODULE_NAME}.config.json`,
  `${CONFIG_MODULE_NAME}.config.yaml`,
  `${CONFIG_MODULE_NAME}.config.yml`,
];

/** What a config file's function export receives. */
export interface ConfigFunctionContext {
  /** The profile's name. */
  profile: string;
  /** The profile directory (may not exist yet). */
  profileDir: string;
  /** The project directory searched, or `null` when none is. */
  projectDir: string | null;
  /** The environment the configuration is loaded with. */
  env: NodeJS.ProcessEnv;
}

/** Options of {@link readConfigDir} and {@link readConfigFile}. */
export interface ReadConfigOptions {
  /** How long loading one file (importing it, calling its function export) may take (default 30000 ms). */
  timeoutMs?: number;
}

const DEFAULT_READ_TIMEOUT_MS = 30_000;

/** A config file found in a directory, with its raw (not yet validated) content. */
export interface FoundConfigFile {
  /** The file's absolute path. */
  file: string;
  /** Its content: the parsed JSON/YAML, the `tsparallel` key of package.json, or the JS/TS default export, after
   * calling it when it is a function. `{}` for an empty file. */
  content: unknown;
}

/**
 * Load a JS module fresh when it changed: ES modules by a URL that carries the file's mtime and size, CommonJS
 * modules also by dropping them from `require.cache`. Without this a long-running program that loads its config
 * twice would see the first version forever (Node caches modules by URL).
 */
const loadJsFresh: Loader = async (filepath) => {
  const real = await realpath(filepath);
  const { mtimeMs, size } = await stat(real);
  delete require.cache[real];
  const url = pathToFileURL(real);
  url.search = `?mtime=${mtimeMs}&size=${size}`;
  const imported = (await import(url.href)) as { default?: unknown };
  if (imported.default === undefined) {
    throw new Error('it has no default export (write `export default { … }` or `module.exports = { … }`)');
  }
  return imported.default;
};

const explorer = cosmiconfig(CONFIG_MODULE_NAME, {
  searchStrategy: 'none',
  cache: false,
  searchPlaces: [...CONFIG_SEARCH_PLACES],
  loaders: { '.js': loadJsFresh, '.mjs': loadJsFresh, '.cjs': loadJsFresh },
});

/** The config files present in `dir` (package.json only when it has a `tsparallel` key), in search order. */
export async function listConfigFiles(dir: string): Promise<string[]> {
  const present: string[] = [];
  for (const place of CONFIG_SEARCH_PLACES) {
    const file = path.join(dir, place);
    if (!(await isFile(file))) continue;
    if (place === 'package.json' && !(await packageJsonHasKey(file))) continue;
    present.push(file);
  }
  return present;
}

/**
 * Find and read the config file of `dir`.
 * @returns `null` when the directory has none (or does not exist).
 * @throws ConfigError when there are several (which one is meant is unclear), or when the file cannot be parsed
 *   or imported, or its function export throws; the message names the file and the parser's message.
 */
export async function readConfigDir(
  dir: string,
  context: ConfigFunctionContext,
  options: ReadConfigOptions = {},
): Promise<FoundConfigFile | null> {
  const files = await listConfigFiles(dir);
  if (files.length === 0) {
    log('no config file in %s', dir);
    return null;
  }
  if (files.length > 1) {
    throw new ConfigError(
      `several config files in ${dir}: ${files.map((f) => path.basename(f)).join(', ')}; ` +
        `keep one (tsparallel reads only one per directory)`,
    );
  }
  return { file: files[0]!, content: await readConfigFile(files[0]!, context, options) };
}

/**
 * Read one config file with cosmiconfig's loaders; a function export is called (and awaited) with `context`.
 * @throws ConfigError naming the file and the parser's (or the function's) message, with the original as `cause`;
 *   TimeoutError when it takes longer than `timeoutMs`.
 */
export async function readConfigFile(
  file: string,
  context: ConfigFunctionContext,
  options: ReadConfigOptions = {},
): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  // A JS config may await anything (top-level await, an async function export); do not let it hang a start.
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new TimeoutError(
            `config file ${file} did not finish loading within ${timeoutMs} ms (does it await something that never ` +
              'settles?); fix the file or raise timeoutMs',
            timeoutMs,
          ),
        ),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([loadContent(file, context), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function loadContent(file: string, context: ConfigFunctionContext): Promise<unknown> {
  let content: unknown;
  try {
    const result = await explorer.load(file);
    content = result === null || result.isEmpty ? {} : result.config;
  } catch (cause) {
    const where = cause instanceof SyntaxError && /\.[cm]?js$/.test(file) ? await syntaxErrorLocation(file) : '';
    throw new ConfigError(`cannot read config file ${file}: ${parserMessage(cause, file)}${where}`, { cause });
  }
  if (typeof content === 'function') {
    try {
      content = await (content as (ctx: ConfigFunctionContext) => unknown)(context);
    } catch (cause) {
      throw new ConfigError(`the function exported by config file ${file} threw: ${parserMessage(cause, file)}`, {
        cause,
      });
    }
  }
  log('read %s', file);
  return content;
}

/** The parser's message without cosmiconfig's "JSON Error in <file>:" prefix (the file is named once already). */
function parserMessage(cause: unknown, file: string): string {
  const error = cause as NodeJS.ErrnoException;
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && /'typescript'/.test(String(error.message)) && file.endsWith('.ts')) {
    return (
      "loading a .ts config file needs the 'typescript' package (npm install --save-dev typescript), " +
      'or rename the file to tsparallel.config.mjs'
    );
  }
  const message = error instanceof Error ? error.message : String(cause);
  for (const kind of ['JSON', 'YAML', 'TypeScript']) {
    const prefix = `${kind} Error in ${file}:`;
    if (message.startsWith(prefix)) return `${kind} error: ${message.slice(prefix.length).trim()}`;
  }
  return message.trim();
}

/**
 * Where a JS syntax error is. Node 20 reports a syntax error of an imported ES module without line or column, so
 * `node --check` is asked (only on this error path); its first lines are `file:line`, the line and a caret.
 */
async function syntaxErrorLocation(file: string): Promise<string> {
  const command = [process.execPath, '--check', file];
  try {
    await execFileAsync(command[0]!, command.slice(1), { timeout: 10_000, encoding: 'utf8' });
    return '';
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '');
    const frame = stderr.split('\n\n')[0]?.trim();
    log('%s: %o', command.join(' '), { exitCode: (error as { code?: unknown }).code });
    return frame && frame.includes(file) ? `\n${frame}` : '';
  }
}

async function isFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

async function packageJsonHasKey(file: string): Promise<boolean> {
  try {
    const result = await explorer.load(file);
    return result !== null && !result.isEmpty;
  } catch (cause) {
    throw new ConfigError(`cannot read ${file} (looking for its '${CONFIG_MODULE_NAME}' key): ${parserMessage(cause, file)}`, {
      cause,
    });
  }
}
