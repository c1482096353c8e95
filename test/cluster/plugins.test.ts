import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { container } from 'tsyringe';
import { ConfigError } from '../../src/core/errors.js';
import { LauncherRegistry, type LauncherContext } from '../../src/core/launcher.js';
import { loadLauncherPlugins } from '../../src/cluster/plugins.js';
import { isAlive, repoRoot, sleeperCommand, tempDir } from '../support/hpc-sim.js';

const exampleDir = path.join(repoRoot(), 'examples', 'custom-launcher');

function engines(n: number): LauncherContext {
  return { role: 'engines', n, clusterId: '', profileDir: '/tmp', program: sleeperCommand(), args: [], env: {}, container: container.createChildContainer() };
}

describe('loadLauncherPlugins', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir('tsparallel-plugins-');
    // A project that installed the example as a package.
    await mkdir(path.join(tmp.dir, 'project', 'node_modules'), { recursive: true });
    await symlink(exampleDir, path.join(tmp.dir, 'project', 'node_modules', 'tsparallel-launcher-niced'), 'dir');
    const bad = path.join(tmp.dir, 'bad');
    await mkdir(bad);
    const files: Record<string, string> = {
      'no-default.mjs': 'export const niced = { name: "x", create() {} };',
      'not-object.mjs': 'export default 42;',
      'no-name.mjs': 'export default { create() {} };',
      'no-create.mjs': 'export default { name: "half" };',
      'bad-options.mjs': 'export default { name: "o", options: { parse() {} }, create() {} };',
      'empty-array.mjs': 'export default [];',
      'bad-element.mjs': 'export default [{ name: "ok", create() {} }, { name: "" , create() {} }];',
      'throws.mjs': 'throw new Error("cannot find license server");',
      'syntax.mjs': 'export default {',
      'two.mjs': 'export default [{ name: "one", create() { throw new Error("unused"); } }, { name: "two", description: "second", create() { throw new Error("unused"); } }];',
    };
    for (const [name, text] of Object.entries(files)) await writeFile(path.join(bad, name), text);
    await mkdir(path.join(bad, 'pkg-no-entry'));
    await writeFile(path.join(bad, 'pkg-no-entry', 'package.json'), '{ "name": "pkg-no-entry" }');
    await mkdir(path.join(bad, 'pkg-bad-json'));
    await writeFile(path.join(bad, 'pkg-bad-json', 'package.json'), '{ name: ');
  });
  after(() => tmp.remove());

  test('from a file: the example plugin loads, validates its options and starts real processes', async () => {
    const registry = new LauncherRegistry();
    const loaded = await loadLauncherPlugins(['./examples/custom-launcher/index.mjs'], { baseDir: repoRoot(), registry });
    assert.deepEqual(loaded.map((p) => p.name), ['niced']);
    assert.deepEqual(registry.names(), ['niced']);
    assert.throws(() => registry.create('niced', engines(1), { niceness: 30 }), (e: unknown) => e instanceof ConfigError && /launchers\.niced\.niceness/.test(e.message));
    const launcher = registry.create('niced', engines(2), { niceness: 5, graceMs: 500 });
    await launcher.start();
    const pids = [...launcher.pids];
    try {
      assert.equal(pids.length, 2);
      assert.ok(pids.every(isAlive));
    } finally {
      await launcher.stop();
    }
    assert.deepEqual(pids.filter(isAlive), []);
    assert.equal(launcher.state, 'stopped');
  });

  test('from a package directory, by absolute path or relative to baseDir', async () => {
    for (const [spec, baseDir] of [
      [exampleDir, tmp.dir],
      ['./custom-launcher', path.dirname(exampleDir)],
    ] as const) {
      const registry = new LauncherRegistry();
      await loadLauncherPlugins([spec], { baseDir, registry });
      assert.deepEqual(registry.names(), ['niced'], spec);
    }
  });

  test('from a package name, found in node_modules above baseDir', async () => {
    const registry = new LauncherRegistry();
    const deep = path.join(tmp.dir, 'project', 'src', 'deeper');
    await mkdir(deep, { recursive: true });
    await loadLauncherPlugins(['tsparallel-launcher-niced'], { baseDir: deep, registry });
    assert.deepEqual(registry.names(), ['niced']);
  });

  test('an array default export registers every plugin', async () => {
    const registry = new LauncherRegistry();
    const loaded = await loadLauncherPlugins(['./bad/two.mjs'], { baseDir: tmp.dir, registry });
    assert.deepEqual(loaded.map((p) => p.name), ['one', 'two']);
    assert.deepEqual(registry.names(), ['one', 'two']);
  });

  test('each bad plugin is a ConfigError naming the spec, the path and why, with the fix', async () => {
    const bad = path.join(tmp.dir, 'bad');
    const cases: [string, RegExp][] = [
      ['./missing.mjs', /cannot load launcher plugin '\.\/missing\.mjs'.*no such file or directory: .*missing\.mjs.*fix the path in 'plugins'/],
      ['tsparallel-launcher-nope', /package 'tsparallel-launcher-nope' is not installed in .* node_modules; install the package/],
      ['./no-default.mjs', /'\.\/no-default\.mjs' \(.*no-default\.mjs\) has no default export; .*export default defineLauncher/],
      ['./not-object.mjs', /the default export is not a launcher plugin: it is number, not an object/],
      ['./no-name.mjs', /it has no 'name'/],
      ['./no-create.mjs', /'half' has no 'create\(context, options\)' function/],
      ['./bad-options.mjs', /'o' has an 'options' that is not a zod schema/],
      ['./empty-array.mjs', /exports an empty array/],
      ['./bad-element.mjs', /element 1 of the default export is not a launcher plugin: it has no 'name'/],
      ['./throws.mjs', /\(.*throws\.mjs\): it threw while loading: cannot find license server; fix the module/],
      ['./syntax.mjs', /\(.*syntax\.mjs\): it threw while loading: .*fix the module/],
      ['./pkg-no-entry', /no package\.json "exports" or "main" and no index\.js/],
      ['./pkg-bad-json', /package\.json .* is not valid JSON/],
    ];
    for (const [spec, pattern] of cases) {
      await assert.rejects(
        loadLauncherPlugins([spec], { baseDir: bad, registry: new LauncherRegistry() }),
        (e: unknown) => e instanceof ConfigError && pattern.test(e.message),
        spec,
      );
    }
  });
});
