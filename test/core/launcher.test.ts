/**
 * The launcher registry's checks: options validated by the plugin's schema, an unknown key named with the key it
 * most likely meant, and names under `launchers` that no registered launcher has.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { container } from 'tsyringe';
import { z } from 'zod';
import { ConfigError, LauncherError } from '../../src/core/errors.js';
import { defineLauncher, LauncherRegistry, type Launcher, type LauncherContext } from '../../src/core/launcher.js';

const context: LauncherContext = {
  role: 'engines', n: 1, clusterId: '', profileDir: '/tmp/profile_x', program: ['tsengine'], args: [], env: {}, container: container.createChildContainer(),
};

const host = z.strictObject({ n: z.number().int().positive(), setup: z.string().optional() });
const options = z.strictObject({
  queue: z.string().min(1).optional(),
  retries: z.number().int().default(1),
  site: z.strictObject({ name: z.string(), region: z.string().optional() }).optional(),
  hosts: z.record(z.string(), z.union([z.number(), host])).default({}),
  nodes: z.array(host).default([]),
  later: z.lazy(() => z.strictObject({ a: z.string() })).optional(),
});
/** The least a plugin's create() may return: the methods the cluster calls. */
const toyLauncher = (): Launcher =>
  ({ name: 'toy', state: 'idle', pids: [], jobIds: [], start: async () => {}, stop: async () => {}, signal: async () => {}, onExit: () => () => {} }) as Launcher;
const plugin = defineLauncher({ name: 'toy', options, create: toyLauncher });
const registry = new LauncherRegistry().register(plugin);

function messageOf(raw: unknown): string {
  try {
    registry.create('toy', context, raw);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.message;
  }
  assert.fail(`accepted: ${JSON.stringify(raw)}`);
}

describe('LauncherRegistry.create', () => {
  test('an unknown key names the key it most likely meant', () => {
    assert.equal(messageOf({ queu: 'long' }), "bad options for launcher 'toy': launchers.toy: unknown key 'queu' (did you mean 'queue'?)");
    // A word that begins exactly one key is taken as short for it.
    assert.equal(messageOf({ retr: 2 }), "bad options for launcher 'toy': launchers.toy: unknown key 'retr' (did you mean 'retries'?)");
  });

  test('an unknown key far from every key lists the keys there are', () => {
    assert.equal(messageOf({ frobnicate: 1 }), "bad options for launcher 'toy': launchers.toy: unknown key 'frobnicate' (known keys: queue, retries, site, hosts, nodes, later)");
  });

  test('unknown keys of nested objects are named at their path, with the keys of that object', () => {
    assert.equal(messageOf({ site: { name: 'a', regoin: 'eu' } }), "bad options for launcher 'toy': launchers.toy.site: unknown key 'regoin' (did you mean 'region'?)");
    assert.equal(messageOf({ hosts: { h1: { n: 1, setpu: 'x' } } }), "bad options for launcher 'toy': launchers.toy.hosts.h1: unknown key 'setpu' (did you mean 'setup'?)");
    assert.equal(messageOf({ nodes: [{ n: 1 }, { n: 1, nn: 2 }] }), "bad options for launcher 'toy': launchers.toy.nodes.1: unknown key 'nn' (did you mean 'n'?)");
  });

  test('where the keys cannot be read from the schema, the unknown key is still named', () => {
    assert.equal(messageOf({ later: { a: 'x', b: 'y' } }), "bad options for launcher 'toy': launchers.toy.later: unknown key 'b'");
  });

  test('several problems are all said; other problems keep their message', () => {
    assert.equal(
      messageOf({ queue: '', queu: 'x', extra: 1 }),
      "bad options for launcher 'toy': launchers.toy.queue: Too small: expected string to have >=1 characters; " +
        "launchers.toy: unknown key 'queu' (did you mean 'queue'?); launchers.toy: unknown key 'extra' (known keys: queue, retries, site, hosts, nodes, later)",
    );
  });

  test('good options reach create', () => {
    assert.equal(registry.create('toy', context, { queue: 'long', site: { name: 'a' } }).name, 'toy');
  });

  test("a plugin whose create() returns no Launcher is named, with the methods missing", () => {
    const bad = new LauncherRegistry()
      .register(defineLauncher({ name: 'half', create: () => ({ name: 'half', start: async () => {} }) as unknown as Launcher }))
      .register(defineLauncher({ name: 'none', create: () => undefined as unknown as Launcher }));
    assert.throws(() => bad.create('half', context), (err: unknown) => err instanceof LauncherError && /launcher plugin 'half': create\(\) returned an object without stop, signal, onExit/.test((err as Error).message));
    assert.throws(() => bad.create('none', context), (err: unknown) => err instanceof LauncherError && /launcher plugin 'none': create\(\) returned undefined without start, stop, signal, onExit/.test((err as Error).message));
  });
});

describe('LauncherRegistry.get', () => {
  test("an unknown launcher name says the one meant (engines.launcher: 'slrum')", () => {
    const known = new LauncherRegistry().register(plugin).register(defineLauncher({ name: 'slurm', create: toyLauncher }));
    assert.throws(() => known.get('slrum'), (err: unknown) => err instanceof ConfigError && /unknown launcher 'slrum' \(did you mean 'slurm'\?\); known launchers: slurm, toy/.test((err as Error).message));
    assert.throws(() => known.get('pbs'), (err: unknown) => err instanceof ConfigError && /unknown launcher 'pbs'; known launchers/.test((err as Error).message));
  });
});

describe('LauncherRegistry.checkConfiguredNames', () => {
  const names = new LauncherRegistry()
    .register(defineLauncher({ name: 'local', create: () => ({}) as Launcher }))
    .register(defineLauncher({ name: 'slurm', create: () => ({}) as Launcher }));

  test('registered names pass', () => {
    names.checkConfiguredNames(['local', 'slurm']);
    names.checkConfiguredNames([]);
  });

  test('a name no launcher has is an error with the closest name and the known launchers', () => {
    assert.throws(
      () => names.checkConfiguredNames(['local', 'lokal']),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          "launchers.lokal: no launcher 'lokal' is registered (did you mean 'local'?); known launchers: local, slurm " +
            "(a plugin package or file listed in 'plugins' can add more)",
    );
    assert.throws(
      () => names.checkConfiguredNames(['lokal', 'frobnicate']),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.startsWith("launchers.lokal: no launcher 'lokal' is registered (did you mean 'local'?); launchers.frobnicate: no launcher 'frobnicate' is registered; known launchers: local, slurm"),
    );
  });
});
