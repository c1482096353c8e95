/**
 * The `slurm` launcher's options as the registry checks them: a misspelled key is refused with the key it meant,
 * not silently dropped (the job would go to sbatch without it).
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { container } from 'tsyringe';
import { ConfigError } from '../../../src/core/errors.js';
import { LauncherRegistry, type LauncherContext } from '../../../src/core/launcher.js';
import { slurmLauncher } from '../../../src/launchers/slurm/launcher.js';
import { slurmOptionFields } from '../../../src/launchers/slurm/options.js';

const registry = new LauncherRegistry().register(slurmLauncher);
const context: LauncherContext = {
  role: 'engines', n: 2, clusterId: '', profileDir: '/tmp/profile_x', program: ['tsengine'], args: [], env: {}, container: container.createChildContainer(),
};

function messageOf(options: Record<string, unknown>): string {
  try {
    registry.create('slurm', context, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`options were accepted: ${JSON.stringify(options)}`);
}

describe('slurm launcher options', () => {
  test('a misspelled Slurm key is an error naming the key it meant', () => {
    assert.equal(
      messageOf({ partiton: 'debug' }),
      "bad options for launcher 'slurm': launchers.slurm: unknown key 'partiton' (did you mean 'partition'?)",
    );
  });

  test('a misspelled shared batch key is refused the same way', () => {
    assert.match(messageOf({ partition: 'debug', workDir: '/scratch' }), /launchers\.slurm: unknown key 'workDir' \(did you mean 'workDirectory'\?\)/);
    assert.match(messageOf({ enviroment: { A: '1' } }), /unknown key 'enviroment' \(did you mean 'environment'\?\)/);
  });

  test('a key far from every option lists the keys there are', () => {
    const message = messageOf({ frobnicate: true });
    assert.match(message, /^bad options for launcher 'slurm': launchers\.slurm: unknown key 'frobnicate' \(known keys: /);
    assert.match(message, /\bpartition\b.*\bsbatchArgs\b/);
  });

  test('every unknown key is named, and other problems keep their message', () => {
    const message = messageOf({ partiton: 'debug', acount: 'p42', engineMode: 'mpi' });
    assert.match(message, /unknown key 'partiton' \(did you mean 'partition'\?\)/);
    assert.match(message, /unknown key 'acount' \(did you mean 'account'\?\)/);
    assert.match(message, /launchers\.slurm\.engineMode: Invalid input/);
  });

  test('the Slurm fields alone are strict too', () => {
    assert.equal(slurmOptionFields.safeParse({ partiton: 'debug' }).success, false);
  });

  test('correct options still make a launcher', () => {
    const launcher = registry.create('slurm', context, { partition: 'debug', account: 'proj42', walltime: '1:00:00', workDirectory: '/scratch' });
    assert.equal(launcher.name, 'slurm');
    assert.equal(launcher.state, 'idle');
  });
});
