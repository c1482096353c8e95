import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { CommandResult } from '../../../src/launchers/batch/scheduler-kit.js';
import { sgeOptionFields } from '../../../src/launchers/sge/options.js';
import { parseQacct, parseSgeQsubOutput, parseSgeQstat, querySgeJobState, sgeAccountingState, sgeStateToJobState } from '../../../src/launchers/sge/parse.js';
import { sgeScript } from '../../../src/launchers/sge/script.js';
import { assertGolden, goldenInput } from '../../support/golden.js';

// Real output of Son of Grid Engine 8.1.9 (Debian's gridengine-*, on the rig: scripts/rig/sge.sh), as run by the
// launcher: a controller job (34), an engine array job with its tasks on both nodes (35), a held job (36), an array
// whose output path cannot be opened (38, error state; its tasks listed as `1,2`), and pending tasks of an array.
const QSTAT = `job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID 
-----------------------------------------------------------------------------------------------------------------
     34 0.75000 tsparallel root         r     12/01/2026 20:51:06 all.q@node1                        1        
     35 0.25000 tsparallel root         r     12/01/2026 20:51:11 all.q@node2                        1 1
     35 0.25000 tsparallel root         r     12/01/2026 20:51:11 all.q@node1                        1 2
     35 0.25000 tsparallel root         r     12/01/2026 20:51:11 all.q@node2                        1 3
     35 0.25000 tsparallel root         r     12/01/2026 20:51:11 all.q@node1                        1 4
     36 0.00000 held       root         hqw   12/01/2026 20:51:24                                    1        
     38 0.50000 tsparallel root         Eqw   12/01/2026 20:52:44                                    1 1,2
     39 0.00000 tsparallel root         qw    12/01/2026 20:53:00                                    1 3-4:1
    135 0.00000 other      root         qw    12/01/2026 20:53:00                                    1        
`;

// `qstat -s z`: finished ("zombie") jobs, kept by qmaster (finished_jobs); 36 was deleted while held, so it never
// ran and qacct has no record of it.
const QSTAT_ZOMBIES = `job-ID  prior   name       user         state submit/start at     queue                          slots ja-task-ID 
-----------------------------------------------------------------------------------------------------------------
     34 0.00000 tsparallel root         z     12/01/2026 20:51:06                                    1        
     35 0.00000 tsparallel root         z     12/01/2026 20:51:11                                    1 1-4:1
     36 0.00000 held       root         z     12/01/2026 20:51:24                                    1        
     37 0.25000 tsparallel root         z     12/01/2026 20:51:46                                    1 1-14:1
`;

/** One `qacct -j` record as Grid Engine writes it (the fields the launcher reads, in their real layout). */
const record = (job: number, task: string, failed: string, exit: string) => `==============================================================
qname        all.q               
hostname     node1               
group        root                
owner        root                
project      NONE                
department   defaultdepartment   
jobname      tsparallel-engines  
jobnumber    ${job}                  
taskid       ${task}
account      sge                 
failed       ${failed}
exit_status  ${exit}
ru_wallclock 3s
`;

