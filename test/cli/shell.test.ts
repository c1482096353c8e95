/**
 * `tscluster shell` with piped stdin: the seed's session typed at the prompt (`client.ids`, a map of `x ** 10` over
 * `range(15)`), `.px` on every engine, `.engines`, and the lines running one after another.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAlive, tempDir } from '../support/cluster.js';
import { cliEnv, clusterPids, killAll, runCli, startCli, waitForGone, type CliProcess } from '../support/cli-run.js';

const SEED = [0, 1, 1024, 59049, 1048576, 9765625, 60466176, 282475249, 1073741824, 3486784401, 10000000000, 25937424601, 61917364224, 137858491849, 289254654976];

describe('tscluster shell', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let env: NodeJS.ProcessEnv;
  let start: CliProcess;
  let pids: number[] = [];

  before(async () => {
    tmp = await tempDir('tsparallel-cli-');
    env = cliEnv(tmp.dir);
    start = startCli(['start', '-n', '2', '--profile', 'mycluster'], env);
    await start.waitForOutput(/is running/);
    pids = await clusterPids(path.join(tmp.dir, 'profile_mycluster', 'security', 'cluster.json'));
  });
  after(async () => {
    start.child.kill('SIGINT');
    await start.exited;
    await waitForGone(pids).catch(() => killAll(pids));
    for (const pid of pids) assert.equal(isAlive(pid), false, `process ${pid} survived`);
    await tmp.remove();
  });

  it("runs the seed's session from piped stdin: engine ids, then the map's results", async () => {
    const input = ['client.ids', 'const f = (x) => x ** 10', 'view.map(f, range(15))', 'JSON.stringify(await view.map(x => x ** 10, range(15)))'].join('\n') + '\n';
    const shell = await runCli(['shell', '--profile', 'mycluster'], env, { input });
    assert.equal(shell.code, 0, shell.stderr);
    assert.match(shell.stdout, /connected to cluster \(default\) of profile 'mycluster', engines \[ 0, 1 \]/);
    const answers = shell.stdout.split('tsparallel> ').slice(1);
    assert.equal(answers[0]!.trim(), '[ 0, 1 ]');
    assert.equal(answers[1]!.trim(), 'undefined');
    // The map's value is printed (awaited for the user), as the REPL shows an array of 15 numbers.
    const printed = answers[2]!.match(/\d+/g)!.map(Number);
    assert.deepEqual(printed, SEED);
    assert.equal(answers[3]!.trim(), `'${JSON.stringify(SEED)}'`);
  });

  it('.px runs code on every engine and labels output and results by engine id; .engines lists them', async () => {
    const input = ['.px console.log("pid", process.pid); globalThis.k = 6 * 7; k', '.px k + 1', '.px throw new TypeError("bad " + 1)', '.engines', '.px'].join('\n') + '\n';
    const shell = await runCli(['shell', '--profile', 'mycluster'], env, { input });
    assert.equal(shell.code, 0, shell.stderr);
    const enginePids = pids.slice(2);
    for (const id of [0, 1]) {
      assert.match(shell.stdout, new RegExp(`^(tsparallel> )?\\[stdout:${id}\\] pid (\\d+)$`, 'm'));
      assert.match(shell.stdout, new RegExp(`^(tsparallel> )?\\[${id}\\] 42$`, 'm'));
      assert.match(shell.stdout, new RegExp(`^(tsparallel> )?\\[${id}\\] 43$`, 'm'), 'names persist between .px lines');
      assert.match(shell.stdout, new RegExp(`^(tsparallel> )?\\[${id}\\] \\[engine ${id}\\] TypeError: bad 1$`, 'm'));
      assert.match(shell.stdout, new RegExp(`^  engine ${id}: pid (\\d+) on `, 'm'));
    }
    const printedPids = [...shell.stdout.matchAll(/\[stdout:\d\] pid (\d+)/g)].map((m) => Number(m[1])).sort();
    assert.deepEqual(printedPids, [...enginePids].sort(), 'each engine ran the code in its own process');
    assert.match(shell.stdout, /2 engines/);
    assert.match(shell.stdout, /usage: \.px CODE/);
  });

  it('.exit ends the session (the cluster keeps running)', async () => {
    const shell = await runCli(['shell', '--profile', 'mycluster'], env, { input: '.exit\nclient.ids\n' });
    assert.equal(shell.code, 0, shell.stderr);
    assert.doesNotMatch(shell.stdout, /tsparallel> \[ 0, 1 \]/, "nothing after .exit runs");
    for (const pid of pids) assert.ok(isAlive(pid), `process ${pid} still runs after the shell left`);
  });
});
