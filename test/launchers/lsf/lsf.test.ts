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

  test('query: found, forgotten, LSF down', async () => {
    assert.equal((await queryLsfJobState('5', fake({ stdout: 'RUN   -\n' }))).state, 'running');
    const gone = await queryLsfJobState('5', fake({ exitCode: 255, stderr: 'Job <5> is not found\n' }));
    assert.equal(gone.state, 'finished');
    assert.equal(gone.rawState, 'not found');
    const down = await queryLsfJobState('5', fake({ exitCode: 255, stderr: 'LSF is down. Please wait ...\n' }));
    assert.equal(down.state, 'unknown');
    assert.match(down.message!, /LSF is down/);
  });
});
