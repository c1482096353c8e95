import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig, mergeConfig } from '../../src/core/config.js';
import { CONFIG_ENV_VARIABLES } from '../../src/core/config-env.js';
import { loadConfig } from '../../src/core/config-load.js';
import { CONFIG_FIELD_PATHS, envVariableFor } from '../../src/core/config-schema.js';
import { closestMatch, editDistance } from '../../src/core/config-suggest.js';
import { ConfigError, TimeoutError } from '../../src/core/errors.js';
import { makeConfigWorkspace, type ConfigWorkspace } from '../support/config-fixtures.js';

/** Load with only the workspace's directories and environment, never the real home or cwd. */
function load(ws: ConfigWorkspace, options: Parameters<typeof loadConfig>[0] = {}) {
  return loadConfig({ projectDir: ws.project, env: ws.env(), ...options });
}

/** Assert that `promise` rejects with a ConfigError whose message contains every one of `needles`. */
async function rejectsWith(promise: Promise<unknown>, needles: string[]): Promise<ConfigError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  for (const needle of needles) {
    assert.ok(caught.message.includes(needle), `message lacks ${JSON.stringify(needle)}:\n${caught.message}`);
  }
  return caught;
}

const UNC = String.raw`\\fileserver\share$\tsparallel\work`;

describe('loadConfig: layers and provenance', () => {
  test('with no file, no variable and no override it is the defaults, each from "default"', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const loaded = await load(ws, { profile: 'none' });
    assert.deepEqual(loaded.config, defaultConfig());
    assert.deepEqual(loaded.files, { profile: null, project: null });
    assert.equal(loaded.profile.dir, path.join(ws.root, 'profile_none'));
    assert.equal(loaded.profileExists, false);
    assert.deepEqual(Object.keys(loaded.sources).sort(), [...CONFIG_FIELD_PATHS].filter((p) => p !== 'launchers').sort());
    for (const source of Object.values(loaded.sources)) assert.equal(source.label, 'default');
  });

  test('defaults < profile file < project file < TSPARALLEL_* < overrides, with a source per key', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const profileDir = path.join(ws.root, 'profile_mycluster');
    const [profileFile] = await ws.write(profileDir, {
      'tsparallel.config.mjs': `export default {
        n: 2, clusterId: 'fromprofile',
        controller: { hwm: 3, taskPolicy: 'lru', heartbeatMs: 500 },
        launchers: { 'windows-hpc': { scheduler: 'HEADNODE', workDir: 'profile' } },
      };`,
    });
    const [projectFile] = await ws.write(ws.project, {
      'tsparallel.config.json': JSON.stringify({
        n: 3,
        controller: { hwm: 4, heartbeatTimeoutMs: 20000 },
        launchers: { 'windows-hpc': { workDir: 'project' } },
      }),
    });
    const loaded = await load(ws, {
      profile: 'mycluster',
      env: ws.env({ TSPARALLEL_N: '5', TSPARALLEL_CONTROLLER_HWM: '6', TSPARALLEL_ENGINES_LAUNCHER: 'windows-hpc' }),
      overrides: { n: 7, controller: { ip: '0.0.0.0', launcher: undefined } },
    });
    const { config, sources } = loaded;
    assert.equal(config.n, 7);
    assert.equal(config.clusterId, 'fromprofile');
    assert.equal(config.controller.taskPolicy, 'lru');
    assert.equal(config.controller.heartbeatMs, 500);
    assert.equal(config.controller.heartbeatTimeoutMs, 20000);
    assert.equal(config.controller.hwm, 6);
    assert.equal(config.controller.ip, '0.0.0.0');
    assert.equal(config.controller.launcher, 'local', 'an undefined override leaves the value alone');
    assert.equal(config.engines.launcher, 'windows-hpc');
    assert.deepEqual(config.launchers, { 'windows-hpc': { scheduler: 'HEADNODE', workDir: 'project' } });
    assert.deepEqual(loaded.files, { profile: profileFile, project: projectFile });

    assert.deepEqual(sources.n, { kind: 'override', label: 'override' });
    assert.deepEqual(sources.clusterId, { kind: 'profile', file: profileFile, label: profileFile });
    assert.equal(sources['controller.taskPolicy']!.label, profileFile);
    assert.equal(sources['controller.heartbeatTimeoutMs']!.label, projectFile);
    assert.deepEqual(sources['controller.hwm'], {
      kind: 'env',
      variable: 'TSPARALLEL_CONTROLLER_HWM',
      label: 'env TSPARALLEL_CONTROLLER_HWM',
    });
    assert.equal(sources['engines.launcher']!.label, 'env TSPARALLEL_ENGINES_LAUNCHER');
    assert.equal(sources['controller.ip']!.label, 'override');
    assert.equal(sources['controller.launcher']!.label, 'default');
    assert.equal(sources['engines.startTimeoutMs']!.label, 'default');
    assert.equal(sources['launchers.windows-hpc.scheduler']!.label, profileFile);
    assert.equal(sources['launchers.windows-hpc.workDir']!.label, projectFile);
  });

  test('profileDir names the profile directory directly', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const dir = path.join(ws.base, 'elsewhere');
    const [file] = await ws.write(dir, { '.tsparallelrc.json': '{"n": 9}' });
    const loaded = await load(ws, { profileDir: dir });
    assert.equal(loaded.config.n, 9);
    assert.equal(loaded.sources.n!.label, file);
    assert.equal(loaded.profile.dir, dir);
    assert.equal(loaded.profileExists, true);
  });

  test('a project directory that is the profile directory is read once, as the profile', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const [file] = await ws.write(ws.project, { 'tsparallel.config.json': '{"n": 2}' });
    const loaded = await load(ws, { profileDir: ws.project });
    assert.deepEqual(loaded.files, { profile: file, project: null });
    assert.equal(loaded.sources.n!.kind, 'profile');
  });

  test('projectDir: null searches no project directory', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await ws.write(ws.project, { 'tsparallel.config.json': '{"n": 2}' });
    const loaded = await load(ws, { projectDir: null });
    assert.equal(loaded.files.project, null);
    assert.equal(loaded.sources.n!.label, 'default');
  });

  test('only the two directories are searched: a file in a parent directory is not picked up', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await ws.write(ws.base, { 'tsparallel.config.json': '{"n": 99}', '.tsparallelrc': 'n: 98\n' });
    const nested = path.join(ws.project, 'sub', 'dir');
    await ws.write(nested, { 'keep.txt': '' });
    const loaded = await load(ws, { projectDir: nested });
    assert.deepEqual(loaded.files, { profile: null, project: null });
    assert.notEqual(loaded.config.n, 99);
  });

  test('a package.json without a "tsparallel" key is not a config file', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await ws.write(ws.project, { 'package.json': '{"name": "app", "version": "1.0.0"}' });
    const loaded = await load(ws);
    assert.equal(loaded.files.project, null);
  });

  test('two config files in one directory are an error naming both', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await ws.write(ws.project, { 'tsparallel.config.json': '{"n": 2}', '.tsparallelrc.yaml': 'n: 3\n' });
    await rejectsWith(load(ws), [ws.project, 'tsparallel.config.json', '.tsparallelrc.yaml', 'keep one']);
  });

  test('a config file edited between two loads is read again (JS modules are not served from cache)', async (t) => {
    const ws = await makeConfigWorkspace(t);
    for (const name of ['tsparallel.config.mjs', 'tsparallel.config.cjs']) {
      const dir = path.join(ws.base, name);
      const esm = name.endsWith('.mjs');
      const text = (n: number) => (esm ? `export default { n: ${n} };` : `module.exports = { n: ${n} };`);
      await ws.write(dir, { [name]: text(2) });
      assert.equal((await load(ws, { projectDir: dir })).config.n, 2);
      await ws.write(dir, { [name]: text(31) });
      assert.equal((await load(ws, { projectDir: dir })).config.n, 31, name);
    }
  });
});

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

