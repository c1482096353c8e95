import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { CommandResult } from '../../../src/launchers/batch/scheduler-kit.js';
import { parseQstatFull, parseQsubOutput, pbsStateOfListing, pbsStateToJobState, queryPbsJobState } from '../../../src/launchers/pbs/parse.js';

// `qstat -f` of a running PBS Pro job: attributes indented by four spaces, long values wrapped onto tab-led lines.
const PBSPRO_RUNNING = `Job Id: 1042.pbsserver
    Job_Name = tsparallel-engines-c1
    Job_Owner = alice@login1
    resources_used.cput = 00:00:01
    resources_used.walltime = 00:00:12
    job_state = R
    queue = workq
    server = pbsserver
    Checkpoint = u
    ctime = Wed Nov 25 09:40:00 2026
    Error_Path = login1:/home/alice/.tsparallel/profile_x/log/tsparallel-engines-c
\t1.out
    exec_host = node1/0
    Variable_List = PBS_O_HOME=/home/alice,PBS_O_LANG=C.UTF-8,PBS_O_LOGNAME=alice,
\tPBS_O_PATH=/usr/bin:/bin,PBS_O_QUEUE=workq
    session_id = 31337
`;

const PBSPRO_FINISHED = `Job Id: 1043.pbsserver
    Job_Name = tsparallel-controller
    job_state = F
    queue = workq
    Exit_status = 271
    stime = Wed Nov 25 09:41:00 2026
`;

const TORQUE_COMPLETED = `Job Id: 77.torque-head
    Job_Name = tsparallel-engines
    job_state = C
    queue = batch
    server = torque-head
    exit_status = 0
    comp_time = 1764063600

Job Id: 78.torque-head
    Job_Name = tsparallel-engines
    job_state = C
    exit_status = 3
`;

// `qstat -xf` of PBS Pro jobs in the history. Per the OpenPBS server (src/server/svr_jobfunc.c, req_delete.c,
// array_func.c): a job qdel ended has substate 91 whatever its Exit_status, a queued one no Exit_status at all; an
// array's parent has a summary Exit_status (0, 1 for a positive subjob code, 2 for a negative one).
const PBSPRO_DELETED_QUEUED = `Job Id: 2001.pbsserver
    Job_Name = tsparallel-controller
    job_state = F
    queue = workq
    comment = Job deleted as result of qdel by alice@login1
    substate = 91
`;

// Deleted while running; its process caught SIGTERM and exited 0 (a clean stop).
const PBSPRO_DELETED_RUNNING_EXIT0 = `Job Id: 2002.pbsserver
    Job_Name = tsparallel-controller
    job_state = F
    queue = workq
    exec_host = node1/0
    comment = Job run at Wed Nov 25 at 09:41 on (node1:ncpus=1) and terminated
    substate = 91
    Exit_status = 0
`;

// Deleted while running; SIGTERM killed its process (256 + 15).
const PBSPRO_DELETED_RUNNING_KILLED = PBSPRO_DELETED_RUNNING_EXIT0.replace('2002', '2003').replace('Exit_status = 0', 'Exit_status = 271');

const PBSPRO_FINISHED_ITSELF = PBSPRO_DELETED_RUNNING_EXIT0.replace('2002', '2004').replace('and terminated', 'and finished').replace('substate = 91', 'substate = 92');
const PBSPRO_FAILED_ITSELF = PBSPRO_FINISHED_ITSELF.replace('2004', '2005').replace('and finished', 'and failed').replace('substate = 92', 'substate = 93').replace('Exit_status = 0', 'Exit_status = 3');
// Killed by SIGTERM, but not by a qdel (a walltime kill on an older server): substate 93, so failed.
const PBSPRO_SIGTERM_NOT_QDEL = PBSPRO_FAILED_ITSELF.replace('2005', '2006').replace('Exit_status = 3', 'Exit_status = 271');

// An engine array deleted while its subjobs ran, with -t: the parent and each subjob (X).
const PBSPRO_ARRAY_DELETED = `Job Id: 2010[].pbsserver
    Job_Name = tsparallel-engines-c1
    job_state = F
    queue = workq
    array = True
    array_indices_submitted = 1-3
    array_state_count = Queued:0 Running:0 Exiting:0 Expired:3
    substate = 91
    Exit_status = 0

Job Id: 2010[1].pbsserver
    Job_Name = tsparallel-engines-c1
    job_state = X
    substate = 91
    Exit_status = 0

Job Id: 2010[2].pbsserver
    Job_Name = tsparallel-engines-c1
    job_state = X
    substate = 91
    Exit_status = 271
`;

