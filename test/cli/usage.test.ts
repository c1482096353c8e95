/**
 * The command line itself: `--help`, `--version`, `--log-level` on every subcommand, exit code 2 for usage errors
 * (with a helpful message), and `tscluster profile create | list | locate`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { repoRoot, tempDir } from '../support/cluster.js';
import { cliEnv, runCli } from '../support/cli-run.js';

const SUBCOMMANDS = ['profile', 'start', 'stop', 'engines', 'list', 'config', 'shell'];

describe('tscluster usage', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    tmp = await tempDir('tsparallel-cli-');
    env = cliEnv(tmp.dir);
  });
  after(() => tmp.remove());

  it('--help lists the subcommands; --version prints the package version', async () => {
    const help = await runCli(['--help'], env);
    assert.equal(help.code, 0);
    for (const name of SUBCOMMANDS) assert.match(help.stdout, new RegExp(`^  ${name}\\s`, 'm'));
    const pkg = JSON.parse(await readFile(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string };
    const version = await runCli(['--version'], env);
    assert.equal(version.code, 0);
    assert.equal(version.stdout.trim(), pkg.version);
  });

  it('every subcommand has --help, --version and --log-level', async () => {
    for (const name of SUBCOMMANDS) {
      const help = await runCli([name, '--help'], env);
      assert.equal(help.code, 0, `${name} --help`);
      assert.match(help.stdout, new RegExp(`^Usage: tscluster ${name}`), `${name} --help`);
      assert.match(help.stdout, /--log-level/);
      const version = await runCli([name, '--version'], env);
      assert.equal(version.code, 0);
      assert.match(version.stdout, /^\d+\.\d+\.\d+/);
    }
    const bad = await runCli(['list', '--log-level', 'loud'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--log-level takes debug, info, warn or error, got 'loud'/);
    const quiet = await runCli(['profile', 'create', 'quiet', '--log-level', 'warn'], env);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, '', '--log-level warn hides the info lines');
  });

  it('usage errors exit 2 with a message that helps', async () => {
    const cases: [string[], RegExp][] = [
      [[], /tscluster needs a command/],
      [['strat'], /unknown command 'strat'; did you mean 'start'\?/],
      [['start', '--profil', 'x'], /unknown option --profil; did you mean --profile\?/],
      [['start', '-n', 'four'], /-n takes a positive whole number \(e\.g\. -n 4\), got 'four'/],
      [['start', '-n', '0'], /-n takes a positive whole number/],
      [['start', 'extra'], /Unexpected argument 'extra'/],
      [['start', '--profile', 'bad/name'], /bad profile name 'bad\/name'/],
      [['engines'], /tscluster engines needs -n N/],
      // A negative number after an option is its value, in either spelling, and gets the option's own message.
      [['start', '-n', '-1'], /^ConfigError: -n takes a positive whole number \(e\.g\. -n 4\), got '-1'\n$/],
      [['start', '--n=-1'], /^ConfigError: -n takes a positive whole number \(e\.g\. -n 4\), got '-1'\n$/],
      [['engines', '-n', '-2'], /^ConfigError: -n takes a positive whole number \(e\.g\. -n 4\), got '-2'\n$/],
      [['stop', '--timeout-ms', '-5'], /^ConfigError: --timeout-ms takes a positive whole number \(e\.g\. --timeout-ms 4\), got '-5'\n$/],
      [['dashboard', '--port', '-1'], /^ConfigError: --port takes a port number from 0 to 65535 \(0: any free port\), got '-1'\n$/],
      [['start', '-n', '--profile', 'x'], /Option '-n' argument is ambiguous/],
      [['profile'], /tscluster profile needs an action: create, list, locate/],
      [['profile', 'crate'], /unknown action 'profile crate'; did you mean 'profile create'\?/],
      [['profile', 'locate'], /needs a profile name/],
      [['config'], /tscluster config takes one action, show/],
      [['config', 'shwo'], /did you mean 'show'\?/],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args, env);
      assert.equal(result.code, 2, `tscluster ${args.join(' ')} should be a usage error: ${result.stderr}`);
      assert.match(result.stderr, message, `tscluster ${args.join(' ')}`);
    }
  });

  it('profile create writes the directories and a commented config file, printing each path', async () => {
    const created = await runCli(['profile', 'create', 'mycluster'], env);
    assert.equal(created.code, 0, created.stderr);
    const dir = path.join(tmp.dir, 'profile_mycluster');
    for (const p of [dir, path.join(dir, 'security'), path.join(dir, 'log'), path.join(dir, 'pid'), path.join(dir, 'tsparallel.config.mjs')]) {
      assert.ok(existsSync(p), p);
      assert.ok(created.stdout.includes(`: ${p}\n`), `prints ${p}`);
    }
    assert.match(created.stdout, /Generating config file: .*tsparallel\.config\.mjs/);
    assert.match(await readFile(path.join(dir, 'tsparallel.config.mjs'), 'utf8'), /\/\/ n: /);
    const again = await runCli(['profile', 'create', 'mycluster'], env);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already has .*tsparallel\.config\.mjs.*--overwrite/);
    const defaulted = await runCli(['profile', 'create'], env);
    assert.equal(defaulted.code, 0, defaulted.stderr);
    assert.ok(existsSync(path.join(tmp.dir, 'profile_default', 'tsparallel.config.mjs')));
  });

  it('a profile given by --profile-dir is named by its directory in every hint, never as another profile', async () => {
    const dir = path.join(tmp.dir, 'elsewhere', 'p1');
    const created = await runCli(['profile', 'create', 'mycluster', '--profile-dir', dir], env);
    assert.equal(created.code, 0, created.stderr);
    assert.ok(created.stdout.includes(`then start a cluster with \`tscluster start --profile mycluster --profile-dir ${dir}\``), created.stdout);
    const again = await runCli(['profile', 'create', 'mycluster', '--profile-dir', dir], env);
    assert.equal(again.code, 2);
    assert.ok(again.stderr.includes(`profile 'mycluster' in ${dir} already has`), again.stderr);
    assert.ok(again.stderr.includes(`tscluster profile create --profile mycluster --profile-dir ${dir} --overwrite`), again.stderr);
    const unnamed = await runCli(['profile', 'create', '--profile-dir', path.join(tmp.dir, 'elsewhere', 'p2')], env);
    assert.ok(unnamed.stdout.includes(`\`tscluster start --profile-dir ${path.join(tmp.dir, 'elsewhere', 'p2')}\``), unnamed.stdout);
    const nodir = path.join(tmp.dir, 'elsewhere', 'nodir');
    const shown = await runCli(['config', 'show', '--profile-dir', nodir], env);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(shown.stdout.split('\n')[0], `# profile ${nodir} (not created yet: tscluster profile create --profile-dir ${nodir})`);
    for (const r of [created, again, unnamed, shown]) assert.doesNotMatch(r.stdout + r.stderr, /profile 'default'|--profile default/);
  });

  it('profile list and profile locate', async () => {
    await runCli(['profile', 'create', 'other'], env);
    const listed = await runCli(['profile', 'list'], env);
    assert.equal(listed.code, 0);
    const names = listed.stdout.trim().split('\n').map((l) => l.split(/\s+/)[0]);
    for (const n of ['default', 'mycluster', 'other']) assert.ok(names.includes(n), listed.stdout);
    assert.match(listed.stdout, new RegExp(`^other\\s+${path.join(tmp.dir, 'profile_other').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    const located = await runCli(['profile', 'locate', 'mycluster'], env);
    assert.equal(located.code, 0);
    assert.equal(located.stdout, path.join(tmp.dir, 'profile_mycluster') + '\n');
    const missing = await runCli(['profile', 'locate', 'mycluter'], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /no profile 'mycluter'.*did you mean 'mycluster'\?/);
  });
});
