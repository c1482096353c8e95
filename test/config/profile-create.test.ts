import assert from 'node:assert/strict';
import { readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_FIELD_PATHS, CONFIG_FIELDS, envVariableFor } from '../../src/config/schema.js';
import { ConfigError } from '../../src/core/errors.js';
import { createProfile, listProfiles, locateProfile } from '../../src/config/profile-create.js';
import { makeConfigWorkspace } from '../support/config-fixtures.js';

async function isDirectory(dir: string): Promise<boolean> {
  return stat(dir).then((s) => s.isDirectory(), () => false);
}

async function rejectsConfigError(promise: Promise<unknown>, needles: string[]): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    for (const needle of needles) assert.ok(err.message.includes(needle), `message lacks ${needle}:\n${err.message}`);
    return true;
  });
}

describe('createProfile', () => {
  test('makes security/, log/, pid/ and a commented tsparallel.config.mjs, and returns what it wrote', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const created = await createProfile('mycluster', { env: ws.env() });
    const dir = path.join(ws.root, 'profile_mycluster');
    assert.equal(created.paths.dir, dir);
    assert.equal(created.configFile, path.join(dir, 'tsparallel.config.mjs'));
    assert.deepEqual(created.written, [
      dir,
      path.join(dir, 'security'),
      path.join(dir, 'log'),
      path.join(dir, 'pid'),
      path.join(dir, 'tsparallel.config.mjs'),
    ]);
    for (const sub of ['security', 'log', 'pid']) assert.ok(await isDirectory(path.join(dir, sub)), sub);
    if (process.platform !== 'win32') {
      assert.equal((await stat(path.join(dir, 'security'))).mode & 0o777, 0o700);
    }
  });

  test('the default name is "default"', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const created = await createProfile(undefined, { env: ws.env() });
    assert.equal(created.paths.dir, path.join(ws.root, 'profile_default'));
  });

  test('in an existing directory, only what was missing is listed as written', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const dir = path.join(ws.base, 'custom');
    await mkdir(path.join(dir, 'log'), { recursive: true });
    const created = await createProfile('custom', { dir, env: ws.env() });
    assert.deepEqual(created.written, [path.join(dir, 'security'), path.join(dir, 'pid'), path.join(dir, 'tsparallel.config.mjs')]);
  });

  test('the generated file documents every option with its default, what is allowed and its variable', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const { configFile } = await createProfile('doc', { env: ws.env() });
    const text = await readFile(configFile, 'utf8');
    const defaults = defaultConfig();
    for (const field of CONFIG_FIELD_PATHS) {
      assert.ok(text.includes(CONFIG_FIELDS[field].doc), `doc line of ${field}`);
      assert.ok(text.includes(`Allowed: ${CONFIG_FIELDS[field].allowed}. Environment: ${envVariableFor(field)}.`), field);
    }
    assert.match(text, new RegExp(`// n: ${defaults.n},  // default: the number of CPUs`));
    assert.match(text, /\/\/ taskPolicy: 'leastload',/);
    assert.match(text, /\/\/ heartbeatTimeoutMs: 10000,/);
    assert.match(text, /\/\/ ip: '127\.0\.0\.1',/);
    assert.match(text, /\/\/ startTimeoutMs: 60000,/);
    assert.match(text, /\/\/ 'windows-hpc': \{ scheduler: 'HEADNODE' \},/);
    assert.ok(text.includes(String.raw`String.raw` + '`' + String.raw`\\host\share\dir` + '`'), 'UNC advice');
  });

  test('as written, the file loads as the defaults, every value from "default"', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const { configFile } = await createProfile('fresh', { env: ws.env() });
    const loaded = await loadConfig({ profile: 'fresh', projectDir: null, env: ws.env() });
    assert.equal(loaded.files.profile, configFile);
    assert.deepEqual(loaded.config, defaultConfig());
    for (const [key, source] of Object.entries(loaded.sources)) assert.equal(source.label, 'default', key);
  });

  test('with every option line uncommented, the file is valid and gives the defaults from the file', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const { configFile } = await createProfile('uncommented', { env: ws.env() });
    const text = await readFile(configFile, 'utf8');
    // Uncomment the `// key: value,` lines of every option (and the launcher example), leave the prose alone.
    const keys = [...CONFIG_FIELD_PATHS.map((p) => p.split('.').pop()!), "'windows-hpc'"];
    const optionLine = new RegExp(`^(\\s*)// ((?:${keys.join('|')}): .*,)`, 'gm');
    const uncommented = text.replace(optionLine, '$1$2');
    assert.equal(text.match(optionLine)?.length, CONFIG_FIELD_PATHS.length, 'one line per option but launchers, plus the example');
    assert.notEqual(uncommented, text);
    await writeFile(configFile, uncommented);
    const loaded = await loadConfig({ profile: 'uncommented', projectDir: null, env: ws.env() });
    assert.deepEqual(loaded.config, { ...defaultConfig(), launchers: { 'windows-hpc': { scheduler: 'HEADNODE' } } });
    for (const [key, source] of Object.entries(loaded.sources)) assert.equal(source.label, configFile, key);
  });

  test('refuses to overwrite an existing config file unless overwrite is set', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const { configFile } = await createProfile('keep', { env: ws.env() });
    await writeFile(configFile, 'export default { n: 3 };\n');
    await rejectsConfigError(createProfile('keep', { env: ws.env() }), [configFile, 'overwrite']);
    assert.equal(await readFile(configFile, 'utf8'), 'export default { n: 3 };\n', 'left untouched');

    const again = await createProfile('keep', { env: ws.env(), overwrite: true });
    assert.deepEqual(again.written, [configFile]);
    assert.match(await readFile(configFile, 'utf8'), /Every option is listed with its default/);
  });

  test('refuses, even with overwrite, when the profile has a config file of another form', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const dir = path.join(ws.root, 'profile_yaml');
    const [other] = await ws.write(dir, { '.tsparallelrc.yaml': 'n: 2\n' });
    await rejectsConfigError(createProfile('yaml', { env: ws.env(), overwrite: true }), [other!, 'already has a config file']);
    assert.equal(await stat(path.join(dir, 'tsparallel.config.mjs')).then(() => true, () => false), false);
  });

  test('a bad profile name is refused', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await rejectsConfigError(createProfile('../escape', { env: ws.env() }), ["bad profile name '../escape'"]);
  });
});

