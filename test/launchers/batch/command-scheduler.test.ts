/**
 * The command-line scheduler base: a scheduler for a new batch system is its command table, its job-file writer and
 * its two parsers. Here the "batch system" is a few real `node -e` commands keeping their state in a directory.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SchedulerError } from '../../../src/core/errors.js';
import type { JobDescription, JobState } from '../../../src/core/scheduler.js';
import { CommandScheduler, type ParsedJobState, type SchedulerCommands } from '../../../src/launchers/batch/command-scheduler.js';
import { tempDir } from '../../support/hpc-sim.js';

const node = process.execPath;
/** `qsub FILE`: prints `Your job 7 ("name") has been submitted`; `qstat ID`: prints the state file; `qdel ID`: marks it. */
const QSUB = `const fs = require('fs'); const f = process.argv[1]; const id = 7; fs.writeFileSync(f + '.state', 'r'); console.log('Your job ' + id + ' has been submitted')`;
const QSTAT = `const fs = require('fs'); const f = process.argv[1]; if (!fs.existsSync(f + '.state')) { console.error('job does not exist'); process.exit(1); } console.log('state: ' + fs.readFileSync(f + '.state', 'utf8'))`;
const QDEL = `const fs = require('fs'); const f = process.argv[1]; if (fs.readFileSync(f + '.state', 'utf8') !== 'r') { console.error('job has ended'); process.exit(1); } fs.writeFileSync(f + '.state', 'x')`;

class TinyScheduler extends CommandScheduler {
  readonly name = 'tiny';
  constructor(readonly dir: string, readonly program: string[] = [node, '-e']) {
    super();
  }
  protected readonly commands: SchedulerCommands = {
    submit: (file) => [...this.program, QSUB, file],
    status: () => [...this.program, QSTAT, path.join(this.dir, 'job.json')],
    cancel: () => [...this.program, QDEL, path.join(this.dir, 'job.json')],
  };
  protected override commandTimeoutMs(): number {
    return 20_000;
  }
  protected async writeJobFile(job: JobDescription): Promise<string> {
    const file = path.join(this.dir, 'job.json');
    await writeFile(file, JSON.stringify(job));
    return file;
  }
  protected parseJobId(output: string): string | undefined {
    return /Your job (\d+)/.exec(output)?.[1];
  }
  protected parseJobState(output: string): ParsedJobState | undefined {
    const raw = /state: (\w+)/.exec(output)?.[1];
    const states: Record<string, JobState> = { r: 'running', x: 'cancelled', d: 'finished' };
    return raw && states[raw] ? { state: states[raw]!, rawState: raw } : undefined;
  }
}

describe('CommandScheduler', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    tmp = await tempDir('tsparallel-cmdsched-');
  });
  after(() => tmp.remove());

  test('submit writes the job file and reads the id; status reads the state; cancel of an ended job is fine', async () => {
    const s = new TinyScheduler(tmp.dir);
    const id = await s.submit({ name: 'j', tasks: [{ command: ['true'] }] });
    assert.equal(id, '7');
    assert.equal(JSON.parse(await readFile(path.join(tmp.dir, 'job.json'), 'utf8')).name, 'j');
    assert.deepEqual(await s.status(id), { id, state: 'running', rawState: 'r' });
    await s.cancel(id);
    assert.equal((await s.status(id)).state, 'cancelled');
    await s.cancel(id); // the cancel command fails (the job has ended), which is not an error
  });

  test('a failing command is a SchedulerError with the command, its exit code and its output', async () => {
    const s = new TinyScheduler(path.join(tmp.dir, 'none'));
    await assert.rejects(s.status('1'), (e: unknown) => e instanceof SchedulerError && e.exitCode === 1 && /job does not exist/.test(e.output ?? '') && /tiny: '.*' failed \(exit code 1\)/s.test(e.message));
  });

  test('a missing program says so', async () => {
    const s = new TinyScheduler(tmp.dir, [path.join(tmp.dir, 'no-such-qsub')]);
    await assert.rejects(s.submit({ name: 'j', tasks: [{ command: ['true'] }] }), (e: unknown) => e instanceof SchedulerError && /cannot run the command .*no-such-qsub.*: not found/.test(e.message));
  });
});
