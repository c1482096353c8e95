/**
 * The built-in launchers refuse option keys they do not know, at every level, so a misspelled option is an error
 * rather than a launcher that silently runs without it.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { container } from 'tsyringe';
import { ConfigError } from '../../src/core/errors.js';
import { LauncherRegistry, type LauncherContext } from '../../src/core/launcher.js';
import { builtinLaunchers } from '../../src/launchers/builtin.js';

/** The least each launcher needs to accept its options. */
const REQUIRED: Record<string, Record<string, unknown>> = { 'windows-hpc': { scheduler: 'HEADNODE' } };

const context: LauncherContext = {
  role: 'engines', n: 1, clusterId: '', profileDir: '/tmp/profile_x', program: ['tsengine'], args: [], env: {}, container: container.createChildContainer(),
};

describe('built-in launcher options', () => {
  test('every built-in launcher refuses an unknown key', () => {
    assert.ok(builtinLaunchers.length >= 10, builtinLaunchers.map((p) => p.name).join(', '));
    for (const plugin of builtinLaunchers) {
      assert.ok(plugin.options, `${plugin.name} has an options schema`);
      const required = REQUIRED[plugin.name] ?? {};
      assert.equal(plugin.options.safeParse(required).success, true, `${plugin.name} accepts its required options`);
      const parsed = plugin.options.safeParse({ ...required, notAnOption: 1 });
      assert.equal(parsed.success, false, `${plugin.name} refuses notAnOption`);
      assert.deepEqual(
        parsed.error?.issues.map((i) => [i.code, (i as { keys?: string[] }).keys]),
        [['unrecognized_keys', ['notAnOption']]],
        plugin.name,
      );
    }
  });

  test('a nested object refuses unknown keys too, and the error names the key meant there', () => {
    const registry = new LauncherRegistry();
    for (const plugin of builtinLaunchers) registry.register(plugin);
    assert.throws(
      () => registry.create('ssh', context, { hosts: { node1: 2, 'me@node2': { n: 3, setpu: 'source ~/venv/bin/activate' } } }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === "bad options for launcher 'ssh': launchers.ssh.hosts.me@node2: unknown key 'setpu' (did you mean 'setup'?)",
    );
    assert.throws(
      () => registry.create('local', context, { spawnr: 'always' }),
      (e: unknown) => e instanceof ConfigError && e.message === "bad options for launcher 'local': launchers.local: unknown key 'spawnr' (did you mean 'spawner'?)",
    );
  });
});