describe('listProfiles and locateProfile', () => {
  test('listProfiles is empty when the root does not exist', async (t) => {
    const ws = await makeConfigWorkspace(t);
    assert.deepEqual(await listProfiles({ env: { TSPARALLEL_DIR: path.join(ws.base, 'missing') } }), []);
  });

  test('listProfiles lists profile_* directories by name, skipping other entries', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await createProfile('zeta', { env: ws.env() });
    await createProfile('alpha', { env: ws.env() });
    await mkdir(path.join(ws.root, 'not_a_profile'));
    await writeFile(path.join(ws.root, 'profile_file'), 'a file, not a directory');
    await mkdir(path.join(ws.root, 'profile_bad name'));
    const profiles = await listProfiles({ env: ws.env() });
    assert.deepEqual(profiles.map((p) => p.name), ['alpha', 'zeta']);
    assert.equal(profiles[0]!.dir, path.join(ws.root, 'profile_alpha'));
    assert.equal(profiles[0]!.security, path.join(ws.root, 'profile_alpha', 'security'));
  });

  test('locateProfile returns the paths of an existing profile', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await createProfile('mycluster', { env: ws.env() });
    const paths = await locateProfile('mycluster', { env: ws.env() });
    assert.equal(paths.dir, path.join(ws.root, 'profile_mycluster'));
    assert.equal(paths.pid, path.join(ws.root, 'profile_mycluster', 'pid'));
  });

  test('locateProfile of a missing profile names the root, the existing ones, a close match and the fix', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await createProfile('mycluster', { env: ws.env() });
    await createProfile('other', { env: ws.env() });
    await rejectsConfigError(locateProfile('mycluster2', { env: ws.env() }), [
      `no profile 'mycluster2' in ${ws.root}`,
      'existing: mycluster, other',
      "did you mean 'mycluster'?",
      'tscluster profile create mycluster2',
    ]);
  });

  test('locateProfile with no profiles at all says so', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await rejectsConfigError(locateProfile('x', { env: ws.env() }), ['existing: none']);
  });
});
