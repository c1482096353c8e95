import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { CommandResult } from '../../src/launchers/batch/scheduler-kit.js';
import { pbsOptionFields } from '../../src/launchers/pbs/options.js';
import { parseQsubOutput, queryPbsJobState } from '../../src/launchers/pbs/parse.js';
import { pbsScript } from '../../src/launchers/pbs/script.js';
import { startBatchSim, type BatchSim } from '../support/batch-sims.js';
import { waitUntil } from '../support/cluster.js';
import { survivors } from '../support/hpc-sim.js';

/** A task that records its array index and an exported variable, then runs until killed. */
function recorder(dir: string, indexVar: string): string[] {
  // Written under another name and renamed, so that a test never reads a half-written file.
  const code = `const fs = require('fs'), f = require('path').join(${JSON.stringify(dir)}, 'task-' + (process.env.${indexVar} || 'none')); fs.writeFileSync(f + '.tmp', (process.env.${indexVar} || 'none') + ' ' + process.env.MARK + ' ' + process.pid); fs.renameSync(f + '.tmp', f); setInterval(() => {}, 1000);`;
  return [process.execPath, '-e', code];
}

function runnerFor(sim: BatchSim) {
  return async (argv: readonly string[]): Promise<CommandResult> => {
    const r = await sim.run(argv[0]!, argv.slice(1));
    return { command: argv, exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

for (const flavor of ['pbspro', 'torque'] as const) {
  describe(`pbs simulator (${flavor})`, () => {
    let sim: BatchSim;
    before(async () => {
      sim = await startBatchSim('pbs', { PBS_SIM_FLAVOR: flavor, PBS_SIM_SERVER: 'pbs-head', PBS_SIM_GRACE_MS: '500' });
    });
    after(async () => {
      const left = await sim.remove();
      assert.deepEqual(left, [], 'the simulator left processes behind');
    });

    test('an engine array: queued, running with index variables, qdel stops every process', async () => {
      const indexVar = flavor === 'torque' ? 'PBS_ARRAYID' : 'PBS_ARRAY_INDEX';
      const script = pbsScript(
        { role: 'engines', n: 3, jobName: 'tsp-engines', command: recorder(sim.workDir, indexVar), env: { MARK: 'exported' }, profileDir: sim.workDir, clusterId: 'c1' },
        pbsOptionFields.parse({ flavor, queue: flavor === 'torque' ? 'batch' : 'workq', walltime: '1h' }),
      );
      const file = path.join(sim.workDir, 'engines.sh');
      writeFileSync(file, script, { mode: 0o700 });
      sim.pause();
      // Torque users often submit on stdin; PBS Pro with a file operand.
      const submit = flavor === 'torque' ? await sim.run('qsub', [], { input: script }) : await sim.run('qsub', [file]);
      assert.equal(submit.status, 0, submit.stderr);
      const id = parseQsubOutput(submit.stdout, ['qsub']);
      assert.match(id, /^\d+\[\]\.pbs-head$/);
      const run = runnerFor(sim);
      const queued = await queryPbsJobState(id, run, flavor);
      assert.equal(queued.state, 'queued');
      assert.equal(queued.rawState, 'Q');

      sim.resume();
      await waitUntil(async () => (await queryPbsJobState(id, run, flavor)).state === 'running', 15_000, 'the job to run');
      await waitUntil(() => [1, 2, 3].every((i) => existsSync(path.join(sim.workDir, `task-${i}`))), 15_000, 'every element to start');
      const taskPids = [1, 2, 3].map((i) => {
        const [index, mark, pid] = readFileSync(path.join(sim.workDir, `task-${i}`), 'utf8').split(' ');
        assert.equal(index, String(i));
        assert.equal(mark, 'exported', 'the script exports the environment');
        return Number(pid);
      });
      const table = await sim.run('qstat', ['-t']);
      assert.match(table.stdout, /^Job id\s+Name\s+User\s+Time Use S Queue$/m);
      assert.match(table.stdout, new RegExp(`^${id.replace(/[[\].]/g, '\\$&')}\\s+tsp-engines\\s.* ${flavor === 'torque' ? 'R' : 'B'} `, 'm'));
      assert.match(table.stdout, new RegExp(`^${id.split('[')[0]}\\[2\\]\\.pbs-head .* R `, 'm'));

      const del = await sim.run('qdel', [id]);
      assert.equal(del.status, 0, del.stderr);
      await waitUntil(async () => (await queryPbsJobState(id, run, flavor)).state === 'cancelled', 15_000, 'the job to end cancelled');
      assert.deepEqual(await survivors([...taskPids, ...sim.pids()], 10_000), [], 'qdel left processes');
      if (flavor === 'pbspro') {
        // The parent F and each subjob X, all with substate 91; the recorder tasks died of SIGTERM (1 = a positive code).
        const history = (await sim.run('qstat', ['-fx', '-t', id])).stdout;
        assert.deepEqual([...history.matchAll(/job_state = (\w)\n(?:.*\n)*? {4}substate = (\d+)/g)].map((m) => `${m[1]}${m[2]}`), ['F91', 'X91', 'X91', 'X91']);
        assert.match(history.split('\n\n')[0]!, /^ {4}Exit_status = 1$/m);
        assert.match(history.split('\n\n')[1]!, /^ {4}Exit_status = 271$/m);
      }
      const again = await sim.run('qdel', [id]);
      assert.equal(again.status, flavor === 'torque' ? 168 : 35);
    });

    test('a controller job that fails by itself is failed with its exit status; output goes to the -o file', async () => {
      const script = pbsScript(
        { role: 'controller', n: 1, jobName: 'tsp-ctl', command: [process.execPath, '-e', 'console.log("hello from " + process.env.PBS_JOBID); process.exit(3)'], env: {}, profileDir: sim.workDir, clusterId: '' },
        pbsOptionFields.parse({ flavor }),
      );
      const file = path.join(sim.workDir, 'ctl.sh');
      writeFileSync(file, script);
      const id = parseQsubOutput((await sim.run('qsub', [file])).stdout);
      assert.match(id, /^\d+\.pbs-head$/);
      const run = runnerFor(sim);
      await waitUntil(async () => (await queryPbsJobState(id, run, flavor)).state === 'failed', 15_000, 'the job to fail');
      const status = await queryPbsJobState(id, run, flavor);
      assert.equal(status.exitCode, 3);
      assert.equal(status.rawState, flavor === 'torque' ? 'C' : 'F');
      assert.match(readFileSync(path.join(sim.workDir, 'log', 'tsp-ctl.out'), 'utf8'), new RegExp(`hello from ${id.replace('.', '\\.')}`));
      if (flavor === 'pbspro') {
        const plain = await sim.run('qstat', ['-f', id]);
        assert.equal(plain.status, 35);
        assert.match(plain.stderr, /Job has finished, use -x or -H/);
      }
    });

    test('qdel stops a process the script started in a session of its own', async () => {
      const pidFile = path.join(sim.workDir, 'escaped.pid');
      const file = path.join(sim.workDir, 'escape.sh');
      writeFileSync(file, `#!/bin/sh\n#PBS -N escape\nsetsid sleep 600 &\necho $! > ${pidFile}\nwait\n`);
      const id = parseQsubOutput((await sim.run('qsub', [file])).stdout);
      await waitUntil(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'), 15_000, 'the script to start its process');
      const escaped = Number(readFileSync(pidFile, 'utf8'));
      assert.ok(escaped > 0);
      assert.equal((await sim.run('qdel', [id])).status, 0);
      await waitUntil(async () => (await queryPbsJobState(id, runnerFor(sim), flavor)).state === 'cancelled', 15_000, 'the job to end cancelled');
      assert.deepEqual(await survivors([escaped, ...sim.pids(parseInt(id, 10))], 10_000), [], 'the setsid process survived qdel');
    });

    test('a deleted job\'s final record: PBS Pro F with substate 91 (no Exit_status if it never ran), Torque C with 256 + SIGTERM', async () => {
      const file = path.join(sim.workDir, 'del.sh');
      // The second job catches SIGTERM and exits 0, as a role that stops cleanly does.
      writeFileSync(file, `#!/bin/sh\n#PBS -N del\nexec ${process.execPath} -e "process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000)"\n`);
      sim.pause();
      const queued = parseQsubOutput((await sim.run('qsub', [file])).stdout);
      assert.equal((await sim.run('qdel', [queued])).status, 0);
      sim.resume();
      const running = parseQsubOutput((await sim.run('qsub', [file])).stdout);
      await waitUntil(() => sim.jobs().find((j) => j.id === parseInt(running, 10))?.tasks[0]?.state === 'running', 15_000, 'the job to run');
      assert.equal((await sim.run('qdel', [running])).status, 0);
      const final = async (id: string) => {
        let text = '';
        await waitUntil(async () => /job_state = [FC]$/m.test((text = (await sim.run('qstat', flavor === 'torque' ? ['-f', id] : ['-fx', id])).stdout)), 15_000, `job ${id} to end`);
        return text;
      };
      const [q, r] = [await final(queued), await final(running)];
      if (flavor === 'pbspro') {
        assert.match(q, /^ {4}substate = 91$/m);
        assert.doesNotMatch(q, /Exit_status/);
        assert.match(r, /^ {4}substate = 91$/m);
        assert.match(r, /^ {4}Exit_status = 0$/m);
      } else {
        assert.doesNotMatch(q + r, /substate/);
        assert.match(q, /^ {4}exit_status = 271$/m);
        assert.match(r, /^ {4}exit_status = 0$/m);
      }
    });

    test('refusals: an unknown queue, an unknown job id', async () => {
      const file = path.join(sim.workDir, 'q.sh');
      writeFileSync(file, '#!/bin/sh\n#PBS -q nosuch\ntrue\n');
      const r = await sim.run('qsub', [file]);
      assert.equal(r.status, flavor === 'torque' ? 1 : 170);
      assert.match(r.stderr, /Unknown queue/);
      assert.equal(r.stdout, '');
      const q = await sim.run('qstat', ['-f', '99999.pbs-head']);
      assert.equal(q.status, 153);
      assert.match(q.stderr, /Unknown Job Id/);
    });
  });
}
