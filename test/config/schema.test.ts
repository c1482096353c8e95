/**
 * The config schema: validation errors name the file, the key path, what was given and what is allowed; Windows UNC
 * paths are kept exactly; mergeConfig and the schema stay in step.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/config/index.js';
import { makeConfigWorkspace, load, rejectsWith, UNC } from '../support/config-fixtures.js';

describe('loadConfig: validation errors name the file, the key path, what was given and what is allowed', () => {
  async function rejectsFor(t: import('node:test').TestContext, content: string, needles: string[], name = 'tsparallel.config.json') {
    const ws = await makeConfigWorkspace(t);
    const [file] = await ws.write(ws.project, { [name]: content });
    return rejectsWith(load(ws), [file!, ...needles]);
  }

  test('unknown key, with a close-match suggestion and the allowed keys', async (t) => {
    await rejectsFor(t, '{"controller": {"heartbeatMS": 500}}', [
      'controller.heartbeatMS: unknown key',
      'given 500',
      'allowed keys in controller: launcher, ip, transport, heartbeatMs',
      "did you mean 'controller.heartbeatMs'?",
    ]);
  });

  test('a known key at the wrong level is suggested where it belongs', async (t) => {
    await rejectsFor(t, 'taskPolicy: lru\n', [
      'taskPolicy: unknown key',
      "given 'lru'",
      'allowed keys: n, clusterId, controller, engines, security, launchers, plugins',
      "did you mean 'controller.taskPolicy'?",
    ], 'tsparallel.config.yaml');
  });

  test('a misspelled section is suggested by its name', async (t) => {
    await rejectsFor(t, '{"contoller": {"ip": "127.0.0.1"}}', ['contoller: unknown key', "did you mean 'controller'?"]);
  });

  test('an unknown key far from every option gets no suggestion', async (t) => {
    const err = await rejectsFor(t, '{"frobnicate": true}', ['frobnicate: unknown key', 'given true', 'allowed keys:']);
    assert.doesNotMatch(err.message, /did you mean/);
  });

  test('wrong type', async (t) => {
    await rejectsFor(t, '{"n": "4"}', ["n: given '4'", 'allowed: a positive integer']);
    await rejectsFor(t, '{"controller": "fast"}', ["controller: given 'fast'", 'allowed: an object with the keys launcher, ip']);
  });

  test('bad n: zero, negative, fraction', async (t) => {
    for (const n of ['0', '-2', '2.5']) await rejectsFor(t, `{"n": ${n}}`, [`n: given ${n}`, 'allowed: a positive integer']);
  });

  test('bad taskPolicy', async (t) => {
    await rejectsFor(t, '{"controller": {"taskPolicy": "fastest"}}', [
      "controller.taskPolicy: given 'fastest'",
      'allowed: one of leastload, lru, weighted, twobin, random',
    ]);
  });

  test('bad ip', async (t) => {
    for (const ip of ['localhost', '300.1.1.1', '10.0.0', '']) {
      await rejectsFor(t, JSON.stringify({ controller: { ip } }), [
        `controller.ip: given '${ip}'`,
        "allowed: an IPv4 or IPv6 address, or '*' / '0.0.0.0' for every interface",
      ]);
    }
  });

  test('good ips are accepted', async (t) => {
    const ws = await makeConfigWorkspace(t);
    for (const ip of ['0.0.0.0', '*', '10.0.0.5', '::1', '::', 'fe80::1ff:fe23:4567:890a']) {
      assert.equal((await load(ws, { overrides: { controller: { ip } } })).config.controller.ip, ip);
    }
  });

  test('a plugin that is not a string', async (t) => {
    await rejectsFor(t, '{"plugins": ["./ok.js", 42]}', ['plugins.1: given 42', 'allowed: a package name or file path']);
    await rejectsFor(t, '{"plugins": "./one.js"}', ["plugins: given './one.js'", 'allowed: an array of package names']);
  });

  test('launcher options must be objects, but are otherwise not checked here', async (t) => {
    await rejectsFor(t, '{"launchers": {"windows-hpc": "HEADNODE"}}', [
      "launchers.windows-hpc: given 'HEADNODE'",
      "allowed: an object of options for launcher 'windows-hpc'",
    ]);
    const ws = await makeConfigWorkspace(t);
    await ws.write(ws.project, { 'tsparallel.config.json': '{"launchers": {"any": {"whatever": [1, {"x": null}]}}}' });
    assert.deepEqual((await load(ws)).config.launchers, { any: { whatever: [1, { x: null }] } });
  });

  test('a bad clusterId', async (t) => {
    await rejectsFor(t, '{"clusterId": "a/b"}', ["clusterId: given 'a/b'", "allowed: letters, digits, '.', '_' and '-'"]);
  });

  test('every problem of a file is listed, not just the first', async (t) => {
    const err = await rejectsFor(t, '{"n": 0, "controller": {"taskPolicy": "x", "hwm": -1}}', []);
    assert.match(err.message, /- n: given 0/);
    assert.match(err.message, /- controller\.taskPolicy: given 'x'/);
    assert.match(err.message, /- controller\.hwm: given -1; allowed: an integer >= 0/);
  });

  test('a config that is not an object', async (t) => {
    await rejectsFor(t, '[1, 2]', ['given the array [1,2]', 'expected an object of options']);
    await rejectsFor(t, 'export default () => 42;', ['given 42', 'expected an object'], 'tsparallel.config.mjs');
  });

  test('values that contradict each other after merging name both keys and their sources', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const [file] = await ws.write(ws.project, { 'tsparallel.config.json': '{"controller": {"heartbeatMs": 20000}}' });
    await rejectsWith(load(ws), [
      'controller.heartbeatTimeoutMs (given 10000, from default)',
      `controller.heartbeatMs (given 20000, from ${file})`,
    ]);
  });

  test('bad overrides are named as the caller says', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await rejectsWith(load(ws, { overrides: { n: -1 }, overridesName: 'command-line flags' }), [
      'invalid configuration in command-line flags',
      'n: given -1',
      'allowed: a positive integer',
    ]);
  });
});
describe('loadConfig: Windows UNC paths are kept exactly as written', () => {
  const check = (config: { launchers: Record<string, Record<string, unknown>>; plugins: string[] }) => {
    assert.equal(config.launchers['windows-hpc']!.workDir, UNC);
    assert.deepEqual(config.launchers['windows-hpc']!.paths, [UNC, String.raw`\\host\share`]);
    assert.deepEqual(config.plugins, [String.raw`\\fileserver\share$\plugins\hpc-extra.mjs`]);
  };
  const value = {
    launchers: { 'windows-hpc': { workDir: UNC, paths: [UNC, String.raw`\\host\share`] } },
    plugins: [String.raw`\\fileserver\share$\plugins\hpc-extra.mjs`],
  };
  test('in JSON', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await ws.write(ws.project, { 'tsparallel.config.json': JSON.stringify(value) });
    check((await load(ws)).config);
  });
  test('in YAML (single-quoted and plain scalars)', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const text = [
      'launchers:',
      '  windows-hpc:',
      `    workDir: '${UNC}'`,
      '    paths:',
      `      - ${UNC}`,
      String.raw`      - \\host\share`,
      'plugins:',
      String.raw`  - '\\fileserver\share$\plugins\hpc-extra.mjs'`,
      '',
    ].join('\n');
    await ws.write(ws.project, { 'tsparallel.config.yaml': text });
    check((await load(ws)).config);
  });
  test('in an .mjs file (escaped string and String.raw)', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const text = [
      'export default {',
      `  launchers: { 'windows-hpc': { workDir: String.raw\`${UNC}\`, paths: [${JSON.stringify(UNC)}, String.raw\`\\\\host\\share\`] } },`,
      `  plugins: [${JSON.stringify(value.plugins[0])}],`,
      '};',
    ].join('\n');
    await ws.write(ws.project, { 'tsparallel.config.mjs': text });
    check((await load(ws)).config);
  });
  test('in error messages', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await ws.write(ws.project, { 'tsparallel.config.json': JSON.stringify({ controller: { ip: UNC } }) });
    await rejectsWith(load(ws), [`given '${UNC}'`]);
  });
});
describe('mergeConfig and the schema stay in step', () => {
  test('later layers win and launcher options merge by key', () => {
    const merged = mergeConfig(defaultConfig(), { n: 2, launchers: { a: { x: 1, y: 1 } } }, { launchers: { a: { y: 2 } } });
    assert.equal(merged.n, 2);
    assert.deepEqual(merged.launchers, { a: { x: 1, y: 2 } });
  });
});
