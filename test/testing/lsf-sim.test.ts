import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CommandResult } from '../../src/launchers/batch/scheduler-kit.js';
import { lsfOptionFields } from '../../src/launchers/lsf/options.js';
import { parseBsubOutput, queryLsfJobState } from '../../src/launchers/lsf/parse.js';
import { lsfScript } from '../../src/launchers/lsf/script.js';
import { startBatchSim, type BatchSim } from '../support/batch-sims.js';
import { waitUntil } from '../support/cluster.js';
import { survivors } from '../support/hpc-sim.js';

function runnerFor(sim: BatchSim) {
  return async (argv: readonly string[]): Promise<CommandResult> => {
    const r = await sim.run(argv[0]!, argv.slice(1));
    return { command: argv, exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

describe('lsf simulator', () => {
  let sim: BatchSim;
  before(async () => {
    sim = await startBatchSim('lsf', { LSF_SIM_QUEUES: 'normal,short', TSPARALLEL_SIM_GRACE_MS: '500' });
  });
  after(async () => {
    assert.deepEqual(await sim.remove(), [], 'the simulator left processes behind');
  });

  test('bsub < script: an engine array with LSB_JOBINDEX and the environment, bkill stops every process', async () => {
    const code = `const fs = require('fs'), f = require('path').join(${JSON.stringify(sim.workDir)}, 'task-' + process.env.LSB_JOBINDEX); fs.writeFileSync(f + '.tmp', process.env.LSB_JOBINDEX + ' ' + process.env.MARK + ' ' + process.env.FROM_SUBMITTER + ' ' + process.pid); fs.renameSync(f + '.tmp', f); setInterval(() => {}, 1000);`;
    const script = lsfScript(
      { role: 'engines', n: 3, jobName: 'tsp-engines', command: [process.execPath, '-e', code], env: { MARK: 'exported' }, profileDir: sim.workDir, clusterId: 'c1' },
      lsfOptionFields.parse({ queue: 'short', walltime: '30m' }),
    );
    sim.pause();
    const submit = await sim.run('bsub', [], { input: script, env: { FROM_SUBMITTER: 'inherited' } });
    assert.equal(submit.status, 0, submit.stderr);
    assert.match(submit.stdout, /^Job <\d+> is submitted to queue <short>\.\n$/);
    const id = parseBsubOutput(submit.stdout);
    const run = runnerFor(sim);
    const queued = await queryLsfJobState(id, run);
    assert.deepEqual([queued.state, queued.rawState], ['queued', 'PEND']);

    sim.resume();
    await waitUntil(() => [1, 2, 3].every((i) => existsSync(path.join(sim.workDir, `task-${i}`))), 15_000, 'every element to start');
    assert.equal((await queryLsfJobState(id, run)).state, 'running');
    const pids = [1, 2, 3].map((i) => {
      const [index, mark, inherited, pid] = readFileSync(path.join(sim.workDir, `task-${i}`), 'utf8').split(' ');
      assert.deepEqual([index, mark, inherited], [String(i), 'exported', 'inherited']);
      return Number(pid);
    });
    const table = await sim.run('bjobs', [id]);
    assert.match(table.stdout, /^JOBID\s+USER\s+STAT\s+QUEUE\s+FROM_HOST\s+EXEC_HOST\s+JOB_NAME\s+SUBMIT_TIME$/m);
    assert.match(table.stdout, new RegExp(`^${id}\\s+\\S+\\s+RUN\\s+short\\s+.*tsp-engin`, 'm'));

    const kill = await sim.run('bkill', [id]);
    assert.equal(kill.status, 0);
    assert.equal(kill.stdout, `Job <${id}> is being terminated\n`);
    await waitUntil(async () => (await queryLsfJobState(id, run)).state === 'cancelled', 15_000, 'the job to end cancelled');
    assert.deepEqual(await survivors([...pids, ...sim.pids()], 10_000), []);
    const again = await sim.run('bkill', [id]);
    assert.equal(again.status, 255);
    assert.match(again.stderr, /Job has already finished/);
  });

  test('a controller job ends by itself: DONE or EXIT with its code; output to the -o file with %J', async () => {
    for (const [exit, state] of [[0, 'finished'], [4, 'failed']] as const) {
      const script = lsfScript(
        { role: 'controller', n: 1, jobName: `tsp-ctl-${exit}`, command: [process.execPath, '-e', `console.log('job ' + process.env.LSB_JOBID); process.exit(${exit})`], env: {}, profileDir: sim.workDir, clusterId: '' },
        lsfOptionFields.parse({}),
      );
      const submit = await sim.run('bsub', [], { input: script });
      assert.match(submit.stdout, /submitted to default queue <normal>/);
      const id = parseBsubOutput(submit.stdout);
      await waitUntil(async () => (await queryLsfJobState(id, runnerFor(sim))).state === state, 15_000, `the job to be ${state}`);
      if (exit) assert.equal((await queryLsfJobState(id, runnerFor(sim))).exitCode, exit);
      assert.equal(readFileSync(path.join(sim.workDir, 'log', `tsp-ctl-${exit}-${id}.out`), 'utf8'), `job ${id}\n`);
    }
  });

  test('exit_reason: a job bkill ends is EXIT with TERM_OWNER (its owner) or TERM_ADMIN (anyone else), even when it exits 0', async () => {
    // The job catches SIGTERM and exits 0, as tsengine and tscontroller do: only the reason says it was killed. `exec`:
    // the node process is the job, not a shell that SIGTERM would kill.
    const code = `process.on('SIGTERM', () => process.exit(0)); require('fs').writeFileSync(process.env.READY, ''); setInterval(() => {}, 1000);`;
    const row = async (id: string) => (await sim.run('bjobs', ['-noheader', '-o', 'stat exit_code exit_reason', id])).stdout;
    for (const [user, reason] of [[undefined, 'TERM_OWNER: job killed by owner'], ['lsfadmin', 'TERM_ADMIN: job killed by root or LSF administrator']] as const) {
      const ready = path.join(sim.workDir, `ready-${user ?? 'owner'}`);
      const submit = await sim.run('bsub', ['-J', `kill-${user ?? 'owner'}`, `exec env READY=${ready} ${process.execPath} -e "${code}"`]);
      const id = parseBsubOutput(submit.stdout);
      await waitUntil(() => existsSync(ready), 15_000, 'the job to run');
      assert.match(await row(id), /^RUN +- +-$/m);
      const kill = await sim.run('bkill', [id], user ? { env: { LSF_SIM_USER: user } } : {});
      assert.equal(kill.status, 0, kill.stderr);
      await waitUntil(async () => /^EXIT/m.test(await row(id)), 15_000, 'the job to end');
      assert.equal(await row(id), `EXIT -         ${reason}\n`);
      assert.equal(sim.jobs().find((j) => String(j.id) === id)!.tasks[0]!.exitCode, 0, 'the process itself exited 0');
      assert.equal((await queryLsfJobState(id, runnerFor(sim))).state, 'cancelled');
    }
    // Jobs that end by themselves have no reason.
    for (const [exit, expected] of [[0, /^DONE +- +-$/m], [4, /^EXIT +4 +-$/m]] as const) {
      const id = parseBsubOutput((await sim.run('bsub', [`${process.execPath} -e "process.exit(${exit})"`])).stdout);
      await waitUntil(async () => /^(DONE|EXIT)/m.test(await row(id)), 15_000, 'the job to end');
      assert.match(await row(id), expected);
    }
  });

  test('refusals: an unknown queue, an unknown job', async () => {
    const r = await sim.run('bsub', ['-q', 'nosuch', 'true']);
    assert.equal(r.status, 255);
    assert.equal(r.stderr, 'nosuch: No such queue. Job not submitted.\n');
    const q = await sim.run('bjobs', ['-noheader', '-o', 'stat exit_code', '99999']);
    assert.equal(q.status, 255);
    assert.equal(q.stderr, 'Job <99999> is not found\n');
    // A command instead of a script: run by /bin/sh -c.
    const cmd = await sim.run('bsub', ['-o', path.join(sim.workDir, 'cmd-%J.out'), 'echo', 'hi', '$LSB_JOBINDEX']);
    const id = parseBsubOutput(cmd.stdout);
    await waitUntil(async () => (await queryLsfJobState(id, runnerFor(sim))).state === 'finished', 15_000, 'the command job to finish');
    assert.equal(readFileSync(path.join(sim.workDir, `cmd-${id}.out`), 'utf8'), 'hi 0\n');
  });
});