// The same array, deleted before any subjob ran: no Exit_status anywhere.
const PBSPRO_ARRAY_DELETED_QUEUED = `Job Id: 2011[].pbsserver
    Job_Name = tsparallel-engines-c1
    job_state = F
    queue = workq
    array = True
    substate = 91
`;

// An array that ended by itself, one subjob failing: substate 93, summary Exit_status 1.
const PBSPRO_ARRAY_FAILED = PBSPRO_ARRAY_DELETED_QUEUED.replace('2011', '2012').replace('substate = 91', 'substate = 93\n    Exit_status = 1');

// Torque shows no substate to users: a job qdel killed has exit_status 256 + SIGTERM; a queued one qdel removed
// gets 271 from the server as well (src/server/job_func.c).
const TORQUE_DELETED = `Job Id: 80.torque-head
    Job_Name = tsparallel-engines
    job_state = C
    queue = batch
    exit_status = 271
`;

function fake(answers: Partial<CommandResult>[]): { run: (argv: readonly string[]) => Promise<CommandResult>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (argv) => {
      calls.push(argv.join(' '));
      const a = answers.shift();
      if (!a) throw new Error(`unexpected command ${argv.join(' ')}`);
      return { command: argv, exitCode: 0, stdout: '', stderr: '', ...a };
    },
  };
}

