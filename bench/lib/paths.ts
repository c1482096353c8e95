/**
 * Paths that work both from the TypeScript sources (run with tsx) and from the compiled `dist/` tree.
 * @module
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The file of the module `relative` (written without extension) next to `baseUrl`, with the extension the caller
 * itself has: `.ts` under tsx, `.js` once compiled. Worker threads and child processes load it by path.
 */
export function siblingModule(baseUrl: string, relative: string): string {
  const base = fileURLToPath(baseUrl);
  return path.resolve(path.dirname(base), relative + path.extname(base));
}

/** The repository root: the nearest directory above this module that holds package.json. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

/** The `bench/` source folder (Python scripts live there, not in dist/). */
export function benchSourceDir(): string {
  return path.join(repoRoot(), 'bench');
}

let shimDir: string | undefined;

/**
 * A module file a worker *thread* can load for the worker module `relative` next to `baseUrl`. Compiled, that is the
 * `.js` file itself. From source under tsx it cannot be the `.ts` file, because on Node 20 tsx's loader hooks do not
 * reach worker threads; then this writes a one-line `.mjs` shim (once, in a temporary directory removed at exit) that
 * loads the `.ts` module through tsx's `tsImport` and re-exports `names`.
 */
export function workerThreadEntry(baseUrl: string, relative: string, names: readonly string[]): string {
  const file = siblingModule(baseUrl, relative);
  if (!file.endsWith('.ts')) return file;
  if (shimDir === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'tsparallel-bench-shims-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    shimDir = dir;
  }
  const shim = path.join(shimDir, `${path.basename(file, '.ts')}.mjs`);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  writeFileSync(
    shim,
    `import { tsImport } from ${JSON.stringify(tsxApi)};\n` +
      `const m = await tsImport(${JSON.stringify(pathToFileURL(file).href)}, import.meta.url);\n` +
      names.map((n) => `export const ${n} = m.${n};\n`).join(''),
  );
  return shim;
}
