import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { CommandResult } from '../../../src/launchers/batch/scheduler-kit.js';
import { parseSbatchOutput, parseScontrolJob, parseSqueueStates, querySlurmJobState, slurmStateToJobState } from '../../../src/launchers/slurm/parse.js';

// `scontrol show job 43` for a two-element array, as Slurm 22/23 print it (one record per element, blank-line separated).
const SCONTROL_ARRAY = `JobId=44 ArrayJobId=43 ArrayTaskId=1 JobName=tsparallel-engines-c1
   UserId=u(1000) GroupId=u(1000) MCS_label=N/A
   Priority=4294901759 Nice=0 Account=(null) QOS=normal
   JobState=COMPLETED Reason=None Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
   RunTime=00:00:03 TimeLimit=UNLIMITED TimeMin=N/A
   Partition=debug AllocNode:Sid=host:123

JobId=43 ArrayJobId=43 ArrayTaskId=2 JobName=tsparallel-engines-c1
   UserId=u(1000) GroupId=u(1000) MCS_label=N/A
   JobState=FAILED Reason=NonZeroExitCode Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0
   Partition=debug AllocNode:Sid=host:123
`;

const SCONTROL_RUNNING = `JobId=12 JobName=tsparallel-controller
   UserId=u(1000) GroupId=u(1000) MCS_label=N/A
   JobState=RUNNING Reason=None Dependency=(null)
   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=0:0
`;

function fake(answers: Record<string, Partial<CommandResult>>): { run: (argv: readonly string[]) => Promise<CommandResult>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (argv) => {
      calls.push(argv[0]!);
      const a = answers[argv[0]!];
      if (!a) throw new Error(`unexpected command ${argv.join(' ')}`);
      return { command: argv, exitCode: 0, stdout: '', stderr: '', ...a };
    },
  };
}

describe('slurm output parsing', () => {
  test('sbatch --parsable ids, anchored', () => {
    assert.equal(parseSbatchOutput('123\n'), '123');
    assert.equal(parseSbatchOutput('123;cluster2\n'), '123');
    assert.equal(parseSbatchOutput('sbatch: warning: can\'t honor --ntasks-per-node\n77\n'), '77');
    assert.equal(parseSbatchOutput('Submitted batch job 9\n'), '9');
    assert.throws(
      () => parseSbatchOutput("sbatch: error: invalid partition specified: nosuch\nsbatch: error: Batch job submission failed: Invalid partition name specified\n", ['sbatch', '--parsable', 'x.sh']),
      (err: unknown) => err instanceof SchedulerError && /Invalid partition name/.test(err.output ?? '') && /invalid partition/.test(err.message),
    );
    assert.throws(() => parseSbatchOutput('job 12 queued'), SchedulerError);
  });

  test('state words', () => {
    assert.equal(slurmStateToJobState('PENDING'), 'queued');
    assert.equal(slurmStateToJobState('RUNNING'), 'running');
    assert.equal(slurmStateToJobState('COMPLETING'), 'running');
    assert.equal(slurmStateToJobState('COMPLETED'), 'finished');
    assert.equal(slurmStateToJobState('CANCELLED by 1000'), 'cancelled');
    assert.equal(slurmStateToJobState('CANCELLED+'), 'cancelled');
    assert.equal(slurmStateToJobState('TIMEOUT'), 'failed');
    assert.equal(slurmStateToJobState('OUT_OF_MEMORY'), 'failed');
    assert.equal(slurmStateToJobState('PD'), 'queued');
    assert.equal(slurmStateToJobState('WHATEVER'), 'unknown');
  });

  test('squeue lines and scontrol records combine', () => {
    assert.deepEqual(parseSqueueStates('RUNNING\nPENDING\nRUNNING\n'), { state: 'running', rawState: 'RUNNING,PENDING' });
    assert.equal(parseSqueueStates('\n'), undefined);
    assert.deepEqual(parseScontrolJob(SCONTROL_ARRAY), { state: 'failed', rawState: 'COMPLETED,FAILED', exitCode: 3 });
    assert.deepEqual(parseScontrolJob(SCONTROL_RUNNING), { state: 'running', rawState: 'RUNNING', exitCode: 0 });
    assert.equal(parseScontrolJob('slurm_load_jobs error: Invalid job id specified'), undefined);
  });

  test('query: squeue first, scontrol when squeue forgot it, unknown when a command fails', async () => {
    let f = fake({ squeue: { stdout: 'RUNNING\n' } });
    assert.equal((await querySlurmJobState('12', f.run)).state, 'running');
    assert.deepEqual(f.calls, ['squeue']);
    // squeue's -j takes an optional argument: the id must be glued to the option.
    let argv: readonly string[] = [];
    await querySlurmJobState('12', async (a) => ((argv = a), { command: a, exitCode: 0, stdout: 'PENDING\n', stderr: '' }));
    assert.deepEqual(argv, ['squeue', '-h', '-o', '%T', '-t', 'all', '--jobs=12']);

    f = fake({ squeue: { exitCode: 1, stderr: 'slurm_load_jobs error: Invalid job id specified\n' }, scontrol: { stdout: SCONTROL_ARRAY } });
    assert.equal((await querySlurmJobState('43', f.run)).state, 'failed');

    f = fake({ squeue: { exitCode: 1, stderr: 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n' } });
    const down = await querySlurmJobState('12', f.run);
    assert.equal(down.state, 'unknown');
    assert.match(down.message!, /Unable to contact/);
    assert.deepEqual(f.calls, ['squeue']);

    f = fake({
      squeue: { exitCode: 1, stderr: 'slurm_load_jobs error: Invalid job id specified\n' },
      scontrol: { exitCode: 1, stderr: 'slurm_load_jobs error: Invalid job id specified\n' },
      sacct: { stdout: 'CANCELLED by 1000|0:15\n' },
    });
    assert.equal((await querySlurmJobState('12', f.run)).state, 'cancelled');

    f = fake({
      squeue: { exitCode: 1, stderr: 'slurm_load_jobs error: Invalid job id specified\n' },
      scontrol: { exitCode: 1, stderr: 'slurm_load_jobs error: Invalid job id specified\n' },
      sacct: { exitCode: 1, stderr: 'sacct: error: Slurm accounting storage is disabled\n' },
    });
    const gone = await querySlurmJobState('12', f.run);
    assert.equal(gone.rawState, 'NOT_FOUND');
    assert.match(gone.message!, /no longer known/);
  });
});
