import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { describeFailedTask, parseTaskView } from '../../../src/launchers/windows-hpc/task-view.js';

describe('reading what task view prints', () => {
  test('the properties a failure report uses, with an Output of several lines that look like properties', () => {
    const printed = [
      'Id                      : 12.3',
      'Name                    : engine-2',
      'State                   : Failed',
      'StdOutFilePath          : ',
      'Exit Code               : -1073741819',
      'ErrorMessage            : Task failed during execution with exit code -1073741819.',
      'Output                  : engine 2 starting',
      'Error: connect ECONNREFUSED 10.0.0.5:5555',
      '    at TCPConnectWrap.afterConnect (node:net:1300:16)',
      'NodeName                : NODE07',
      '',
    ].join('\r\n');
    assert.deepEqual(parseTaskView(printed), {
      state: 'Failed',
      name: 'engine-2',
      exitCode: -1073741819,
      errorMessage: 'Task failed during execution with exit code -1073741819.',
      output: 'engine 2 starting\nError: connect ECONNREFUSED 10.0.0.5:5555\n    at TCPConnectWrap.afterConnect (node:net:1300:16)',
    });
  });

  test('a TaskState line counts as the state; an empty Output is no output', () => {
    assert.deepEqual(parseTaskView('TaskState : Running\nOutput :\n'), { state: 'Running' });
  });

  test('garbled or foreign output is no task, not a guess', () => {
    assert.equal(parseTaskView(''), undefined);
    assert.equal(parseTaskView('\u0000\u0001garbage\nState'), undefined);
    assert.equal(parseTaskView('Output : State : Failed'), undefined);
    assert.equal(parseTaskView('State : 42 %'), undefined);
    assert.equal(parseTaskView('The term "task" is not recognized as the name of a cmdlet.'), undefined);
  });
});

describe('describeFailedTask', () => {
  test('names the task, its exit code and message, and ends with the last 20 lines of its output', () => {
    const output = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`).join('\n');
    const text = describeFailedTask('7.1', { state: 'Failed', name: 'engine-0', exitCode: 1, errorMessage: 'exited with 1.', output });
    assert.equal(
      text,
      `task 7.1 (engine-0) failed with exit code 1: exited with 1.\nits last output (task view 7.1):\n${Array.from({ length: 20 }, (_, i) => `line ${i + 11}`).join('\n')}`,
    );
  });

  test('names the files the output went to, from task view or else from the job as submitted', () => {
    assert.equal(
      describeFailedTask('7.2', { state: 'Failed' }, { stdoutPath: '\\\\fs\\logs\\e-1.out', stderrPath: '\\\\fs\\logs\\e-1.err' }),
      'task 7.2 failed\nits standard output in \\\\fs\\logs\\e-1.out, standard error in \\\\fs\\logs\\e-1.err',
    );
    assert.equal(
      describeFailedTask('7.2', { state: 'Failed', stderrPath: 'C:\\x.err', output: 'only stdout here' }),
      'task 7.2 failed\nits standard error in C:\\x.err\nits last output (task view 7.2):\nonly stdout here',
    );
    assert.equal(describeFailedTask('7.3', { state: 'Failed' }), 'task 7.3 failed\nit printed nothing the scheduler kept (task view 7.3)');
  });
});
