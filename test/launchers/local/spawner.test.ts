/**
 * The local launcher's spawner: processes started through a small helper process rather than forked from this one
 * (src/launchers/spawner.ts). Real processes throughout: whose child each is (/proc), their exits (codes, signals,
 * log tails) reported through the helper, stop and signals reaching them, a program that cannot start, a helper
 * killed under its children, and a whole cluster started that way.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { container } from 'tsyringe';
import { createCluster } from '../../../src/index.js';
import { LocalLauncher, localLauncher, type ExitInfo, type LauncherContext } from '../../../src/launchers/index.js';
import { Spawner, useSpawner } from '../../../src/launchers/spawner.js';
import { isAlive, tempDir, waitUntil } from '../../support/cluster.js';

/** The parent pid of `pid` (Linux: /proc/PID/stat, the field after the state). */
async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** A local launcher of `n` copies of `script` (run with `node -e`), through a spawner or not. */
async function launcherOf(dir: string, script: string, n: number, spawner: 'always' | 'never'): Promise<LocalLauncher> {
  await mkdir(path.join(dir, 'log'), { recursive: true });
  const context: LauncherContext = {
    role: 'engines',
    n,
    clusterId: 'spawner-test',
    profileDir: dir,
    program: [process.execPath, '-e', script],
    args: [],
    env: {},
    container: container.createChildContainer(),
  };
  return localLauncher.create(context, localLauncher.options!.parse({ spawner, graceMs: 2000 })) as LocalLauncher;
}

const linuxOnly = { skip: process.platform !== 'linux' && 'reads /proc (Linux only)' };

describe('local launcher through a spawner', linuxOnly, () => {
  it('starts the processes as the spawner’s children and reports their exits, codes and output', async () => {
    const tmp = await tempDir();
    const script = "process.on('SIGTERM', () => { process.stderr.write('bye\\n'); process.exit(3); }); process.stderr.write('child ' + process.pid + ' up\\n'); setInterval(() => {}, 1000);";
    const launcher = await launcherOf(tmp.dir, script, 3, 'always');
    const exits: ExitInfo[] = [];
    launcher.onExit((info) => exits.push(info));
    try {
      await launcher.start();
      const pids = launcher.pids;
      assert.equal(pids.length, 3);
      const parents = await Promise.all(pids.map(parentOf));
      assert.equal(new Set(parents).size, 1, 'one spawner started all three');
      assert.notEqual(parents[0], process.pid, 'not forked from this process');
      assert.equal(await parentOf(parents[0]!), process.pid, 'the spawner is this process’s child');
      const spawnerPid = parents[0]!;
      const logs = async () => (await Promise.all((await readdir(path.join(tmp.dir, 'log'))).map((f) => readFile(path.join(tmp.dir, 'log', f), 'utf8')))).join('');
      await waitUntil(async () => {
        const text = await logs();
        return pids.every((pid) => text.includes(`child ${pid} up`));
      }, 10_000, 'each process has set its SIGTERM handler');

      // Ctrl-C reaches the spawner too (same process group): it stays, to report its children's exits.
      process.kill(spawnerPid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(isAlive(spawnerPid), 'the spawner ignores SIGINT');

      // A signal from outside: the exit comes back through the spawner, with the signal.
      process.kill(pids[0]!, 'SIGKILL');
      await waitUntil(() => exits.length === 1, 10_000, 'the killed process’s exit is reported');
      assert.deepEqual([exits[0]!.id, exits[0]!.code, exits[0]!.signal], [String(pids[0]), null, 'SIGKILL']);

      // stop(): SIGTERM reaches them; exit code 3 and the log's last lines come back.
      await launcher.stop();
      assert.equal(exits.length, 3);
      for (const info of exits.slice(1)) {
        assert.equal(info.code, 3);
        assert.match(info.stderrTail ?? "", new RegExp(`child ${info.id} up[\\s\\S]*bye`));
      }
      assert.deepEqual(pids.filter(isAlive), []);
      await waitUntil(() => !isAlive(spawnerPid), 5_000, 'the spawner exits once its processes have');
    } finally {
      await launcher.stop();
      await tmp.remove();
    }
  });

  it('refuses a program that cannot start, with its name, and lets the spawner go', async () => {
    const tmp = await tempDir();
    try {
      await mkdir(path.join(tmp.dir, 'log'));
      const spawner = await Spawner.start();
      const missing = path.join(tmp.dir, 'no-such-program');
      await assert.rejects(spawner.spawn([missing], { env: process.env, logFile: path.join(tmp.dir, 'log', 'x.log') }), (err: Error) => {
        assert.match(err.message, /cannot start .*no-such-program: .*ENOENT/);
        return true;
      });
      spawner.release();
      await waitUntil(() => !isAlive(spawner.pid), 5_000, 'the released spawner exits');
    } finally {
      await tmp.remove();
    }
  });

  it('still reports exits when the spawner is killed under its processes', async () => {
    const tmp = await tempDir();
    const launcher = await launcherOf(tmp.dir, 'setInterval(() => {}, 1000);', 2, 'always');
    const exits: ExitInfo[] = [];
    launcher.onExit((info) => exits.push(info));
    try {
      await launcher.start();
      const pids = launcher.pids;
      const spawnerPid = await parentOf(pids[0]!);
      process.kill(spawnerPid, 'SIGKILL');
      await waitUntil(() => !isAlive(spawnerPid), 5_000, 'the spawner is gone');
      assert.deepEqual(pids.filter(isAlive), pids, 'its processes live on');
      await launcher.stop();
      assert.deepEqual(pids.filter(isAlive), []);
      assert.deepEqual(exits.map((e) => e.id).sort(), pids.map(String).sort(), 'each exit was seen (by its pid)');
    } finally {
      await launcher.stop();
      await tmp.remove();
    }
  });

  it('chooses a spawner by this process’s size and the number started, unless told', () => {
    assert.equal(useSpawner('always', 1), true);
    assert.equal(useSpawner('never', 10_000), false);
    const rssMb = process.memoryUsage.rss() / 2 ** 20;
    assert.equal(useSpawner('auto', 1), rssMb >= 4096);
    assert.equal(useSpawner('auto', Math.ceil(4096 / rssMb)), true, 'enough processes from this size');
  });

  it('starts a cluster’s engines through a spawner, and they work', async () => {
    const tmp = await tempDir();
    const cluster = await createCluster({ n: 2, profileDir: tmp.dir, projectDir: null, launchers: { local: { spawner: 'always' } } });
    const pids = cluster.pids;
    try {
      const [controllerPid, ...enginePids] = pids;
      const parents = await Promise.all(pids.map(parentOf));
      assert.equal(parents.filter((p) => p === process.pid).length, 0, 'no role process forked from this one');
      assert.equal(await parentOf(parents[0]!), process.pid);
      const client = await cluster.connect();
      const seen = await client.view().apply(() => process.pid);
      assert.deepEqual([...seen].sort(), [...enginePids].sort());
      assert.ok(controllerPid);
    } finally {
      await cluster.stop();
      assert.deepEqual(pids.filter(isAlive), []);
      await tmp.remove();
    }
  });
});
