import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../src/core/errors.js';
import { slurmOptionFields } from '../../../src/launchers/slurm/options.js';
import { slurmCommands, slurmScript } from '../../../src/launchers/slurm/script.js';
import { assertGolden, goldenInput } from '../../support/golden.js';

describe('slurm job scripts', () => {
  test('controller: a one-task job with every directive', () => {
    const options = slurmOptionFields.parse({ partition: 'debug', account: 'proj42', qos: 'short', walltime: '1:30:00', sbatchArgs: ['--mem-per-cpu=2G'] });
    assertGolden('slurm', 'controller.sh', slurmScript(goldenInput('controller', 1), options));
  });

  test('engines with srun (default): --ntasks=n and srun', () => {
    const options = slurmOptionFields.parse({ partition: 'debug', walltime: '2d' });
    const script = slurmScript(goldenInput('engines', 4), options);
    assert.match(script, /^#SBATCH --ntasks=4$/m);
    assert.match(script, /^exec srun /m);
    assert.match(script, /^#SBATCH --time=2-00:00:00$/m);
    assertGolden('slurm', 'engines-srun.sh', script);
  });

  test('engines as an array: --array=1-n of one task each, no srun', () => {
    const options = slurmOptionFields.parse({ engineMode: 'array' });
    const script = slurmScript(goldenInput('engines', 3), options);
    assert.match(script, /^#SBATCH --array=1-3$/m);
    assert.doesNotMatch(script, /srun|--partition|--time|--account/);
    assertGolden('slurm', 'engines-array.sh', script);
  });

  test('the environment is exported before the command, quoted for sh', () => {
    const script = slurmScript(goldenInput('controller', 1), slurmOptionFields.parse({}));
    assert.match(script, /^export ODD='it'\\''s \{literal\}'$/m);
    assert.ok(script.indexOf('export TSPARALLEL_CLUSTER_ID=c1') < script.indexOf('exec '));
  });

  test('a user template gets the variables and vars; an unknown variable is a ConfigError naming it', () => {
    const input = { ...goldenInput('engines', 2), template: '#SBATCH -n {n} -p {queue}\n#SBATCH --x={mine}\n{command} ${{HOME}} ${PATH}\n', vars: { mine: 'yes' } };
    const script = slurmScript(input, slurmOptionFields.parse({ partition: 'gpu' }));
    assert.match(script, /^#SBATCH -n 2 -p gpu$/m);
    assert.match(script, /^#SBATCH --x=yes$/m);
    assert.match(script, /tsengine\.js .* \$\{HOME\} \$\{PATH\}$/m);
    assert.throws(
      () => slurmScript({ ...input, template: '{nope}' }, slurmOptionFields.parse({})),
      (err: unknown) => err instanceof ConfigError && /\{nope\}/.test(err.message) && /\{n\}/.test(err.message) && /\{mine\}/.test(err.message),
    );
    assert.throws(() => slurmScript({ ...input, template: '{queue}' }, slurmOptionFields.parse({})), /\{queue\} is built in/);
  });

  test('options: a bad walltime is refused with the formats that work', () => {
    const r = slurmOptionFields.safeParse({ walltime: 'soon' });
    assert.ok(!r.success);
    assert.match(r.error.issues[0]!.message, /'soon' is not a walltime.*1:30:00/);
    assert.deepEqual(slurmCommands.submit('/p/batch/x.sh'), ['sbatch', '--parsable', '/p/batch/x.sh']);
  });
});
