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
