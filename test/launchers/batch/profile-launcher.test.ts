/**
 * `tscluster profile create NAME --launcher <scheduler>`: the profile's config starts the controller and the engines
 * with that batch launcher, loads, and its sample options (once uncommented) are valid options of the launcher.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { createProfile } from '../../../src/config/profile-create.js';
import { loadConfig } from '../../../src/config/load.js';
import { PROFILE_LAUNCHERS } from '../../../src/config/template.js';
import { ConfigError } from '../../../src/core/errors.js';
import { builtinLaunchers } from '../../../src/launchers/builtin.js';
import { makeConfigWorkspace } from '../../support/config-fixtures.js';
import { runCli } from '../../support/cli-run.js';

describe('profile create --launcher', () => {
  test('covers the five batch schedulers', () => {
    assert.deepEqual([...PROFILE_LAUNCHERS].sort(), ['htcondor', 'lsf', 'pbs', 'sge', 'slurm']);
  });

  for (const launcher of ['slurm', 'pbs', 'sge', 'lsf', 'htcondor']) {
    test(`${launcher}: the config loads with both roles on ${launcher}, and its sample options are valid once uncommented`, async (t) => {
      const ws = await makeConfigWorkspace(t);
      const { configFile } = await createProfile(`on-${launcher}`, { env: ws.env(), launcher });
      const loaded = await loadConfig({ profile: `on-${launcher}`, projectDir: null, env: ws.env() });
      assert.equal(loaded.config.controller.launcher, launcher);
      assert.equal(loaded.config.engines.launcher, launcher);
      assert.deepEqual(loaded.config.launchers[launcher], {});

      // Uncomment the sample lines of the launcher's block (`// key: value,  // note` → `key: value,`).
      const text = await readFile(configFile, 'utf8');
      const block = text.slice(text.indexOf(`    ${launcher}: {`));
      const body = block.slice(block.indexOf('\n') + 1, block.indexOf('\n    },'));
      const source = `({${body.split('\n').map((l) => l.trim().replace(/^\/\/ /, '').replace(/,\s+\/\/.*$/, ',')).join('\n')}})`;
      const sample = (0, eval)(source) as Record<string, unknown>;
      assert.ok(Object.keys(sample).length >= 4, source);
      const plugin = builtinLaunchers.find((p) => p.name === launcher)!;
      const parsed = plugin.options!.safeParse(sample);
      assert.ok(parsed.success, `${launcher} sample: ${parsed.success ? '' : parsed.error.message}`);
    });
  }

  test('an unknown scheduler is a ConfigError naming the choices and a close match', async (t) => {
    const ws = await makeConfigWorkspace(t);
    await assert.rejects(createProfile('x', { env: ws.env(), launcher: 'slrum' }), (e: unknown) => e instanceof ConfigError && /did you mean 'slurm'/.test(e.message) && /htcondor/.test(e.message));
  });

  test('tscluster profile create NAME --launcher pbs writes the profile', async (t) => {
    const ws = await makeConfigWorkspace(t);
    const r = await runCli(['profile', 'create', 'hpc', '--launcher', 'pbs'], ws.env());
    assert.equal(r.code, 0, r.stderr);
    const loaded = await loadConfig({ profile: 'hpc', projectDir: null, env: ws.env() });
    assert.equal(loaded.config.engines.launcher, 'pbs');
  });
});
