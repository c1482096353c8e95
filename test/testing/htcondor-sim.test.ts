import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CommandResult } from '../../src/launchers/batch/scheduler-kit.js';
import { htcondorOptionFields } from '../../src/launchers/htcondor/options.js';
import { parseCondorSubmitOutput, queryHtcondorJobState } from '../../src/launchers/htcondor/parse.js';
import { htcondorScript } from '../../src/launchers/htcondor/script.js';
import { startBatchSim, type BatchSim } from '../support/batch-sims.js';
import { waitUntil } from '../support/cluster.js';
import { survivors } from '../support/hpc-sim.js';

function runnerFor(sim: BatchSim) {
  return async (argv: readonly string[]): Promise<CommandResult> => {
    const r = await sim.run(argv[0]!, argv.slice(1));
    return { command: argv, exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

describe('htcondor simulator', () => {
  let sim: BatchSim;
  before(async () => {
    sim = await startBatchSim('htcondor', { TSPARALLEL_SIM_GRACE_MS: '500' });
    mkdirSync(path.join(sim.workDir, 'log')); // a profile has its log/ directory; HTCondor refuses a log file elsewhere
  });
  after(async () => {
    assert.deepEqual(await sim.remove(), [], 'the simulator left processes behind');
  });

  test('queue n: processes numbered by $(Process), environment and getenv reach them, condor_rm stops them', async () => {
    const code = `const [p] = process.argv.slice(-1), fs = require('fs'), f = require('path').join(${JSON.stringify(sim.workDir)}, "task-" + p); fs.writeFileSync(f + '.tmp', [p, process.env.MARK, process.env.FROM_SUBMITTER, process.pid].join('|')); fs.renameSync(f + '.tmp', f); setInterval(() => {}, 1000);`;
    const description = htcondorScript(
      { role: 'engines', n: 3, jobName: 'tsp-engines', command: [process.execPath, '-e', code, '$(Process)'], env: { MARK: "it's exported" }, profileDir: sim.workDir, clusterId: 'c1' },
      htcondorOptionFields.parse({ requirements: '(OpSys == "LINUX")' }),
    );
    const file = path.join(sim.workDir, 'engines.sub');
    writeFileSync(file, description);
    sim.pause();
    const submit = await sim.run('condor_submit', [file], { env: { FROM_SUBMITTER: 'inherited' } });
    assert.equal(submit.status, 0, submit.stderr);
    assert.match(submit.stdout, /^Submitting job\(s\)\.\.\.\n3 job\(s\) submitted to cluster \d+\.\n$/);
    const id = parseCondorSubmitOutput(submit.stdout);
    const run = runnerFor(sim);
    assert.deepEqual(await queryHtcondorJobState(id, run), { id, state: 'queued', rawState: 'Idle' });
    assert.match(readFileSync(path.join(sim.workDir, 'log', `tsp-engines-${id}.log`), 'utf8'), new RegExp(`^000 \\(${id.padStart(3, '0')}\\.002\\.000\\) .* Job submitted from host`, 'm'));

    sim.resume();
    await waitUntil(() => [0, 1, 2].every((p) => existsSync(path.join(sim.workDir, `task-${p}`))), 15_000, 'every process to start');
    assert.equal((await queryHtcondorJobState(id, run)).state, 'running');
    const pids = [0, 1, 2].map((p) => {
      const [index, mark, inherited, pid] = readFileSync(path.join(sim.workDir, `task-${p}`), 'utf8').split('|');
      assert.deepEqual([index, mark, inherited], [String(p), "it's exported", 'inherited']);
      return Number(pid);
    });
    const table = await sim.run('condor_q', [id, '-nobatch']);
    assert.match(table.stdout, new RegExp(`^ ${id}\\.1 .* R  `, 'm'));
    assert.match(table.stdout, /^3 jobs; 0 completed, 0 removed, 0 idle, 3 running, 0 held, 0 suspended$/m);

    const rm = await sim.run('condor_rm', [id]);
    assert.equal(rm.status, 0);
    assert.equal(rm.stdout, `All jobs in cluster ${id} have been marked for removal\n`);
    await waitUntil(async () => (await queryHtcondorJobState(id, run)).state === 'cancelled', 15_000, 'the cluster to be removed');
    assert.deepEqual(await survivors([...pids, ...sim.pids()], 10_000), []);
    assert.equal((await sim.run('condor_q', [id, '-af', 'JobStatus'])).stdout, '', 'removed processes left the queue');
    const again = await sim.run('condor_rm', [id]);
    assert.equal(again.status, 1);
    assert.equal(again.stderr, `Couldn't find/remove all jobs in cluster ${id}\n`);
  });

  test('a controller that exits by itself goes to the history with its ExitCode; output and error files', async () => {
    const description = htcondorScript(
      { role: 'controller', n: 1, jobName: 'tsp-ctl', command: [process.execPath, '-e', 'console.log("out"); console.error("err"); process.exit(5)'], env: {}, profileDir: sim.workDir, clusterId: '' },
      htcondorOptionFields.parse({}),
    );
    const file = path.join(sim.workDir, 'ctl.sub');
    writeFileSync(file, description);
    const id = parseCondorSubmitOutput((await sim.run('condor_submit', [file])).stdout);
    await waitUntil(async () => (await queryHtcondorJobState(id, runnerFor(sim))).state === 'failed', 15_000, 'the job to fail');
    assert.equal((await queryHtcondorJobState(id, runnerFor(sim))).exitCode, 5);
    assert.equal((await sim.run('condor_history', [id, '-af', 'JobStatus', 'ExitCode'])).stdout, '4 5\n');
    assert.equal(readFileSync(path.join(sim.workDir, 'log', `tsp-ctl-${id}.0.out`), 'utf8'), 'out\n');
    assert.equal(readFileSync(path.join(sim.workDir, 'log', `tsp-ctl-${id}.0.err`), 'utf8'), 'err\n');
  });

  test('refusals: no executable, a missing executable, no queue statement', async () => {
    const write = (name: string, text: string) => {
      const f = path.join(sim.workDir, name);
      writeFileSync(f, text);
      return f;
    };
    let r = await sim.run('condor_submit', [write('a.sub', 'arguments = x\nqueue\n')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /No 'executable' parameter was provided/);
    r = await sim.run('condor_submit', [write('b.sub', 'executable = /no/such/program\nqueue\n')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Executable file \/no\/such\/program does not exist/);
    r = await sim.run('condor_submit', [write('l.sub', 'executable = /bin/true\nlog = /no/such/dir/x.log\nqueue\n')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Invalid log file/);
    r = await sim.run('condor_submit', [write('c.sub', 'executable = /bin/true\n')]);
    assert.equal(r.status, 1);
    assert.doesNotMatch(r.stdout, /submitted to cluster/);
  });
});
