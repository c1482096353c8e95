import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { CommandResult } from '../../../src/launchers/batch/scheduler-kit.js';
import { htcondorOptionFields } from '../../../src/launchers/htcondor/options.js';
import { condorStatusToJobState, parseCondorAutoformat, parseCondorSubmitOutput, queryHtcondorJobState } from '../../../src/launchers/htcondor/parse.js';
import { condorArguments, condorEnvironment, htcondorScript } from '../../../src/launchers/htcondor/script.js';
import { assertGolden, goldenInput } from '../../support/golden.js';

function fake(answers: Partial<CommandResult>[]) {
  return async (argv: readonly string[]): Promise<CommandResult> => {
    const a = answers.shift();
    if (!a) throw new Error(`unexpected command ${argv.join(' ')}`);
    return { command: argv, exitCode: 0, stdout: '', stderr: '', ...a };
  };
}

describe('htcondor submit descriptions', () => {
  test('engines: queue n, getenv, environment, requirements, golden', () => {
    const options = htcondorOptionFields.parse({ requirements: '(OpSys == "LINUX")', requestCpus: 1, requestMemory: '2 GB', walltime: '1h', submitLines: ['+ProjectName = "p42"'] });
    const engines = htcondorScript(goldenInput('engines', 4), options);
    assert.match(engines, /^queue 4$/m);
    assert.match(engines, /^getenv = True$/m);
    assert.match(engines, /^requirements = \(OpSys == "LINUX"\)$/m);
    assert.match(engines, /^periodic_remove = .*> 3600\)$/m);
    assert.match(engines, /^output = .*-\$\(Cluster\)\.\$\(Process\)\.out$/m);
    assertGolden('htcondor', 'engines.sub', engines);
    const controller = htcondorScript(goldenInput('controller', 1), htcondorOptionFields.parse({}));
    assert.match(controller, /^queue 1$/m);
    assertGolden('htcondor', 'controller.sub', controller);
  });

  test('new-syntax quoting of arguments and environment', () => {
    assert.equal(condorArguments(['-e', 'console.log("a b")', "it's", '']), `"-e 'console.log(""a b"")' 'it''s' ''"`);
    assert.equal(condorEnvironment({ B: 'x y', A: '1' }), `"A=1 'B=x y'"`);
  });
});

describe('htcondor output parsing', () => {
  test('condor_submit cluster ids, anchored', () => {
    assert.equal(parseCondorSubmitOutput('Submitting job(s)....\n4 job(s) submitted to cluster 123.\n'), '123');
    assert.equal(parseCondorSubmitOutput('1 job(s) submitted to cluster 7.\n'), '7');
    assert.throws(
      () => parseCondorSubmitOutput("Submitting job(s)\nERROR: Executable file /x does not exist\n", ['condor_submit', 'f.sub']),
      (err: unknown) => err instanceof SchedulerError && /does not exist/.test(err.output ?? ''),
    );
    assert.throws(() => parseCondorSubmitOutput('WARNING: 12 job(s) pending in cluster 5'), SchedulerError);
  });

  test('JobStatus numbers, in the queue and in the history', () => {
    assert.equal(condorStatusToJobState(1, undefined, false), 'queued');
    assert.equal(condorStatusToJobState(5, undefined, false), 'queued');
    assert.equal(condorStatusToJobState(2, undefined, false), 'running');
    assert.equal(condorStatusToJobState(3, undefined, false), 'running');
    assert.equal(condorStatusToJobState(3, undefined, true), 'cancelled');
    assert.equal(condorStatusToJobState(4, 0, true), 'finished');
    assert.equal(condorStatusToJobState(4, 2, true), 'failed');
    assert.equal(condorStatusToJobState(4, undefined, true), 'failed');
    assert.equal(condorStatusToJobState(9, undefined, true), 'unknown');
    assert.deepEqual(parseCondorAutoformat('2 undefined\n1 undefined\n', false), { state: 'running', rawState: 'Running,Idle' });
    assert.deepEqual(parseCondorAutoformat('4 0\n4 3\n', true), { state: 'failed', rawState: 'Completed', exitCode: 3 });
  });

  test('query: condor_q, then condor_history; failures are unknown', async () => {
    assert.equal((await queryHtcondorJobState('5', fake([{ stdout: '2 undefined\n' }]))).state, 'running');
    assert.equal((await queryHtcondorJobState('5', fake([{ stdout: '' }, { stdout: '3 undefined\n3 undefined\n' }]))).state, 'cancelled');
    const down = await queryHtcondorJobState('5', fake([{ exitCode: 1, stderr: '-- Failed to fetch ads from: <127.0.0.1:9618> : head\nSECMAN:2007:Failed to end classad message.\n' }]));
    assert.equal(down.state, 'unknown');
    assert.match(down.message!, /Failed to fetch ads/);
    assert.equal((await queryHtcondorJobState('5', fake([{ stdout: '' }, { stdout: '' }]))).state, 'unknown');
  });
});
