/**
 * `tscluster doctor`: a sound local profile passes; a remote engine launcher with a loopback controller address, and a
 * key file others can read, are problems with their fixes; `--probe` starts a controller and one engine through the
 * configured launchers, reports how the engine reached the controller, and leaves no process behind.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAlive, tempDir } from '../support/cluster.js';
import { cliEnv, runCli } from '../support/cli-run.js';

/** `text` as a literal inside a RegExp. */
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('tscluster doctor', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  const profile = async (name: string, config?: object) => {
    const dir = path.join(tmp.dir, `profile_${name}`);
    await mkdir(path.join(dir, 'security'), { recursive: true });
    if (config) await writeFile(path.join(dir, 'tsparallel.config.mjs'), `export default ${JSON.stringify(config)};\n`);
    return dir;
  };
  before(async () => {
    tmp = await tempDir('tsparallel-doctor-');
    env = cliEnv(tmp.dir);
  });
  after(() => tmp.remove());

  it('finds no problem in a local profile', async () => {
    await profile('plain');
    const result = await runCli(['doctor', '--profile', 'plain'], env);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /ok\s+launchers: controller 'local' \(this host\), engines 'local' \(this host\)/);
    assert.match(result.stdout, /no problem found/);
  });

  it("reports options under 'launchers' for a launcher nobody registered, with the name meant", async () => {
    await profile('typo', { launchers: { lokal: { spawner: 'always' } } });
    const result = await runCli(['doctor', '--profile', 'typo'], env);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /PROBLEM\s+launchers\.lokal: no launcher 'lokal' is registered \(did you mean 'local'\?\)/);
    assert.match(result.stdout, /fix: correct the name under 'launchers'/);
  });

  it('reports a loopback address for remote engines and a key file others can read, each with its fix', async () => {
    const dir = await profile('remote', {
      controller: { ip: '127.0.0.1' },
      engines: { launcher: 'windows-hpc' },
      launchers: { 'windows-hpc': { scheduler: 'HEADNODE' } },
    });
    const leaky = path.join(dir, 'security', 'tsparallel-client.json');
    await writeFile(leaky, '{}\n');
    await chmod(leaky, 0o644);
    const result = await runCli(['doctor', '--profile', 'remote'], env);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /PROBLEM .*engines\.launcher 'windows-hpc' places roles on other hosts, but the controller advertises a loopback address/);
    assert.match(result.stdout, /fix: remove controller\.ip/);
    assert.match(result.stdout, new RegExp(`PROBLEM .*tsparallel-client\\.json holds the cluster's key but has mode 0644\\n\\s+fix: chmod 600 '${escape(leaky)}'`));
    assert.match(result.stdout, /2 problems found/);
  });

  it("with controller.ip '0.0.0.0', reports the address engines will dial, not the wildcard", async () => {
    // What the controller advertises for a wildcard bind, worked out here independently of src/wire/address.ts.
    const external = Object.values(networkInterfaces()).flat().find((a) => a?.family === 'IPv4' && !a.internal)?.address;
    const expected = external
      ? `${escape(external)} \\(controller\\.ip 0\\.0\\.0\\.0: all interfaces, this host's first external address\\)`
      : `${escape(hostname())} \\(controller\\.ip 0\\.0\\.0\\.0: all interfaces, this host's name: it has no external IPv4 address\\)`;
    // The controller runs here (local launcher) while the engines run elsewhere, and when everything is local.
    for (const [name, engines] of [['wild-remote', { launcher: 'windows-hpc' }], ['wild-local', {}]] as const) {
      await profile(name, { controller: { ip: '0.0.0.0' }, engines, launchers: { 'windows-hpc': { scheduler: 'HEADNODE' } } });
      const result = await runCli(['doctor', '--profile', name], env);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stdout, new RegExp(`ok\\s+advertised address: ${expected}\\n`), result.stdout);
    }
    // The README's Windows HPC profile: the controller runs on a node of the cluster, which decides there.
    await profile('wild-hpc', { controller: { launcher: 'windows-hpc', ip: '0.0.0.0' }, engines: { launcher: 'windows-hpc' }, launchers: { 'windows-hpc': { scheduler: 'HEADNODE' } } });
    const hpc = await runCli(['doctor', '--profile', 'wild-hpc'], env);
    assert.equal(hpc.code, 0, hpc.stdout + hpc.stderr);
    assert.match(hpc.stdout, /ok\s+advertised address: the first non-internal IPv4 address of the controller's host, else its name \(controller\.ip 0\.0\.0\.0: all interfaces; decided on the host the controller runs on\)\n/);
    assert.doesNotMatch(hpc.stdout, /advertised address: 0\.0\.0\.0/);
  });

  it('reports a profile that does not exist, with how to create it, and checks nothing else', async () => {
    await profile('existing');
    const byName = await runCli(['doctor', '--profile', 'nosuch'], env);
    assert.equal(byName.code, 1, byName.stdout + byName.stderr);
    assert.match(byName.stdout, new RegExp(`PROBLEM  no profile 'nosuch' in ${escape(tmp.dir)} \\(existing: [^)]*existing[^)]*\\)\\n\\s+fix: create it with \`tscluster profile create nosuch\``));
    assert.doesNotMatch(byName.stdout, /^ok/m);
    assert.match(byName.stdout, /1 problem found/);

    const missing = path.join(tmp.dir, 'x', 'nodir');
    const byDir = await runCli(['doctor', '--profile-dir', missing], env);
    assert.equal(byDir.code, 1, byDir.stdout + byDir.stderr);
    assert.match(byDir.stdout, new RegExp(`PROBLEM  no profile directory ${escape(missing)}\\n\\s+fix: create it with \`tscluster profile create --profile-dir ${escape(missing)}\``));
    assert.doesNotMatch(byDir.stdout, /^ok/m);
  });

  it('names a profile given by --profile-dir by its directory; without a config file it is a valid profile with defaults', async () => {
    const dir = path.join(tmp.dir, 'elsewhere');
    await mkdir(dir, { recursive: true });
    const result = await runCli(['doctor', '--profile-dir', dir], env);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`ok\\s+configuration of profile ${escape(dir)} loads \\(no profile config file\\)`));
    assert.doesNotMatch(result.stdout, /profile 'default'/);
  });

  it('--timeout-ms takes a positive whole number: anything else is a usage error (exit 2), with or without --probe', async () => {
    await profile('timed');
    for (const args of [['--probe', '--timeout-ms', 'x'], ['--probe', '--timeout-ms', '0'], ['--probe', '--timeout-ms', '1.5'], ['--probe', '--timeout-ms=-3'], ['--timeout-ms', 'x']]) {
      const result = await runCli(['doctor', '--profile', 'timed', ...args], env);
      assert.equal(result.code, 2, `doctor ${args.join(' ')}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, /--timeout-ms takes a positive whole number \(e\.g\. --timeout-ms 4\), got '/);
      assert.doesNotMatch(result.stdout, /probe:/, 'no probe was started');
    }
  });

  it('--probe starts one engine through the configured launchers and reports how it reached the controller', async () => {
    const dir = await profile('probed');
    const result = await runCli(['doctor', '--profile', 'probed', '--probe'], env, { timeoutMs: 120_000 });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const m = /ok\s+probe: an engine \(pid (\d+)\) on host '[^']+' \(direct endpoint tcp:\/\/127\.0\.0\.1:\d+\) reached the controller at tcp:\/\/127\.0\.0\.1:\d+ \d+ ms after the start/.exec(result.stdout);
    assert.ok(m, result.stdout);
    assert.equal(isAlive(Number(m[1])), false, 'the probe engine is gone');
    assert.deepEqual((await readdir(path.join(dir, 'security'))).filter((f) => f.includes('doctor')), [], 'the probe cluster removed its files');
  });
});
