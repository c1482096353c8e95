import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { CommandResult } from '../../../src/launchers/batch/scheduler-kit.js';
import { lsfOptionFields } from '../../../src/launchers/lsf/options.js';
import { lsfStateToJobState, parseBjobs, parseBsubOutput, queryLsfJobState } from '../../../src/launchers/lsf/parse.js';
import { lsfCommands, lsfScript } from '../../../src/launchers/lsf/script.js';
import { assertGolden, goldenInput } from '../../support/golden.js';

function fake(answer: Partial<CommandResult>) {
  return async (argv: readonly string[]): Promise<CommandResult> => ({ command: argv, exitCode: 0, stdout: '', stderr: '', ...answer });
}

describe('lsf job scripts', () => {
  test('controller and engines, golden', () => {
    const controller = lsfScript(goldenInput('controller', 1), lsfOptionFields.parse({ queue: 'normal', walltime: '1:30:00', resources: 'rusage[mem=2000]', project: 'p42', bsubArgs: ['-M 2000'] }));
    assert.match(controller, /^#BSUB -J "tsparallel-controller-c1"$/m);
    assert.match(controller, /^#BSUB -W 1:30$/m);
    assertGolden('lsf', 'controller.sh', controller);
    const engines = lsfScript(goldenInput('engines', 4), lsfOptionFields.parse({ walltime: 61 }));
    assert.match(engines, /^#BSUB -J "tsparallel-engines-c1\[1-4\]"$/m);
    assert.match(engines, /^#BSUB -W 0:02$/m);
    assert.match(engines, /^#BSUB -o .*-%J_%I\.out$/m);
    assertGolden('lsf', 'engines.sh', engines);
    assert.deepEqual(lsfCommands.submit('/p/x.sh'), { argv: ['bsub'], stdinPath: '/p/x.sh' });
  });
});

describe('lsf output parsing', () => {
  test('bsub ids, anchored', () => {
    assert.equal(parseBsubOutput('Job <1234> is submitted to queue <normal>.\n'), '1234');
    assert.equal(parseBsubOutput('Job <77> is submitted to default queue <short>.\n'), '77');
    assert.equal(parseBsubOutput('<<Waiting for dispatch ...>>\nJob <5> is submitted to queue <q>.\n'), '5');
    assert.throws(
      () => parseBsubOutput('nosuch: No such queue. Job not submitted.\n', ['bsub']),
      (err: unknown) => err instanceof SchedulerError && /No such queue/.test(err.output ?? ''),
    );
    assert.throws(() => parseBsubOutput('Job <12> was not submitted to queue <q>.'), SchedulerError);
  });

  test('states', () => {
    assert.equal(lsfStateToJobState('PEND'), 'queued');
    assert.equal(lsfStateToJobState('PSUSP'), 'queued');
    assert.equal(lsfStateToJobState('RUN'), 'running');
    assert.equal(lsfStateToJobState('SSUSP'), 'running');
    assert.equal(lsfStateToJobState('DONE'), 'finished');
    assert.equal(lsfStateToJobState('EXIT', 1), 'failed');
    assert.equal(lsfStateToJobState('EXIT', 130), 'cancelled');
    assert.equal(lsfStateToJobState('UNKWN'), 'unknown');
    // An array's elements, one row each.
    assert.deepEqual(parseBjobs('RUN   -\nRUN   -\nPEND  -\n'), { state: 'running', rawState: 'RUN,PEND' });
    assert.deepEqual(parseBjobs('DONE  -\nEXIT  3\n'), { state: 'failed', rawState: 'DONE,EXIT', exitCode: 3 });
    assert.equal(parseBjobs(''), undefined);
  });

  // Rows of `bjobs -noheader -o "stat exit_code exit_reason"`: STAT, EXIT_CODE (`-` when 0 or none) and the
  // termination reason (`-` when none), as LSF records them for each way a job ends.
  test('exit reasons: a bkill by the owner or an administrator is cancelled, whatever the exit code; limits and errors fail', () => {
    const read = (row: string) => parseBjobs(row)?.state;
    // Killed by its owner; its process caught the signal and exited 0, so bjobs has no exit code to show.
    assert.equal(read('EXIT  -  TERM_OWNER: job killed by owner\n'), 'cancelled');
    assert.equal(read('EXIT - TERM_OWNER\n'), 'cancelled');
    // Killed by root or an LSF administrator (SIGINT killed it: 128 + 2).
    assert.equal(read('EXIT  130  TERM_ADMIN: job killed by root or LSF administrator\n'), 'cancelled');
    // bkill -r with the execution host unreachable.
    assert.equal(read('EXIT  -  TERM_FORCE_OWNER: job killed by owner without time for cleanup\n'), 'cancelled');
    assert.equal(read('EXIT  -  TERM_FORCE_ADMIN: job killed by root or LSF administrator without time for cleanup\n'), 'cancelled');
    // Killed at its run limit or memory limit: a signal's exit code, but a failure.
    assert.equal(read('EXIT  140  TERM_RUNLIMIT: job killed after reaching LSF run time limit\n'), 'failed');
    assert.equal(read('EXIT  137  TERM_MEMLIMIT: job killed after reaching LSF memory usage limit\n'), 'failed');
    // Exited non-zero by itself: no reason recorded.
    assert.deepEqual(parseBjobs('EXIT  3  -\n'), { state: 'failed', rawState: 'EXIT', exitCode: 3 });
    assert.deepEqual(parseBjobs('DONE  -  -\n'), { state: 'finished', rawState: 'DONE' });
    assert.deepEqual(parseBjobs('RUN   -  -\n'), { state: 'running', rawState: 'RUN' });
    // No reason field (an older bjobs, or output without it): the exit code decides, as before.
    assert.equal(read('EXIT  143\n'), 'cancelled');
    assert.equal(read('EXIT  -\n'), 'failed');
    assert.equal(read('EXIT  1\n'), 'failed');
    // An engine array bkill'ed: every element killed by the owner, one that had already finished.
    assert.deepEqual(parseBjobs('EXIT  -  TERM_OWNER: job killed by owner\nEXIT  143  TERM_OWNER: job killed by owner\nDONE  -  -\n'), { state: 'cancelled', rawState: 'EXIT,DONE', exitCode: 143 });
    assert.equal(lsfStateToJobState('EXIT', undefined, 'TERM_OWNER: job killed by owner'), 'cancelled');
    assert.equal(lsfStateToJobState('EXIT', 143, 'TERM_RUNLIMIT'), 'failed');
    assert.equal(lsfStateToJobState('DONE', undefined, '-'), 'finished');
  });

  test('query: found, forgotten, LSF down', async () => {
    const asked: (readonly string[])[] = [];
    const killed = await queryLsfJobState('5', async (argv) => {
      asked.push(argv);
      return { command: argv, exitCode: 0, stdout: 'EXIT  -  TERM_OWNER: job killed by owner\n', stderr: '' };
    });
    // One bjobs call, asking for the reason with the state.
    assert.deepEqual(asked, [['bjobs', '-noheader', '-o', 'stat exit_code exit_reason', '5']]);
    assert.deepEqual([killed.state, killed.rawState], ['cancelled', 'EXIT']);
    assert.equal((await queryLsfJobState('5', fake({ stdout: 'RUN   -  -\n' }))).state, 'running');
    const gone = await queryLsfJobState('5', fake({ exitCode: 255, stderr: 'Job <5> is not found\n' }));
    assert.equal(gone.state, 'finished');
    assert.equal(gone.rawState, 'not found');
    const down = await queryLsfJobState('5', fake({ exitCode: 255, stderr: 'LSF is down. Please wait ...\n' }));
    assert.equal(down.state, 'unknown');
    assert.match(down.message!, /LSF is down/);
  });

  test('query: a bjobs without the exit_reason field is asked without it, from its first refusal on', async () => {
    const asked: string[] = [];
    // An older LSF: its -o knows stat and exit_code only, and refuses the whole call for another field.
    const olderLsf = async (argv: readonly string[]): Promise<CommandResult> => {
      asked.push(argv[3]!);
      return argv[3]!.includes('exit_reason')
        ? { command: argv, exitCode: 255, stdout: '', stderr: 'exit_reason: Illegal field name.\n' }
        : { command: argv, exitCode: 0, stdout: 'EXIT  130\n', stderr: '' };
    };
    assert.equal((await queryLsfJobState('5', olderLsf)).state, 'cancelled', 'read by its exit code, as before the field');
    assert.equal((await queryLsfJobState('5', olderLsf)).state, 'cancelled');
    assert.deepEqual(asked, ['stat exit_code exit_reason', 'stat exit_code', 'stat exit_code'], 'refused once, then not asked again');
    // LSF down: both forms fail, the first failure is reported, and the field is asked for again next time.
    const calls: string[] = [];
    const down = async (argv: readonly string[]): Promise<CommandResult> => {
      calls.push(argv[3]!);
      return { command: argv, exitCode: 255, stdout: '', stderr: 'LSF is down. Please wait ...\n' };
    };
    assert.equal((await queryLsfJobState('5', down)).state, 'unknown');
    await queryLsfJobState('5', down);
    assert.deepEqual(calls, ['stat exit_code exit_reason', 'stat exit_code', 'stat exit_code exit_reason', 'stat exit_code']);
  });
});
