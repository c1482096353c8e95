/**
 * The HPC `job`/`task` simulator keeps a task's output as HPC Pack does: in files when the task names them, else
 * (the first 4 KB of it) in the task's Output property, which `task view` shows.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobTask } from '../../src/core/scheduler.js';
import { buildJobXml } from '../../src/launchers/windows-hpc/index.js';
import { waitUntil } from '../support/cluster.js';
import { killAll, needsXmllint, runSimulator, simJobs, simPids, survivors, tempDir } from '../support/hpc-sim.js';

const node = process.execPath;

describe('hpc-job-sim: task output and task view', { skip: needsXmllint }, () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let simDir: string;
  before(async () => {
    tmp = await tempDir('tsparallel-hpc-sim-');
    simDir = path.join(tmp.dir, 'sim');
  });
  after(async () => {
    killAll(simPids(simDir));
    await tmp.remove();
  });

  /** Submit a job of `tasks` through the simulator and wait until it ended; resolves its id. */
  async function runJob(name: string, tasks: JobTask[]): Promise<string> {
    const file = path.join(tmp.dir, `${name}_job.xml`);
    await writeFile(file, buildJobXml({ name, tasks }));
    const submit = runSimulator(simDir, ['submit', `/jobfile:${file}`, '/scheduler:HEADNODE']);
    assert.equal(submit.status, 0, submit.stderr);
    const id = /ID: (\d+)\./.exec(submit.stdout)![1]!;
    await waitUntil(() => ['Finished', 'Failed'].includes(simJobs(simDir).find((j) => String(j.id) === id)?.state ?? ''), 20_000, `job ${id} to end`);
    assert.deepEqual(await survivors(simPids(simDir)), []);
    return id;
  }

  test('a task with no output files: stdout and stderr are kept in Output, which task view shows last', async () => {
    const id = await runJob('nofiles', [
      { name: 'engine-0', command: [node, '-e', 'console.log("starting engine"); console.error("Error: cannot reach the controller\\n    at connect (engine.js:1)"); process.exit(1)'] },
    ]);
    const view = runSimulator(simDir, ['task', 'view', `${id}.1`, '/scheduler:HEADNODE']);
    assert.equal(view.status, 0, view.stderr);
    assert.match(view.stdout, new RegExp(`^Id +: ${id}\\.1$`, 'm'));
    assert.match(view.stdout, /^State +: Failed$/m);
    assert.match(view.stdout, /^ExitCode +: 1$/m);
    assert.match(view.stdout, /^Output +: starting engine\nError: cannot reach the controller\n {4}at connect \(engine\.js:1\)\n$/m);
  });

  test('Output keeps the first 4 KB; a task with files keeps nothing there', async () => {
    const out = path.join(tmp.dir, 'logs', 'files.out');
    const err = path.join(tmp.dir, 'logs', 'files.err');
    const id = await runJob('bounded', [
      { command: [node, '-e', 'process.stdout.write("x".repeat(10000)); process.exit(2)'] },
      { command: [node, '-e', 'console.log("to the file"); console.error("to the err file"); process.exit(3)'], stdoutPath: out, stderrPath: err },
    ]);
    const job = simJobs(simDir).find((j) => String(j.id) === id)!;
    assert.equal(job.tasks[0]!.output, 'x'.repeat(4096));
    assert.equal(job.tasks[1]!.output, undefined);
    assert.equal(readFileSync(out, 'utf8'), 'to the file\n');
    assert.equal(readFileSync(err, 'utf8'), 'to the err file\n');
    const view = runSimulator(simDir, ['task', 'view', `${id}.2`, '/scheduler:HEADNODE']).stdout;
    assert.match(view, new RegExp(`^StdOutFilePath +: ${out.replace(/[.\\/]/g, '\\$&')}$`, 'm'));
    assert.match(view, /^Output +: $/m);
  });

  test('task view of a task that does not exist, or without a task id, fails as HPC Pack does', async () => {
    const id = await runJob('one', [{ command: [node, '-e', ''] }]);
    const missing = runSimulator(simDir, ['task', 'view', `${id}.7`, '/scheduler:HEADNODE']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, new RegExp(`Task ${id}\\.7 does not exist`));
    assert.equal(runSimulator(simDir, ['task', 'view', id, '/scheduler:HEADNODE']).status, 2);
  });
});
