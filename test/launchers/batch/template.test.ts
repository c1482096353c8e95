import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, SchedulerError } from '../../../src/core/errors.js';
import { combineStates, matchJobId, parseKeyValueBlock } from '../../../src/launchers/batch/scheduler-kit.js';
import { formatWalltime, parseWalltime, renderTemplate, shellCommand, shellExports, templateLiteral } from '../../../src/launchers/batch/template.js';

describe('template renderer', () => {
  test('replaces variables, keeps ${shell} and {{literal}} braces', () => {
    assert.equal(renderTemplate('a {n} b {{x}} ${HOME} {queue}', { n: 4, queue: 'q' }), 'a 4 b {x} ${HOME} q');
    assert.equal(renderTemplate(templateLiteral('odd {n} }'), {}), 'odd {n} }');
  });
  test('an unknown variable is a ConfigError naming it and the known ones', () => {
    assert.throws(
      () => renderTemplate('#X {wall}', { n: 1, walltime: '01:00:00' }, 'launchers.pbs.template'),
      (err: unknown) => err instanceof ConfigError && /launchers\.pbs\.template uses the variable \{wall\}/.test(err.message) && /\{n\}, \{walltime\}/.test(err.message),
    );
  });
});

describe('walltime', () => {
  test('parses seconds, clock times and units', () => {
    assert.equal(parseWalltime(5400), 5400);
    assert.equal(parseWalltime('5400'), 5400);
    assert.equal(parseWalltime('1:30:00'), 5400);
    assert.equal(parseWalltime('90:00'), 5400);
    assert.equal(parseWalltime('2-01:00:00'), 2 * 86400 + 3600);
    assert.equal(parseWalltime('90m'), 5400);
    assert.equal(parseWalltime('1h30m'), 5400);
    assert.equal(parseWalltime('1d'), 86400);
    assert.equal(parseWalltime('45s'), 45);
  });
  test('refuses what is not a walltime', () => {
    for (const bad of ['', 'soon', '1:70', '0', '-5', '1:2:3:4', 'm', 0, -1]) {
      assert.throws(() => parseWalltime(bad as string | number), ConfigError, `accepted ${String(bad)}`);
    }
  });
  test('formats per scheduler', () => {
    assert.equal(formatWalltime(5400, 'hms'), '01:30:00');
    assert.equal(formatWalltime(30 * 3600, 'hms'), '30:00:00');
    assert.equal(formatWalltime(30 * 3600 + 5, 'slurm'), '1-06:00:05');
    assert.equal(formatWalltime(5401, 'lsf'), '1:31');
    assert.equal(formatWalltime(5400, 'seconds'), '5400');
  });
});

describe('shared parsing helpers', () => {
  test('shell quoting and exports', () => {
    assert.equal(shellCommand(['node', 'a b', "it's", '--x=1']), `node 'a b' 'it'\\''s' --x=1`);
    assert.equal(shellExports({ B: '2', A: 'x y' }), "export A='x y'\nexport B=2\n");
    assert.throws(() => shellExports({ 'A-B': '1' }), ConfigError);
  });
  test('matchJobId is anchored and throws a SchedulerError with the output', () => {
    assert.equal(matchJobId('warning: 7 nodes down\n123\n', /^(\d+)$/, 'x'), '123');
    assert.throws(
      () => matchJobId('warning: 7 nodes down\n', /^(\d+)$/, 'sbatch', ['sbatch', 'f']),
      (err: unknown) => err instanceof SchedulerError && err.output === 'warning: 7 nodes down\n' && err.command?.[0] === 'sbatch',
    );
  });
  test('combineStates and key = value blocks', () => {
    assert.equal(combineStates(['finished', 'running']), 'running');
    assert.equal(combineStates(['finished', 'failed', 'cancelled']), 'cancelled');
    assert.equal(combineStates(['finished', 'unknown']), 'unknown');
    assert.equal(combineStates([]), 'unknown');
    const kv = parseKeyValueBlock('Job Id: 1.s\n    Job_Name = x\n    Variable_List = A=1,B=2,\n\tC=3\n    job_state = R\n');
    assert.equal(kv.get('Variable_List'), 'A=1,B=2,C=3');
    assert.equal(kv.get('job_state'), 'R');
  });
});