describe('pbs output parsing', () => {
  test('qsub ids, anchored', () => {
    assert.equal(parseQsubOutput('1042.pbsserver\n'), '1042.pbsserver');
    assert.equal(parseQsubOutput('1044[].pbsserver\n'), '1044[].pbsserver');
    assert.equal(parseQsubOutput('55.head.cluster.example.org\n'), '55.head.cluster.example.org');
    assert.equal(parseQsubOutput('99\n'), '99');
    assert.throws(
      () => parseQsubOutput('qsub: Unknown queue\n', ['qsub', 'x.sh']),
      (err: unknown) => err instanceof SchedulerError && err.output === 'qsub: Unknown queue\n' && /qsub printed no job id/.test(err.message),
    );
    assert.throws(() => parseQsubOutput('qsub: submit error (Unknown queue MSG=requested queue not found)\n'), SchedulerError);
  });

  test('state letters', () => {
    assert.equal(pbsStateToJobState('Q'), 'queued');
    assert.equal(pbsStateToJobState('H'), 'queued');
    assert.equal(pbsStateToJobState('W'), 'queued');
    assert.equal(pbsStateToJobState('R'), 'running');
    assert.equal(pbsStateToJobState('E'), 'running');
    assert.equal(pbsStateToJobState('B'), 'running');
    assert.equal(pbsStateToJobState('F', 0), 'finished');
    assert.equal(pbsStateToJobState('F', 271), 'cancelled');
    assert.equal(pbsStateToJobState('C', 3), 'failed');
    assert.equal(pbsStateToJobState('X'), 'finished');
    assert.equal(pbsStateToJobState('Z'), 'unknown');
    // The substate, when there is one, decides over the exit status.
    assert.equal(pbsStateToJobState('F', undefined, 91), 'cancelled');
    assert.equal(pbsStateToJobState('F', 0, 91), 'cancelled');
    assert.equal(pbsStateToJobState('X', 0, 91), 'cancelled');
    assert.equal(pbsStateToJobState('F', 0, 92), 'finished');
    assert.equal(pbsStateToJobState('F', 3, 93), 'failed');
    assert.equal(pbsStateToJobState('F', 271, 93), 'failed');
    assert.equal(pbsStateToJobState('R', 0, 42), 'running');
  });

  test('qstat -xf of deleted, finished and failed jobs (PBS Pro substate, Torque exit status)', () => {
    assert.deepEqual(parseQstatFull(PBSPRO_DELETED_QUEUED).map((r) => [r.jobState, r.substate, r.exitStatus]), [['F', 91, undefined]]);
    assert.deepEqual(pbsStateOfListing(PBSPRO_DELETED_QUEUED), { state: 'cancelled', rawState: 'F' });
    assert.deepEqual(pbsStateOfListing(PBSPRO_DELETED_RUNNING_EXIT0), { state: 'cancelled', rawState: 'F', exitCode: 0 });
    assert.deepEqual(pbsStateOfListing(PBSPRO_DELETED_RUNNING_KILLED), { state: 'cancelled', rawState: 'F', exitCode: 271 });
    assert.deepEqual(pbsStateOfListing(PBSPRO_FINISHED_ITSELF), { state: 'finished', rawState: 'F', exitCode: 0 });
    assert.deepEqual(pbsStateOfListing(PBSPRO_FAILED_ITSELF), { state: 'failed', rawState: 'F', exitCode: 3 });
    assert.deepEqual(pbsStateOfListing(PBSPRO_SIGTERM_NOT_QDEL), { state: 'failed', rawState: 'F', exitCode: 271 });
    assert.deepEqual(pbsStateOfListing(PBSPRO_ARRAY_DELETED), { state: 'cancelled', rawState: 'F,X', exitCode: 271 });
    assert.deepEqual(pbsStateOfListing(PBSPRO_ARRAY_DELETED.split(/\n(?=Job Id: 2010\[1\])/)[0]!), { state: 'cancelled', rawState: 'F', exitCode: 0 });
    assert.deepEqual(pbsStateOfListing(PBSPRO_ARRAY_DELETED_QUEUED), { state: 'cancelled', rawState: 'F' });
    assert.deepEqual(pbsStateOfListing(PBSPRO_ARRAY_FAILED), { state: 'failed', rawState: 'F', exitCode: 1 });
    assert.deepEqual(pbsStateOfListing(TORQUE_DELETED), { state: 'cancelled', rawState: 'C', exitCode: 271 });
  });

  test('qstat -f records, wrapped values joined', () => {
    const [rec] = parseQstatFull(PBSPRO_RUNNING);
    assert.equal(rec!.id, '1042.pbsserver');
    assert.equal(rec!.jobState, 'R');
    assert.equal(rec!.attributes.get('Variable_List'), 'PBS_O_HOME=/home/alice,PBS_O_LANG=C.UTF-8,PBS_O_LOGNAME=alice,PBS_O_PATH=/usr/bin:/bin,PBS_O_QUEUE=workq');
    assert.equal(rec!.attributes.get('Error_Path'), 'login1:/home/alice/.tsparallel/profile_x/log/tsparallel-engines-c1.out');
    assert.deepEqual(pbsStateOfListing(PBSPRO_FINISHED), { state: 'cancelled', rawState: 'F', exitCode: 271 });
    assert.deepEqual(pbsStateOfListing(TORQUE_COMPLETED), { state: 'failed', rawState: 'C', exitCode: 3 });
    assert.equal(pbsStateOfListing(''), undefined);
  });

  test('query: PBS Pro goes to qstat -fx for a finished job; a failing qstat is unknown', async () => {
    let f = fake([{ stdout: PBSPRO_RUNNING }]);
    assert.equal((await queryPbsJobState('1042.pbsserver', f.run)).state, 'running');

    f = fake([
      { exitCode: 35, stderr: 'qstat: 1043.pbsserver Job has finished, use -x or -H to obtain historical job information\n' },
      { stdout: PBSPRO_FINISHED },
    ]);
    assert.equal((await queryPbsJobState('1043.pbsserver', f.run)).state, 'cancelled');
    assert.deepEqual(f.calls, ['qstat -f 1043.pbsserver', 'qstat -fx 1043.pbsserver']);

    // A job someone deleted, which exited 0 on SIGTERM: cancelled, from the history's substate.
    f = fake([
      { exitCode: 35, stderr: 'qstat: 2002.pbsserver Job has finished, use -x or -H to obtain historical job information\n' },
      { stdout: PBSPRO_DELETED_RUNNING_EXIT0 },
    ]);
    assert.deepEqual(await queryPbsJobState('2002.pbsserver', f.run), { id: '2002.pbsserver', state: 'cancelled', rawState: 'F', exitCode: 0 });

    f = fake([{ exitCode: 1, stderr: 'Connection refused\nqstat: cannot connect to server pbsserver (errno=111)\n' }]);
    const down = await queryPbsJobState('1042.pbsserver', f.run);
    assert.equal(down.state, 'unknown');
    assert.match(down.message!, /cannot connect/);

    f = fake([{ exitCode: 153, stderr: 'qstat: Unknown Job Id Error 9.torque-head\n' }]);
    const gone = await queryPbsJobState('9.torque-head', f.run, 'torque');
    assert.equal(gone.state, 'finished');
    assert.match(gone.message!, /no longer known/);
  });
});
