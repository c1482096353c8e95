/**
 * The `ssh` launcher against a REAL OpenSSH sshd: by default one the test starts on 127.0.0.1 with generated keys
 * (test/support/sshd.ts), reached as `node1` and `node2` through a generated ssh config. The suite takes its target as
 * a parameter ({@link sshLauncherSuite}) so the rig of simulated hosts can run it against sshd in network namespaces.
 *
 * Covered: the seed's map on engines of node1 and node2, the key on no command line, a remote engine's real exit
 * code (and a task's process.exit(3) reported as such), per-engine stop/signal/restart, stop and Ctrl-C leaving nothing (every pid checked), a refused host and an
 * old Node named in the LauncherError, and a controller placed on a host with `controllerHost`.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, createCluster, range, type Cluster } from '../../../src/index.js';
import { EngineDiedError, LauncherError } from '../../../src/core/errors.js';
import type { ExitInfo } from '../../../src/core/launcher.js';
import { parseProbe, parseSshHost, shQuote, wrapperScript } from '../../../src/launchers/ssh/remote.js';
import { FAST_HEARTBEAT, isAlive, tempDir, waitUntil } from '../../support/cluster.js';
import { cliEnv, startCli } from '../../support/cli-run.js';
import { sshdSkip, startTestSshd, type SshTarget } from '../../support/sshd.js';

describe('ssh launcher: pure parts', () => {
  it('quotes for sh, parses host keys, and refuses an old Node by name', () => {
    assert.equal(shQuote('plain/path-1.js'), 'plain/path-1.js');
    assert.equal(shQuote("it's"), `'it'\\''s'`);
    assert.deepEqual(parseSshHost('user@node2:2222'), { name: 'user@node2:2222', destination: 'user@node2', port: 2222 });
    assert.deepEqual(parseSshHost('node1'), { name: 'node1', destination: 'node1', port: undefined });
    assert.deepEqual(parseSshHost('[::1]:22'), { name: '[::1]:22', destination: '::1', port: 22 });
    assert.throws(() => parseSshHost('node:99999'), /bad port/);
    assert.throws(() => parseProbe('node3', 'node', { code: 0, stdout: 'HOME=/root\nNODE=18.19.0\nHOST=n3\n', stderr: '' }), /host 'node3' runs Node 18\.19\.0.*Node >= 20/);
    assert.throws(() => parseProbe('node3', 'node', { code: 127, stdout: 'HOME=/root\n', stderr: 'sh: node: not found' }), /host 'node3' has no usable Node.js.*not found/);
  });

  it('reads secrets from stdin, execs the command after setup, and records the exit code', () => {
    const script = wrapperScript({
      secretEnv: ['TSPARALLEL_CONNECTION_INFO'], env: { A: "x y'z" }, setup: 'source ~/venv/bin/activate',
      command: ['/usr/bin/node', '/opt/tsengine.js'], workDir: '/home/u/.tsparallel/profile_default', exitFile: '/home/u/.tsparallel/profile_default/log/e.exit', graceSeconds: 5,
    });
    assert.match(script, /IFS= read -r TSPARALLEL_CONNECTION_INFO \|\| exit 96; export TSPARALLEL_CONNECTION_INFO/);
    assert.match(script, /A='x y'\\''z'; export A/);
    assert.match(script, /\( source ~\/venv\/bin\/activate\nexec \/usr\/bin\/node \/opt\/tsengine.js <\/dev\/null 1>&2 3<&- \) &/);
    assert.match(script, /echo \$code > \/home\/u\/\.tsparallel\/profile_default\/log\/e\.exit/);
    assert.throws(() => wrapperScript({ secretEnv: ['BAD NAME'], env: {}, command: ['x'], workDir: '/', exitFile: '/x', graceSeconds: 1 }), /not a valid environment variable name/);
  });
});

/**
 * The ssh launcher's end-to-end tests against `target()`: hosts[0] and hosts[1] must be distinct aliases of hosts
 * that run this installation at the same path (a shared file system, or the same machine).
 */
