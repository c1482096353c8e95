import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pbsOptionFields } from '../../../src/launchers/pbs/options.js';
import { pbsArrayIndexVariable, pbsCommands, pbsScript } from '../../../src/launchers/pbs/script.js';
import { assertGolden, goldenInput } from '../../support/golden.js';

describe('pbs job scripts', () => {
  test('PBS Pro controller with every directive', () => {
    const options = pbsOptionFields.parse({ queue: 'workq', account: 'proj42', walltime: '90m', resources: 'select=1:ncpus=2', qsubArgs: ['-m n'] });
    const script = pbsScript(goldenInput('controller', 1), options);
    assert.doesNotMatch(script, /-J|-t /);
    assertGolden('pbs', 'pbspro-controller.sh', script);
  });

  test('PBS Pro engines: -J 1-n, output per element with ^array_index^', () => {
    const script = pbsScript(goldenInput('engines', 4), pbsOptionFields.parse({ walltime: 36 * 3600 }));
    assert.match(script, /^#PBS -J 1-4$/m);
    assert.match(script, /^#PBS -l walltime=36:00:00$/m);
    assert.match(script, /^#PBS -o .*-\^array_index\^\.out$/m);
    assertGolden('pbs', 'pbspro-engines.sh', script);
  });

  test('one engine: no array directive (PBS Pro refuses a one-element array)', () => {
    for (const flavor of ['pbspro', 'torque'] as const) {
      const script = pbsScript(goldenInput('engines', 1), pbsOptionFields.parse({ flavor }));
      assert.doesNotMatch(script, /^#PBS -(J|t) /m, flavor);
    }
    assertGolden('pbs', 'pbspro-engines-1.sh', pbsScript(goldenInput('engines', 1), pbsOptionFields.parse({})));
  });

  test('Torque engines: -t 1-n and nodes= resources', () => {
    const script = pbsScript(goldenInput('engines', 3), pbsOptionFields.parse({ flavor: 'torque', queue: 'batch', resources: 'nodes=3:ppn=1' }));
    assert.match(script, /^#PBS -t 1-3$/m);
    assert.match(script, /^#PBS -l nodes=3:ppn=1$/m);
    assertGolden('pbs', 'torque-engines.sh', script);
    assert.equal(pbsArrayIndexVariable('torque'), 'PBS_ARRAYID');
    assert.equal(pbsArrayIndexVariable('pbspro'), 'PBS_ARRAY_INDEX');
    assert.deepEqual(pbsCommands.cancel('12[].s'), ['qdel', '12[].s']);
  });

  test('flavor is checked', () => {
    assert.ok(!pbsOptionFields.safeParse({ flavor: 'openlava' }).success);
  });
});
