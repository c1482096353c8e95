/**
 * loadConfig: the layers (defaults < profile < project < environment < overrides) and where each value came from.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { CONFIG_FIELD_PATHS } from '../../src/config/schema.js';
import { makeConfigWorkspace, load, rejectsWith } from '../support/config-fixtures.js';

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