export function sshLauncherSuite(name: string, target: () => Promise<SshTarget>, skip: string | false): void {
  describe(name, { skip }, () => {
    let t: SshTarget;
    let tmp: Awaited<ReturnType<typeof tempDir>>;
    let cluster: Cluster | undefined;
    const exits: (ExitInfo & { launcher: string })[] = [];
    const seen = new Set<number>();

    const config = (profileDir: string, hosts: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
      profileDir,
      projectDir: null,
      // Engines reach the controller over loopback here (the rig uses its namespace addresses).
      controller: { ip: '127.0.0.1', ...FAST_HEARTBEAT },
      engines: { launcher: 'ssh', startTimeoutMs: 60_000 },
      launchers: { ssh: { hosts, sshConfig: t.sshConfig, graceMs: 3000, ...extra } },
    });

    before(async () => {
      t = await target();
      tmp = await tempDir();
    });
    after(async () => {
      await cluster?.stop();
      for (const pid of seen) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await t?.close();
      await tmp?.remove();
    });

    it('starts engines on two hosts (filled in order) that run the seed map, with the key on no command line', async () => {
      const [h1, h2] = t.hosts;
      cluster = await createCluster({ ...config(path.join(tmp.dir, 'p1'), { [h1!]: 2, [h2!]: { n: 3, env: { TSP_HOST_TAG: 'second' } } }), n: 4 });
      cluster.onEngineExit((e) => exits.push(e));
      cluster.pids.forEach((p) => seen.add(p));
      const client = await cluster.connect();
      client.engines.forEach((e) => seen.add(e.pid));
      assert.deepEqual([...client.ids].sort(), [0, 1, 2, 3]);
      assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), range(15).map((x) => x ** 10));
      const tags = (await client.view().apply(() => process.env.TSP_HOST_TAG ?? 'first')) as string[];
      assert.deepEqual([...tags].sort(), ['first', 'first', 'second', 'second'], '2 engines on the first host, the other 2 on the second');
      const key = JSON.parse(readFileSync(cluster.engineConnectionFile, 'utf8')).key as string;
      for (const pid of [...cluster.pids, ...[...client.engines.values()].map((e) => e.pid)]) {
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        } catch {
          continue; // on another host (the rig): its command line is checked there
        }
        assert.ok(!cmdline.includes(key), `the key is not on the command line of pid ${pid}`);
      }
    });

    it("reports a remote process's real exit code (the wrapper's $?), not ssh's", async () => {
      const [h1] = t.hosts;
      const command = [process.execPath, '-e', 'process.exitCode = 3', '--']; // '--': the engine arguments that follow are the script's, not node's
      await assert.rejects(createCluster({ ...config(path.join(tmp.dir, 'p5'), { [h1!]: { n: 1, command } }), n: 1 }), (err: unknown) => {
        assert.ok(err instanceof LauncherError, String(err));
        assert.equal(err.exitCode, 3, err.message);
        return true;
      });
    });

    it('restarts, signals and stops one remote engine', async () => {
      const client = await cluster!.connect();
      const old = client.engines.get(2)!;
      await cluster!.restartEngine(2);
      await waitUntil(() => client.engines.get(2)?.pid !== undefined && client.engines.get(2)!.pid !== old.pid, 10_000, 'the client sees the new engine 2');
      const fresh = client.engines.get(2)!;
      seen.add(fresh.pid);
      assert.equal(fresh.hostname, old.hostname, 'restarted on the same host');
      if (isAlive(old.pid)) assert.fail(`the old engine 2 (pid ${old.pid}) is still running`);
      assert.equal(await client.view(2).apply(() => 40 + 2), 42);
      await cluster!.signalEngine(2, 'SIGKILL');
      await waitUntil(() => exits.some((e) => e.id.endsWith(`:${fresh.pid}`)), 20_000, 'the killed engine is reported');
      assert.equal(exits.find((e) => e.id.endsWith(`:${fresh.pid}`))!.signal, 'SIGKILL');
      const three = client.engines.get(3)!;
      await cluster!.stopEngine(3);
      await waitUntil(() => exits.some((e) => e.id.endsWith(`:${three.pid}`)), 20_000, 'the stopped engine is reported');
      assert.equal(exits.find((e) => e.id.endsWith(`:${three.pid}`))!.code, 0, 'a stopped engine exits cleanly');
      await assert.rejects(cluster!.stopEngine(99), (err: unknown) => err instanceof LauncherError && /engine 99 is not registered/.test(err.message));
    });

    it("a task's process.exit(3) on a remote engine: EngineDiedError with exitCode 3, and the wrapper's code 3 from the launcher", async () => {
      const client = await cluster!.connect();
      const victim = client.engines.get(1)!;
      await new Promise((r) => setTimeout(r, 1000)); // its heart is up (process.exit used to abort then)
      await assert.rejects(client.view(1).apply(() => process.exit(3)), (err: unknown) => {
        assert.ok(err instanceof EngineDiedError, String(err));
        assert.equal(err.exitCode, 3, err.message);
        return true;
      });
      await waitUntil(() => exits.some((e) => e.id.endsWith(`:${victim.pid}`)), 20_000, 'the engine is reported');
      const info = exits.find((e) => e.id.endsWith(`:${victim.pid}`))!;
      assert.deepEqual({ code: info.code, signal: info.signal }, { code: 3, signal: null }, info.stderrTail);
      assert.doesNotMatch(info.stderrTail ?? '', /Napi::Error|terminate called/);
    });

    it('stop leaves nothing: every ssh process here and every engine there', async () => {
      const client = await cluster!.connect();
      const engines = [...client.engines.values()].map((e) => e.pid);
      const local = [...cluster!.pids];
      await cluster!.stop();
      cluster = undefined;
      for (const pid of [...local, ...engines]) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
    });

    it('a host that refuses the connection is a LauncherError naming it and what ssh said', async (ctx) => {
      const bad = t.refusedHost;
      if (!bad) return ctx.skip('the target defines no host that refuses connections');
      await assert.rejects(createCluster({ ...config(path.join(tmp.dir, 'p2'), { [bad]: 1 }), n: 1 }), (err: unknown) => {
        assert.ok(err instanceof LauncherError, String(err));
        assert.match(err.message, new RegExp(`ssh host '${bad}'`));
        assert.match(err.message, /Connection refused|connect to host/);
        return true;
      });
    });

    it('a host whose node is older than 20 is a LauncherError naming the host and the version', async () => {
      // A stand-in `node` that answers the probe as Node 18 would (this machine has only Node 20).
      const fake = path.join(tmp.dir, 'old-node', 'node');
      await mkdir(path.dirname(fake), { recursive: true });
      await writeFile(fake, '#!/bin/sh\nprintf "NODE=18.19.1\\nHOST=old\\n"\n');
      await chmod(fake, 0o755);
      const [h1] = t.hosts;
      await assert.rejects(createCluster({ ...config(path.join(tmp.dir, 'p3'), { [h1!]: { n: 1, command: [fake, '/nowhere/tsengine.js'] } }), n: 1 }), (err: unknown) => {
        assert.ok(err instanceof LauncherError, String(err));
        assert.match(err.message, new RegExp(`host '${h1}' runs Node 18\\.19\\.1`));
        return true;
      });
    });

    it('places the controller on a host with controllerHost (shared file system)', async () => {
      const [h1, h2] = t.hosts;
      const c = await createCluster({
        ...config(path.join(tmp.dir, 'p4'), { [h2!]: 2 }, { controllerHost: h1, sharedFilesystem: true }),
        controller: { launcher: 'ssh', ip: '127.0.0.1', ...FAST_HEARTBEAT },
        n: 2,
      });
      const pids = [...c.pids];
      const client = await c.connect();
      const engines = [...client.engines.values()].map((e) => e.pid);
      const controllerPid = JSON.parse(readFileSync(c.engineConnectionFile, 'utf8')).controller.pid as number;
      [...pids, ...engines, controllerPid].forEach((p) => seen.add(p));
      assert.deepEqual(await client.view().apply(() => 7), [7, 7]);
      await c.stop();
      for (const pid of [...pids, ...engines, controllerPid]) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
    });

    it('Ctrl-C on `tscluster start` leaves nothing on any host', async () => {
      const [h1, h2] = t.hosts;
      const profileDir = path.join(tmp.dir, 'profile_ssh');
      await mkdir(profileDir, { recursive: true });
      const { profileDir: _p, projectDir: _q, ...file } = config(profileDir, { [h1!]: 1, [h2!]: 1 });
      await writeFile(path.join(profileDir, 'tsparallel.config.json'), JSON.stringify(file));
      const start = startCli(['start', '-n', '2', '--profile', 'ssh'], cliEnv(tmp.dir));
      seen.add(start.pid);
      await start.waitForOutput(/is running/, 60_000);
      const client = await Client.connect({ profileDir });
      const engines = [...client.engines.values()].map((e) => e.pid);
      await client.close();
      const recorded = JSON.parse(readFileSync(path.join(profileDir, 'security', 'cluster.json'), 'utf8')) as { launchers: { engines: { pids: number[] }[] } };
      const local = recorded.launchers.engines.flatMap((l) => l.pids);
      assert.equal(engines.length, 2);
      [...engines, ...local].forEach((p) => seen.add(p));
      start.child.kill('SIGINT');
      const { code } = await start.exited;
      assert.equal(code, 0, start.output());
      for (const pid of [...engines, ...local]) assert.equal(isAlive(pid), false, `pid ${pid} is gone`);
    });
  });
}

const skip = sshdSkip();
sshLauncherSuite('ssh launcher with a real sshd on 127.0.0.1 (hosts node1, node2)', () => startTestSshd(['node1', 'node2']), skip);
