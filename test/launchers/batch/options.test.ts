/**
 * The options every batch launcher shares: one schema plugins extend, one mapper to the base's options.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { batchLauncherOptions, defaultJobName, fromBatchOptions } from '../../../src/launchers/batch/options.js';
import { scriptLauncherOptions } from '../../../src/launchers/batch/script-launcher.js';

describe('batchLauncherOptions and fromBatchOptions', () => {
  it('a plugin extends the schema and may change a default', () => {
    const schema = batchLauncherOptions.extend({ queue: z.string().optional(), pollIntervalMs: z.number().int().positive().default(5000) });
    const parsed = schema.parse({ queue: 'long' });
    assert.equal(parsed.pollIntervalMs, 5000);
    assert.equal(parsed.stopTimeoutMs, 30_000);
    assert.deepEqual(parsed.environment, {});
    assert.equal(schema.safeParse({ engineCommand: [''] }).success, false);
  });

  it('maps the role command, job name and per-task log files (Windows directories stay Windows paths)', () => {
    const options = batchLauncherOptions.parse({ engineCommand: '/opt/node', controllerCommand: ['node', 'ctl.js'], logDirectory: '\\\\host\\logs', environment: { A: '1' } });
    const engines = fromBatchOptions({ role: 'engines', clusterId: 'c1' }, options);
    assert.deepEqual(engines.program, ['/opt/node']);
    assert.equal(engines.jobName, 'tsparallel-engines-c1');
    assert.equal(engines.stdoutPath?.(2), '\\\\host\\logs\\tsparallel-engines-c1-2.out');
    assert.equal(engines.stderrPath?.(0), '\\\\host\\logs\\tsparallel-engines-c1-0.err');
    assert.deepEqual(engines.environment, { A: '1' });
    const controller = fromBatchOptions({ role: 'controller', clusterId: '' }, { ...options, logDirectory: '/var/log/tsp', jobName: 'ctl' });
    assert.deepEqual(controller.program, ['node', 'ctl.js']);
    assert.equal(controller.stdoutPath?.(0), '/var/log/tsp/ctl-0.out');
  });

  it('leaves out what is not set', () => {
    const mapped = fromBatchOptions({ role: 'engines', clusterId: '' }, batchLauncherOptions.parse({}));
    assert.equal(mapped.program, undefined);
    assert.equal(mapped.stdoutPath, undefined);
    assert.equal(mapped.workDirectory, undefined);
    assert.equal(mapped.jobName, defaultJobName({ role: 'engines', clusterId: '' }));
  });
});

describe('unknown keys', () => {
  it('batchLauncherOptions refuses a key it does not know, and so does a plugin that extends it', () => {
    const unknown = (result: { success: boolean; error?: { issues: { code: string }[] } }) => result.error?.issues.map((i) => i.code);
    assert.deepEqual(unknown(batchLauncherOptions.safeParse({ workDir: '/scratch' })), ['unrecognized_keys']);
    const schema = batchLauncherOptions.extend({ queue: z.string().optional() });
    assert.deepEqual(unknown(schema.safeParse({ queue: 'long', queu: 'long' })), ['unrecognized_keys']);
    assert.equal(schema.safeParse({ queue: 'long', workDirectory: '/scratch' }).success, true);
  });

  it('scriptLauncherOptions and what extends it refuse unknown keys too', () => {
    assert.equal(scriptLauncherOptions.safeParse({ templateFle: 'job.sh' }).success, false);
    const schema = scriptLauncherOptions.extend({ queue: z.string().optional() });
    assert.equal(schema.safeParse({ queue: 'q', vars: { a: 1 } }).success, true);
    assert.equal(schema.safeParse({ queue: 'q', var: { a: 1 } }).success, false);
  });
});
