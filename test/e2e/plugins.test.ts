/**
 * A launcher plugin named in a project's config file is loaded by createCluster and starts the engines.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { container } from 'tsyringe';
import { range } from '../../src/index.js';
import { get, LAUNCHER_REGISTRY } from '../../src/launchers/index.js';
import { repoRoot, startTestCluster, tempDir } from '../support/cluster.js';

describe('launcher plugins from config', () => {
  it('loads plugins listed in the project config, relative to that file, and launches engines with them', async () => {
    const project = await tempDir('tsparallel-project-');
    const plugin = path.join(repoRoot(), 'examples', 'custom-launcher', 'index.mjs');
    const relative = path.relative(project.dir, plugin);
    await writeFile(path.join(project.dir, 'tsparallel.config.json'), JSON.stringify({
      plugins: [relative.startsWith('.') ? relative : './' + relative],
      engines: { launcher: 'niced' },
      launchers: { niced: { niceness: 5 } },
    }));
    try {
      await using t = await startTestCluster(2, { projectDir: project.dir });
      assert.deepEqual(t.client.ids, [0, 1]);
      assert.deepEqual(await t.client.view().map((x: number) => x ** 10, range(15)), range(15).map((x) => x ** 10));
      const [controllerPid, ...enginePids] = t.cluster.pids;
      assert.equal(enginePids.length, 2);
      for (const pid of enginePids) {
        const nice = Number((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ')[16]);
        assert.equal(nice, 5, `engine ${pid} runs at the plugin's niceness`);
      }
      assert.ok(controllerPid);
      assert.ok(!get(container, LAUNCHER_REGISTRY).names().includes('niced'), 'the plugin did not leak into the global registry');
    } finally {
      await project.remove();
    }
  });

  it('fails the start with a ConfigError naming a plugin that cannot be loaded', async () => {
    const project = await tempDir('tsparallel-project-');
    await writeFile(path.join(project.dir, 'tsparallel.config.json'), JSON.stringify({ plugins: ['./nowhere.mjs'] }));
    try {
      await assert.rejects(startTestCluster(1, { projectDir: project.dir }), { name: 'ConfigError', message: /cannot load launcher plugin '\.\/nowhere\.mjs'/ });
    } finally {
      await project.remove();
    }
  });
});