// `qacct -j 37`: a two-task array deleted with qdel while it ran; the tasks got SIGKILL.
const QACCT_QDEL = record(37, '1                   ', '100 : assumedly after job', '137                  (Killed)') + record(37, '2                   ', '100 : assumedly after job', '137                  (Killed)');
// `qacct -j 7`: a job past its hard run-time limit (`-l h_rt=0:0:3`).
const QACCT_HRT = record(7, 'undefined', '37  : qmaster enforced h_rt, h_cpu, or h_vmem limit', '137                  (Killed)');
// `qacct -j 38`: an array whose tasks could not open their output file (they never started).
const QACCT_NO_OUTPUT = record(38, '2                   ', '26  : opening input/output file', '0                   ') + record(38, '1                   ', '26  : opening input/output file', '0                   ');
// `qacct -j 4`: a job that ended by itself.
const QACCT_DONE = record(4, 'undefined', '0    ', '0                   ');

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
  test('qsub ids, anchored (real output, and -terse)', () => {
    assert.equal(parseSgeQsubOutput('Your job 34 ("tsparallel-controller") has been submitted\n'), '34');
    assert.equal(parseSgeQsubOutput('Your job-array 35.1-4:1 ("tsparallel-engines") has been submitted\n'), '35');
    assert.equal(parseSgeQsubOutput('5.1-3:1\n'), '5');
    assert.equal(parseSgeQsubOutput('4\n'), '4');
    assert.throws(
      () => parseSgeQsubOutput('Unable to run job: Job was rejected because job requests unknown queue "nosuch.q"\nExiting.\n', ['qsub', 'x.sh']),
      (err: unknown) => err instanceof SchedulerError && /unknown queue "nosuch\.q"/.test(err.output ?? ''),
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
    assert.deepEqual(parseSgeQstat(QSTAT, '35'), ['r', 'r', 'r', 'r']);
    assert.deepEqual(parseSgeQstat(QSTAT, '34'), ['r']);
    assert.deepEqual(parseSgeQstat(QSTAT, '38'), ['Eqw']);
    assert.deepEqual(parseSgeQstat(QSTAT, '39'), ['qw']);
    assert.deepEqual(parseSgeQstat(QSTAT, '3'), []);
    assert.deepEqual(parseSgeQstat(QSTAT_ZOMBIES, '36'), ['z']);
    const records = parseQacct(QACCT_QDEL);
    assert.deepEqual(records, [
      { taskId: 1, failed: '100 : assumedly after job', exitStatus: 137 },
      { taskId: 2, failed: '100 : assumedly after job', exitStatus: 137 },
    ]);
    assert.equal(sgeAccountingState(records[0]!), 'cancelled');
    assert.deepEqual(parseQacct(QACCT_HRT), [{ failed: '37  : qmaster enforced h_rt, h_cpu, or h_vmem limit', exitStatus: 137 }]);
    assert.equal(sgeAccountingState(parseQacct(QACCT_HRT)[0]!), 'failed', 'killed by its walltime: failed, not cancelled');
    assert.ok(parseQacct(QACCT_NO_OUTPUT).every((r) => sgeAccountingState(r) === 'failed'), 'a failed code with exit status 0 is failed');
    assert.equal(sgeAccountingState(parseQacct(QACCT_DONE)[0]!), 'finished');
  });

  test('query: qstat, then qacct, then the zombie list; failures are unknown', async () => {
    assert.deepEqual(await querySgeJobState('35', fake([{ stdout: QSTAT }])), { id: '35', state: 'running', rawState: 'r' });
    assert.deepEqual(await querySgeJobState('39', fake([{ stdout: QSTAT }])), { id: '39', state: 'queued', rawState: 'qw' });
    assert.equal((await querySgeJobState('38', fake([{ stdout: QSTAT }]))).state, 'failed');
    const deleted = await querySgeJobState('37', fake([{ stdout: QSTAT }, { stdout: QACCT_QDEL }]));
    assert.deepEqual(deleted, { id: '37', state: 'cancelled', rawState: 'qacct failed=100 : assumedly after job', exitCode: 137 });
    const walltime = await querySgeJobState('7', fake([{ stdout: QSTAT }, { stdout: QACCT_HRT }]));
    assert.equal(walltime.state, 'failed');
    assert.match(walltime.rawState!, /h_rt/);
    // Deleted while held: it never ran, so it has no accounting record; the zombie list says it ended.
    const neverRan = await querySgeJobState('36', fake([{ stdout: '' }, { exitCode: 1, stderr: 'error: job id 36 not found\n' }, { stdout: QSTAT_ZOMBIES }]));
    assert.equal(neverRan.state, 'finished');
    assert.equal(neverRan.rawState, 'z');
    assert.match(neverRan.message!, /deleted before it ran/);
    const notYet = await querySgeJobState('45', fake([{ stdout: '' }, { exitCode: 1, stderr: 'error: job id 45 not found\n' }, { stdout: QSTAT_ZOMBIES }]));
    assert.equal(notYet.state, 'unknown');
    assert.match(notYet.message!, /not found/);
    const down = await querySgeJobState('35', fake([{ exitCode: 1, stderr: 'error: commlib error: got select error (Connection refused)\nerror: unable to send message to qmaster using port 6444 on host "head": got send error\n' }]));
    assert.equal(down.state, 'unknown');
  });
});
