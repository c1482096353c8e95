import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { CommandResult } from '../../../src/launchers/batch/scheduler-kit.js';
import { sgeOptionFields } from '../../../src/launchers/sge/options.js';
import { parseQacct, parseSgeQsubOutput, parseSgeQstat, querySgeJobState, sgeAccountingState, sgeStateToJobState } from '../../../src/launchers/sge/parse.js';
import { sgeScript } from '../../../src/launchers/sge/script.js';
import { assertGolden, goldenInput } from '../../support/golden.js';

// `qstat` as Son of Grid Engine 8.1 prints it: a running task per row, pending tasks of an array collapsed.
const QSTAT = `job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID 
-----------------------------------------------------------------------------------------------------------------
     41 0.55500 tsparallel alice        r     11/25/2026 09:40:01 all.q@node1                        1        
     42 0.55500 tsparallel alice        r     11/25/2026 09:40:05 all.q@node1                        1 1
     42 0.55500 tsparallel alice        t     11/25/2026 09:40:05 all.q@node2                        1 2
     42 0.00000 tsparallel alice        qw    11/25/2026 09:40:00                                    1 3-4:1
     43 0.00000 tsparallel alice        Eqw   11/25/2026 09:41:00                                    1        
    142 0.00000 other      alice        hqw   11/25/2026 09:41:00                                    1        
`;

// `qacct -j 44` for a two-task array: one task ended by itself, one was killed by qdel.
const QACCT = `==============================================================
qname        all.q
hostname     node1
group        alice
owner        alice
jobname      tsparallel-engines
jobnumber    44
taskid       1
failed       0    
exit_status  0
ru_wallclock 12s
==============================================================
qname        all.q
hostname     node2
owner        alice
jobname      tsparallel-engines
jobnumber    44
taskid       2
failed       100  : assumedly after job
exit_status  137                  (Killed)
ru_wallclock 12s
`;

function fake(answers: Partial<CommandResult>[]) {
  return async (argv: readonly string[]): Promise<CommandResult> => {
    const a = answers.shift();
    if (!a) throw new Error(`unexpected command ${argv.join(' ')}`);
    return { command: argv, exitCode: 0, stdout: '', stderr: '', ...a };
  };
}

describe('sge job scripts', () => {
  test('controller and engines, golden', () => {
    const options = sgeOptionFields.parse({ queue: 'all.q', pe: 'smp 4', walltime: '1:30:00', qsubArgs: ['-l mem_free=2G'] });
    const controller = sgeScript(goldenInput('controller', 1), options);
    assert.doesNotMatch(controller, /^#\$ -t /m);
    assert.doesNotMatch(controller, /qsig/);
    assertGolden('sge', 'controller.sh', controller);
    const engines = sgeScript(goldenInput('engines', 4), sgeOptionFields.parse({ walltime: 600 }));
    assert.match(engines, /^#\$ -t 1-4$/m);
    assert.match(engines, /^#\$ -j y$/m);
    assert.match(engines, /^#\$ -o .*-\$JOB_ID\.\$TASK_ID\.out$/m);
    assert.match(engines, /^#\$ -l h_rt=00:10:00$/m);
    assertGolden('sge', 'engines.sh', engines);
  });
  test('pe must name slots', () => {
    assert.ok(!sgeOptionFields.safeParse({ pe: 'smp' }).success);
    assert.ok(sgeOptionFields.safeParse({ pe: 'mpi 8-16' }).success);
  });
});

describe('sge output parsing', () => {
  test('qsub ids, anchored', () => {
    assert.equal(parseSgeQsubOutput('Your job 41 ("tsparallel-controller") has been submitted\n'), '41');
    assert.equal(parseSgeQsubOutput('Your job-array 42.1-4:1 ("tsparallel-engines") has been submitted\n'), '42');
    assert.equal(parseSgeQsubOutput('42.1-4:1\n'), '42');
    assert.equal(parseSgeQsubOutput('41\n'), '41');
    assert.throws(
      () => parseSgeQsubOutput('Unable to run job: Job was rejected because job requests unknown queue "nosuch.q".\nExiting.\n', ['qsub', 'x.sh']),
      (err: unknown) => err instanceof SchedulerError && /unknown queue/.test(err.output ?? ''),
    );
    assert.throws(() => parseSgeQsubOutput('job 41 queued somewhere'), SchedulerError);
  });

  test('state codes', () => {
    assert.equal(sgeStateToJobState('qw'), 'queued');
    assert.equal(sgeStateToJobState('hqw'), 'queued');
    assert.equal(sgeStateToJobState('hRwq'), 'queued');
    assert.equal(sgeStateToJobState('r'), 'running');
    assert.equal(sgeStateToJobState('t'), 'running');
    assert.equal(sgeStateToJobState('Rr'), 'running');
    assert.equal(sgeStateToJobState('dr'), 'running');
    assert.equal(sgeStateToJobState('s'), 'running');
    assert.equal(sgeStateToJobState('Eqw'), 'failed');
    assert.equal(sgeStateToJobState('?'), 'unknown');
  });

  test('qstat rows of one job; qacct records', () => {
    assert.deepEqual(parseSgeQstat(QSTAT, '42'), ['r', 't', 'qw']);
    assert.deepEqual(parseSgeQstat(QSTAT, '41'), ['r']);
    assert.deepEqual(parseSgeQstat(QSTAT, '4'), []);
    const records = parseQacct(QACCT);
    assert.deepEqual(records, [
      { taskId: 1, failed: '0', exitStatus: 0 },
      { taskId: 2, failed: '100  : assumedly after job', exitStatus: 137 },
    ]);
    assert.equal(sgeAccountingState(records[0]!), 'finished');
    assert.equal(sgeAccountingState(records[1]!), 'cancelled');
    assert.equal(sgeAccountingState({ failed: '0', exitStatus: 2 }), 'failed');
  });

  test('query: qstat, then qacct; failures are unknown', async () => {
    assert.deepEqual(await querySgeJobState('42', fake([{ stdout: QSTAT }])), { id: '42', state: 'running', rawState: 'r,t,qw' });
    assert.equal((await querySgeJobState('43', fake([{ stdout: QSTAT }]))).state, 'failed');
    const done = await querySgeJobState('44', fake([{ stdout: QSTAT }, { stdout: QACCT }]));
    assert.equal(done.state, 'cancelled');
    assert.equal(done.exitCode, 137);
    const notYet = await querySgeJobState('45', fake([{ stdout: '' }, { exitCode: 1, stderr: 'error: job id 45 not found\n' }]));
    assert.equal(notYet.state, 'unknown');
    assert.match(notYet.message!, /not found/);
    const down = await querySgeJobState('42', fake([{ exitCode: 1, stderr: 'error: commlib error: got select error (Connection refused)\nerror: unable to send message to qmaster using port 6444 on host "head": got send error\n' }]));
    assert.equal(down.state, 'unknown');
  });
});
