/**
 * Config files: the forms cosmiconfig finds, and unreadable files naming the file and the parser message.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { TimeoutError } from '../../src/core/errors.js';
import { makeConfigWorkspace, load, rejectsWith } from '../support/config-fixtures.js';

describe('loadConfig: file forms', () => {
  const yaml = 'n: 2\ncontroller:\n  hwm: 7\nlaunchers:\n  windows-hpc:\n    scheduler: HEADNODE\n';
  const object = "{ n: 2, controller: { hwm: 7 }, launchers: { 'windows-hpc': { scheduler: 'HEADNODE' } } }";
  const json = JSON.stringify({ n: 2, controller: { hwm: 7 }, launchers: { 'windows-hpc': { scheduler: 'HEADNODE' } } });
  const forms: [string, Record<string, string>, string][] = [
    ['tsparallel.config.mjs', { 'tsparallel.config.mjs': `export default ${object};` }, 'tsparallel.config.mjs'],
    ['tsparallel.config.js (CommonJS)', { 'tsparallel.config.js': `module.exports = ${object};` }, 'tsparallel.config.js'],
    [
      'tsparallel.config.js (ES module package)',
      { 'package.json': '{"type": "module"}', 'tsparallel.config.js': `export default ${object};` },
      'tsparallel.config.js',
    ],
    ['tsparallel.config.cjs', { 'tsparallel.config.cjs': `module.exports = ${object};` }, 'tsparallel.config.cjs'],
    [
      'tsparallel.config.ts',
      { 'tsparallel.config.ts': `const config: { n: number } & Record<string, unknown> = ${object};\nexport default config;` },
      'tsparallel.config.ts',
    ],
    ['tsparallel.config.json', { 'tsparallel.config.json': json }, 'tsparallel.config.json'],
    ['tsparallel.config.yaml', { 'tsparallel.config.yaml': yaml }, 'tsparallel.config.yaml'],
    ['.tsparallelrc (YAML)', { '.tsparallelrc': yaml }, '.tsparallelrc'],
    ['.tsparallelrc (JSON)', { '.tsparallelrc': json }, '.tsparallelrc'],
    ['.tsparallelrc.json', { '.tsparallelrc.json': json }, '.tsparallelrc.json'],
    ['.tsparallelrc.yml', { '.tsparallelrc.yml': yaml }, '.tsparallelrc.yml'],
    ['.tsparallelrc.mjs', { '.tsparallelrc.mjs': `export default ${object};` }, '.tsparallelrc.mjs'],
    ['.config/tsparallelrc.json', { '.config/tsparallelrc.json': json }, '.config/tsparallelrc.json'],
    [
      'package.json "tsparallel" key',
      { 'package.json': JSON.stringify({ name: 'app', tsparallel: JSON.parse(json) }) },
      'package.json',
    ],
  ];
  for (const [title, files, configName] of forms) {
    test(title, async (t) => {
      const ws = await makeConfigWorkspace(t);
      await ws.write(ws.project, files);
      const loaded = await load(ws);
      const file = path.join(ws.project, configName);
      assert.equal(loaded.files.project, file);
      assert.equal(loaded.config.n, 2);
      assert.equal(loaded.config.controller.hwm, 7);
      assert.deepEqual(loaded.config.launchers, { 'windows-hpc': { scheduler: 'HEADNODE' } });
      assert.equal(loaded.sources['controller.hwm']!.label, file);
      assert.equal(loaded.sources['launchers.windows-hpc.scheduler']!.label, file);
      assert.equal(loaded.sources['controller.ip']!.label, 'default');
    });
  }

  test('an empty config file counts as an empty configuration', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const [file] = await ws.write(ws.project, { '.tsparallelrc.yaml': '' });
    const loaded = await load(ws);
    assert.equal(loaded.files.project, file);
    assert.deepEqual(loaded.config, defaultConfig());
  });

  test('a default export that is a function (sync or async) is called with the context', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const profileDir = path.join(ws.root, 'profile_fn');
    await ws.write(profileDir, {
      'tsparallel.config.mjs': `export default (ctx) => ({ clusterId: ctx.profile + '-' + (ctx.env.TSPARALLEL_DIR ? 'dir' : 'nodir') });`,
    });
    await ws.write(ws.project, {
      'tsparallel.config.cjs': `module.exports = async (ctx) => { await new Promise((r) => setImmediate(r)); return { n: ctx.projectDir.length > 0 ? 6 : 1 }; };`,
    });
    const loaded = await load(ws, { profile: 'fn' });
    assert.equal(loaded.config.clusterId, 'fn-dir');
    assert.equal(loaded.config.n, 6);
  });
});
describe('loadConfig: unreadable files name the file and the parser message', () => {
  const cases: [string, string, string, RegExp][] = [
    ['broken JSON', 'tsparallel.config.json', '{"n": 2,,}', /JSON error: .*(Unexpected|JSON)/is],
    ['broken YAML', '.tsparallelrc.yaml', 'n: [1, 2\ncontroller: {', /YAML error: /],
    ['broken package.json', 'package.json', '{"tsparallel": ', /JSON error: /],
    ['JS syntax error, with its line', 'tsparallel.config.mjs', 'export default {\n  n: 2,\n  x: ]\n};\n', /Unexpected token '\]'\n.*tsparallel\.config\.mjs:3\n  x: \]/],
    ['CommonJS syntax error, with its line', 'tsparallel.config.cjs', 'module.exports = {\n  n: 2 +\n};\n', /Unexpected token '\}'\n.*tsparallel\.config\.cjs:3/],
    ['JS that throws on import', 'tsparallel.config.mjs', 'throw new Error("no config for you");', /no config for you/],
    ['JS without a default export', 'tsparallel.config.mjs', 'export const n = 2;', /no default export/],
    ['a function export that throws', 'tsparallel.config.mjs', 'export default async () => { throw new Error("boom in fn"); };', /threw: boom in fn/],
  ];
  for (const [title, name, content, pattern] of cases) {
    test(title, async (t) => {
      const ws = await makeConfigWorkspace(t);
      const [file] = await ws.write(ws.project, { [name]: content });
      const err = await rejectsWith(load(ws), [file!]);
      assert.match(err.message, pattern);
      assert.ok(err.cause !== undefined, 'the parser error is kept as the cause');
    });
  }
});

test('a JS config that never finishes loading is a TimeoutError naming the file, not a hang', async (t) => {
  const ws = await makeConfigWorkspace(t);
  const [file] = await ws.write(ws.project, { 'tsparallel.config.mjs': 'export default () => new Promise(() => {});' });
  await assert.rejects(load(ws, { timeoutMs: 200 }), (err: unknown) => {
    assert.ok(err instanceof TimeoutError);
    assert.equal(err.timeoutMs, 200);
    assert.ok(err.message.includes(file!), err.message);
    return true;
  });
});
