/**
 * The TSPARALLEL_* environment layer.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { defaultConfig } from '../../src/config/index.js';
import { CONFIG_ENV_VARIABLES } from '../../src/config/env.js';
import { CONFIG_FIELD_PATHS, envVariableFor } from '../../src/config/schema.js';
import { makeConfigWorkspace, load, rejectsWith, UNC } from '../support/config-fixtures.js';

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
      'allowed: JSON: an object whose keys are launcher names',
      `e.g. TSPARALLEL_LAUNCHERS='{"windows-hpc":{"scheduler":"HEADNODE"}}'`,
    ]);
    // Each JSON option shows an example of its own, not the launchers' one.
    await rejectsWith(load(ws, { env: ws.env({ TSPARALLEL_ENGINES_RESTART: 'notjson' }) }), [
      'TSPARALLEL_ENGINES_RESTART is not valid JSON',
      'allowed: JSON: { max: an integer >= 0',
      `e.g. TSPARALLEL_ENGINES_RESTART='{"max":2,"windowMs":60000}'`,
    ]);
    await rejectsWith(load(ws, { env: ws.env({ TSPARALLEL_CONTROLLER_DASHBOARD: 'notjson' }) }), [
      'TSPARALLEL_CONTROLLER_DASHBOARD is not valid JSON',
      `e.g. TSPARALLEL_CONTROLLER_DASHBOARD='{"port":8787}'`,
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
