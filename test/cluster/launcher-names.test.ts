/**
 * createCluster refuses options under `launchers.<name>` for a launcher no registered plugin has (a misspelled
 * `launchers.lokal` would otherwise be silently unused), counting plugins loaded from `plugins` and launchers the
 * host application registered in its container. The check comes before anything starts.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { container as globalContainer } from 'tsyringe';
import { createCluster, type Cluster, type ClusterOptions } from '../../src/cluster/cluster.js';
import { ConfigError } from '../../src/core/errors.js';
import { builtinLaunchers, defineLauncher, LAUNCHER_REGISTRY, LauncherRegistry, provide, type Launcher } from '../../src/launchers/index.js';
import { repoRoot, tempDir } from '../support/cluster.js';

/** The error createCluster fails with; a cluster that starts after all is stopped, and the test fails. */
async function refusal(options: ClusterOptions): Promise<Error> {
  let cluster: Cluster;
  try {
    cluster = await createCluster(options);
  } catch (err) {
    return err as Error;
  }
  await cluster.stop();
  assert.fail(`the cluster started: ${JSON.stringify(options.launchers)}`);
}

describe('launcher names under launchers', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let n = 0;
  /** A fresh, empty profile directory. */
  const profileDir = () => path.join(tmp.dir, `profile_${++n}`);

  before(async () => {
    tmp = await tempDir('tsparallel-launcher-names-');
  });
  after(() => tmp.remove());

  test('a misspelled launcher name in a profile config file is an error naming it, the name meant and the known ones', async () => {
    const dir = profileDir();
    await mkdir(dir);
    await writeFile(path.join(dir, 'tsparallel.config.mjs'), "export default { launchers: { lokal: { spawner: 'always' } } };\n");
    const err = await refusal({ profileDir: dir, projectDir: null, n: 1 });
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, /^launchers\.lokal: no launcher 'lokal' is registered \(did you mean 'local'\?\); known launchers: htcondor, in-process, local, /);
  });

  test('as an override too, and nothing is started', async () => {
    const dir = profileDir();
    const err = await refusal({ profileDir: dir, projectDir: null, n: 1, launchers: { 'windows-hcp': { scheduler: 'HEADNODE' } } });
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, /^launchers\.windows-hcp: no launcher 'windows-hcp' is registered \(did you mean 'windows-hpc'\?\)/);
    assert.deepEqual((await readdir(path.join(dir, 'security'))).filter((f) => f.endsWith('.json')), [], 'no connection file: nothing started');
  });

  test("a plugin's launcher loaded from 'plugins' counts", async () => {
    const plugin = path.join(repoRoot(), 'examples', 'custom-launcher', 'index.mjs');
    const err = await refusal({ profileDir: profileDir(), projectDir: null, n: 1, plugins: [plugin], launchers: { niced: { niceness: 5 }, nicde: {} } });
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, /^launchers\.nicde: no launcher 'nicde' is registered \(did you mean 'niced'\?\); known launchers: .*\bniced\b/);
    assert.doesNotMatch(err.message, /launchers\.niced:/);
  });

  test("a launcher the host application registered in the cluster's container counts", async () => {
    const parent = globalContainer.createChildContainer();
    const registry = new LauncherRegistry();
    for (const p of builtinLaunchers) registry.register(p);
    registry.register(
      defineLauncher({
        name: 'mine',
        create: (): Launcher => {
          throw new ConfigError('mine was asked for a launcher');
        },
      }),
    );
    provide(parent, LAUNCHER_REGISTRY, registry);
    // Past the name check, the cluster asks 'mine' for the controller's launcher.
    const mine = await refusal({ profileDir: profileDir(), projectDir: null, n: 1, container: parent, controller: { launcher: 'mine' }, launchers: { mine: {} } });
    assert.equal(mine.message, 'mine was asked for a launcher');
    // The same options without that registration are refused.
    const err = await refusal({ profileDir: profileDir(), projectDir: null, n: 1, launchers: { mine: {} } });
    assert.ok(err instanceof ConfigError, String(err));
    assert.match(err.message, /^launchers\.mine: no launcher 'mine' is registered; known launchers: /);
  });
});
