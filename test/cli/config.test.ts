/**
 * `tscluster config show`, and bad config files: `tscluster start` with an unknown key or a wrong type exits 2 with a
 * message naming the file and the key, before any process starts.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../support/cluster.js';
import { cliEnv, runCli } from '../support/cli-run.js';

describe('tscluster config show and bad config files', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  const writeProfileConfig = async (profile: string, text: string) => {
    const dir = path.join(tmp.dir, `profile_${profile}`);
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'tsparallel.config.mjs');
    await writeFile(file, text);
    return file;
  };
  before(async () => {
    tmp = await tempDir('tsparallel-cli-');
    env = cliEnv(tmp.dir);
  });
  after(() => tmp.remove());

  it('config show prints each value and where it came from', async () => {
    const file = await writeProfileConfig('shown', `export default { n: 3, launchers: { 'windows-hpc': { scheduler: 'HEADNODE' } } };\n`);
    const shown = await runCli(['config', 'show', '--profile', 'shown'], cliEnv(tmp.dir, { TSPARALLEL_CONTROLLER_IP: '0.0.0.0' }));
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, new RegExp(`^# profile config file: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(shown.stdout, new RegExp(`^n = 3\\s+# ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.match(shown.stdout, /^launchers\.windows-hpc\.scheduler = 'HEADNODE'\s+# .*tsparallel\.config\.mjs$/m);
    assert.match(shown.stdout, /^controller\.ip = '0\.0\.0\.0'\s+# env TSPARALLEL_CONTROLLER_IP$/m);
    assert.match(shown.stdout, /^controller\.launcher = 'local'\s+# default$/m);
    const json = JSON.parse((await runCli(['config', 'show', '--profile', 'shown', '--json'], env)).stdout) as { config: { n: number }; sources: Record<string, { kind: string }> };
    assert.equal(json.config.n, 3);
    assert.equal(json.sources.n?.kind, 'profile');
  });

  it('an unknown key: exit 2, naming the file, the key and the key it probably meant', async () => {
    const file = await writeProfileConfig('typo', `export default { n: 2, controller: { heartbeatMS: 500 } };\n`);
    const result = await runCli(['start', '--profile', 'typo'], env);
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(file), result.stderr);
    assert.match(result.stderr, /controller\.heartbeatMS: unknown key/);
    assert.match(result.stderr, /did you mean 'controller\.heartbeatMs'\?/);
    // Nothing was started: no process wrote a log or a connection file.
    assert.deepEqual(await readdir(path.join(tmp.dir, 'profile_typo', 'security')).catch(() => []), []);
  });

  it('a wrong type: exit 2, naming the file, the key, what was given and what is allowed', async () => {
    const file = await writeProfileConfig('wrongtype', `export default { n: 'four' };\n`);
    for (const args of [['start', '--profile', 'wrongtype'], ['start', '--profile', 'wrongtype', '--daemonize'], ['config', 'show', '--profile', 'wrongtype']]) {
      const result = await runCli(args, env);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.ok(result.stderr.includes(file), result.stderr);
      assert.match(result.stderr, /n: given 'four'; allowed: a positive integer/);
    }
  });

  it('a config file that does not load: exit 2 naming the file', async () => {
    const file = await writeProfileConfig('broken', `export default { n: 2,, };\n`);
    const result = await runCli(['start', '--profile', 'broken'], env);
    assert.equal(result.code, 2, result.stderr);
    assert.ok(result.stderr.includes(file), result.stderr);
  });
});