describe('loadConfig: TSPARALLEL_* environment', () => {
  test('every option has a variable named after its path', () => {
    assert.equal(CONFIG_ENV_VARIABLES.get('n'), 'TSPARALLEL_N');
    assert.equal(CONFIG_ENV_VARIABLES.get('controller.ip'), 'TSPARALLEL_CONTROLLER_IP');
    assert.equal(CONFIG_ENV_VARIABLES.get('engines.launcher'), 'TSPARALLEL_ENGINES_LAUNCHER');
    assert.equal(envVariableFor('controller.heartbeatTimeoutMs'), 'TSPARALLEL_CONTROLLER_HEARTBEAT_TIMEOUT_MS');
    assert.equal(CONFIG_ENV_VARIABLES.size, CONFIG_FIELD_PATHS.length);
    assert.ok(![...CONFIG_ENV_VARIABLES.values()].includes('TSPARALLEL_DIR'));
  });

  test('each kind of variable is read, and TSPARALLEL_DIR is the profile root, not an option', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const loaded = await load(ws, {
      env: ws.env({
        TSPARALLEL_N: '4',
        TSPARALLEL_CLUSTER_ID: 'nightly',
        TSPARALLEL_CONTROLLER_IP: '*',
        TSPARALLEL_CONTROLLER_TASK_POLICY: 'twobin',
        TSPARALLEL_CONTROLLER_HEARTBEAT_TIMEOUT_MS: '30000',
        TSPARALLEL_ENGINES_START_TIMEOUT_MS: '120000',
        TSPARALLEL_PLUGINS: ' ./a.js, tsparallel-slurm ,,',
        TSPARALLEL_LAUNCHERS: JSON.stringify({ 'windows-hpc': { scheduler: 'HEADNODE', workDir: UNC } }),
        TSPARALLEL_CONTROLLER_LAUNCHER: '',
        TSPARALLEL_LOG_LEVEL: 'debug',
      }),
      profile: 'p',
    });
    const { config, sources } = loaded;
    assert.equal(loaded.profile.dir, path.join(ws.root, 'profile_p'));
    assert.equal(config.n, 4);
    assert.equal(config.clusterId, 'nightly');
    assert.equal(config.controller.ip, '*');
    assert.equal(config.controller.taskPolicy, 'twobin');
    assert.equal(config.controller.heartbeatTimeoutMs, 30000);
    assert.equal(config.engines.startTimeoutMs, 120000);
    assert.deepEqual(config.plugins, ['./a.js', 'tsparallel-slurm']);
    assert.deepEqual(config.launchers, { 'windows-hpc': { scheduler: 'HEADNODE', workDir: UNC } });
    assert.equal(config.controller.launcher, 'local', 'an empty variable counts as unset');
    assert.equal(sources.plugins!.label, 'env TSPARALLEL_PLUGINS');
    assert.equal(sources['launchers.windows-hpc.workDir']!.label, 'env TSPARALLEL_LAUNCHERS');
    assert.equal(sources['controller.launcher']!.label, 'default');
    assert.equal(sources.clusterId!.label, 'env TSPARALLEL_CLUSTER_ID');
  });

  test('TSPARALLEL_PLUGINS may be a JSON array', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const loaded = await load(ws, { env: ws.env({ TSPARALLEL_PLUGINS: '["a,b.js", "c"]' }) });
    assert.deepEqual(loaded.config.plugins, ['a,b.js', 'c']);
  });

  test('a bad value names the variable, the key path, what was given and what is allowed', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await rejectsWith(load(ws, { env: ws.env({ TSPARALLEL_N: 'four' }) }), [
      'invalid configuration in the environment',
      "n (from TSPARALLEL_N): given 'four'",
      'allowed: a positive integer',
    ]);
    await rejectsWith(load(ws, { env: ws.env({ TSPARALLEL_CONTROLLER_IP: 'somewhere' }) }), [
      "controller.ip (from TSPARALLEL_CONTROLLER_IP): given 'somewhere'",
      'allowed: an IPv4 or IPv6 address',
    ]);
    await rejectsWith(load(ws, { env: ws.env({ TSPARALLEL_LAUNCHERS: '{scheduler: HEADNODE}' }) }), [
      'TSPARALLEL_LAUNCHERS is not valid JSON',
      "given '{scheduler: HEADNODE}'",
      'allowed: a JSON object',
    ]);
    await rejectsWith(load(ws, { env: ws.env({ TSPARALLEL_LAUNCHERS: '{"windows-hpc": 3}' }) }), [
      'launchers.windows-hpc (from TSPARALLEL_LAUNCHERS): given 3',
    ]);
  });

  test('a misspelled option variable is an error with a suggestion; other TSPARALLEL_* variables are left alone', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await rejectsWith(load(ws, { env: ws.env({ TSPARALLEL_CONTROLER_IP: '0.0.0.0' }) }), [
      'unknown environment variable TSPARALLEL_CONTROLER_IP',
      'did you mean TSPARALLEL_CONTROLLER_IP?',
    ]);
    const loaded = await load(ws, { env: ws.env({ TSPARALLEL_CONNECTION_FILE: '/x.json', TSPARALLEL_ENGINE_ID: '3' }) });
    assert.deepEqual(loaded.config, defaultConfig());
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

describe('close-match suggestions', () => {
  test('editDistance counts insertions, deletions, substitutions and swaps', () => {
    assert.equal(editDistance('', ''), 0);
    assert.equal(editDistance('abc', ''), 3);
    assert.equal(editDistance('', 'ab'), 2);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('heartbeat', 'heatrbeat'), 1);
    assert.equal(editDistance('taskPolicy', 'taskPolicy'), 0);
    assert.equal(editDistance('ip', 'pi'), 1);
  });
  test('closestMatch ignores case and refuses far candidates', () => {
    assert.equal(closestMatch('controller.heartbeatMS', ['n', 'controller.heartbeatMs', 'controller.hwm']), 'controller.heartbeatMs');
    assert.equal(closestMatch('lauchner', ['launcher', 'ip']), 'launcher');
    assert.equal(closestMatch('frobnicate', ['launcher', 'ip']), undefined);
    assert.equal(closestMatch('x', []), undefined);
  });
});
