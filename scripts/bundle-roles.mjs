/**
 * After `tsc`: bundle the compiled `tscontroller` and `tsengine` programs, each into one ES module written over the
 * program itself (`dist/src/cli/<name>.js`, with its source map), so that every way of starting them (the launchers,
 * the package's `bin` entries, a batch script or an ssh command naming `tsengine.js`) starts the bundle.
 *
 * Why: a cluster starts one engine process per engine, and each spent as long resolving and loading its ~30 modules
 * (and the controller its ~140, prom-client's included) as Node took to boot. Measured on the 2-core machine,
 * 20 starts each of `--help`: tsengine 165 -> 136 ms of CPU per start, tscontroller 234 -> 144 ms; 16 engines
 * starting together share two cores, so that is ~0.3 s off their start. The library's modules stay as tsc wrote
 * them (programs that embed the roles import those); from source (tsx) nothing is bundled.
 *
 * zeromq stays outside (a native addon, found at run time from node_modules); the bundles keep their programs'
 * paths, so what they compute from `import.meta.url` (package.json, the zeromq package) resolves as
 * before. CommonJS dependencies inside get a `require` made with createRequire. Source maps chain to the .ts.
 */
import { build } from 'esbuild';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'src', 'cli');

await Promise.all(
  ['tscontroller', 'tsengine'].map(async (name) => {
    const program = path.join(cli, `${name}.js`);
    const bundle = path.join(cli, `.${name}.bundle.js`);
    await build({
      entryPoints: [program],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: ['zeromq'],
      sourcemap: true,
      logLevel: 'warning',
      banner: { js: "import { createRequire as __tspCreateRequire } from 'node:module'; const require = __tspCreateRequire(import.meta.url);" },
    });
    // The bundle takes the program's name, and its source map the program's map's (the comment names the file).
    const code = await readFile(bundle, 'utf8');
    await writeFile(program, code.replace(`//# sourceMappingURL=.${name}.bundle.js.map`, `//# sourceMappingURL=${name}.js.map`), { mode: 0o755 });
    await rename(`${bundle}.map`, `${program}.map`);
    await rm(bundle);
  }),
);
