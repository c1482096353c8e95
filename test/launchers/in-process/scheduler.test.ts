import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { container } from 'tsyringe';
import { SchedulerError } from '../../../src/core/errors.js';
import { LauncherRegistry, type LauncherContext } from '../../../src/core/launcher.js';
import { SCHEDULER } from '../../../src/core/scheduler.js';
import { buildJobXml } from '../../../src/launchers/windows-hpc/job-xml.js';
import { readHpcJobFile } from '../../../src/launchers/windows-hpc/job-file.js';
import { InProcessScheduler } from '../../../src/launchers/in-process/scheduler.js';
import { inProcessLauncher } from '../../../src/launchers/in-process/launcher.js';
import { isAlive, killAll, sleeperCommand, survivors, tempDir } from '../../support/hpc-sim.js';

const node = process.execPath;

async function waitForState(s: InProcessScheduler, id: string, states: string[], timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await s.status(id);
    if (states.includes(status.state)) return status;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${status.state} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function waitForFile(file: string, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.trim()) return text;
    if (Date.now() > deadline) throw new Error(`${file} not written within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('InProcessScheduler', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const scheduler = new InProcessScheduler({ graceMs: 300 });
  before(async () => {
    tmp = await tempDir('tsparallel-inproc-');
  });
  after(async () => {
    await scheduler.close();
    killAll(scheduler.pids().filter(isAlive));
    await tmp.remove();
  });

  test('runs real tasks with their environment, work directory and output files; finished when all exit 0', async () => {
    const out = (i: number) => path.join(tmp.dir, `t${i}.out`);
    const script = 'console.log(JSON.stringify({ argv: process.argv.slice(1), cwd: process.cwd(), greet: process.env.GREETING, task: process.env.TSPARALLEL_TASK_INDEX }))';
    const id = await scheduler.submit({
      name: 'two',
      tasks: [0, 1].map((i) => ({
        command: [node, '-e', script, 'arg with space', `n${i}`],
        workDirectory: tmp.dir,
        environment: { GREETING: `hello ${i}` },
        stdoutPath: out(i),
      })),
    });
    const status = await waitForState(scheduler, id, ['finished', 'failed']);
    assert.equal(status.state, 'finished');
    assert.equal(status.exitCode, 0);
    for (const i of [0, 1]) {
      const seen = JSON.parse(await readFile(out(i), 'utf8'));
      assert.deepEqual(seen, { argv: ['arg with space', `n${i}`], cwd: tmp.dir, greet: `hello ${i}`, task: String(i) });
    }
    assert.equal(scheduler.pids(id).length, 2);
  });

  test('a failing task fails the job, with its exit code and last lines of stderr', async () => {
    const id = await scheduler.submit({
      name: 'fails',
      tasks: [{ command: [node, '-e', 'console.error("disk full on node 7"); process.exit(3)'] }],
    });
    const status = await waitForState(scheduler, id, ['finished', 'failed']);
    assert.equal(status.state, 'failed');
    assert.equal(status.exitCode, 3);
    assert.match(status.message ?? '', /disk full on node 7/);
  });

  test('a program that cannot start fails the job and says why', async () => {
    const id = await scheduler.submit({ name: 'missing', tasks: [{ command: [path.join(tmp.dir, 'no-such-program')] }] });
    const status = await waitForState(scheduler, id, ['finished', 'failed']);
    assert.equal(status.state, 'failed');
    assert.match(status.message ?? '', /cannot start .*no-such-program \(ENOENT\)/);
  });

  test('cancel ends every task (SIGTERM, then SIGKILL for one that ignores it) and what the tasks started', async () => {
    const childPidFile = path.join(tmp.dir, 'grandchild.pid');
    // A task that starts a child of its own (same process group) and writes that child's pid.
    const parent = `const c = require('child_process').spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
      require('fs').writeFileSync(${JSON.stringify(childPidFile)}, String(c.pid)); setInterval(() => {}, 1000);`;
    const id = await scheduler.submit({
      name: 'sleepers',
      tasks: [{ command: sleeperCommand(false) }, { command: sleeperCommand(true) }, { command: [node, '-e', parent] }],
    });
    const grandchild = Number(await waitForFile(childPidFile));
    const pids = [...scheduler.pids(id), grandchild];
    assert.equal(pids.length, 4);
    assert.ok(pids.every(isAlive), 'all started');
    assert.equal((await scheduler.status(id)).state, 'running');
    await scheduler.cancel(id);
    // The task processes were reaped before cancel resolved; the grandchild was killed with their group and is
    // reaped by init, so give it a (bounded) moment.
    assert.deepEqual(await survivors(pids), [], 'no process survives the cancel');
    assert.equal((await scheduler.status(id)).state, 'cancelled');
    await scheduler.cancel(id); // harmless the second time
  });

  test('a run-until-cancelled job stays running after its tasks end, until cancelled', async () => {
    const id = await scheduler.submit({ name: 'ruc', runUntilCanceled: true, tasks: [{ command: [node, '-e', ''] }] });
    const [pid] = scheduler.pids(id);
    assert.deepEqual(await survivors([pid!]), []);
    assert.equal((await scheduler.status(id)).state, 'running');
    await scheduler.cancel(id);
    assert.equal((await scheduler.status(id)).state, 'cancelled');
  });

  test('runs the job files the windows-hpc launcher writes, read by readHpcJobFile (Windows command lines split back)', async () => {
    const file = path.join(tmp.dir, 'ipengineset_job.xml');
    const out = path.join(tmp.dir, 'xml.out');
    const argv = [node, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', 'a "quoted" word', 'C:\\dir with space\\', '\\\\host\\share'];
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, buildJobXml({ name: 'from-xml', tasks: [{ command: argv, stdoutPath: out }] }));
    const id = await scheduler.submit(await readHpcJobFile(file));
    assert.equal((await waitForState(scheduler, id, ['finished', 'failed'])).state, 'finished');
    assert.deepEqual(JSON.parse(await readFile(out, 'utf8')), argv.slice(3));
  });

  test('refuses bad jobs and unknown ids with a SchedulerError', async () => {
    await assert.rejects(scheduler.submit({ name: 'empty', tasks: [] }), (e: unknown) => e instanceof SchedulerError && /has no tasks/.test(e.message));
    await assert.rejects(scheduler.submit({ name: 'x', tasks: [{ command: [] }] }), /empty command/);
    await assert.rejects(scheduler.status('999'), (e: unknown) => e instanceof SchedulerError && /no job 999/.test(e.message));
    await assert.rejects(readHpcJobFile(path.join(tmp.dir, 'none.xml')), (e: unknown) => e instanceof SchedulerError && /cannot read job file/.test(e.message));
  });

  test('in-process tasks need a RoleRunner in the container, and say so', async () => {
    const s = new InProcessScheduler({ container: container.createChildContainer() });
    await assert.rejects(
      s.submit({ name: 'e', tasks: [{ command: [] }], extra: { runInProcess: { role: 'engines', args: [] } } }),
      (e: unknown) => e instanceof SchedulerError && /RoleRunner registered under ROLE_RUNNER/.test(e.message),
    );
  });
});

describe('the in-process launcher plugin', () => {
  function context(role: 'controller' | 'engines', n: number, args: string[], c = container.createChildContainer()): LauncherContext {
    return { role, n, clusterId: '', profileDir: '/tmp', program: sleeperCommand(), args, env: {}, container: c };
  }

  test('starts n engine processes as one job and stops them all', async () => {
    const registry = new LauncherRegistry().register(inProcessLauncher);
    const launcher = registry.create('in-process', context('engines', 3, []), { graceMs: 300, pollIntervalMs: 50 });
    const exits: unknown[] = [];
    launcher.onExit((info) => exits.push(info));
    await launcher.start();
    try {
      assert.equal(launcher.state, 'running');
      assert.equal(launcher.jobIds.length, 1);
      assert.equal(launcher.pids.length, 3);
      assert.ok(launcher.pids.every(isAlive));
    } finally {
      await launcher.stop();
    }
    assert.deepEqual(launcher.pids.filter(isAlive), []);
    assert.equal(launcher.state, 'stopped');
    assert.deepEqual(exits, [{ id: launcher.jobIds[0], code: null, signal: null }]);
  });

  test('uses the container scheduler when it is an InProcessScheduler, so a test can watch it', async () => {
    const c = container.createChildContainer();
    const shared = new InProcessScheduler({ graceMs: 300 });
    c.register(SCHEDULER, { useValue: shared });
    const launcher = new LauncherRegistry().register(inProcessLauncher).create('in-process', context('controller', 1, [], c), {});
    await launcher.start();
    try {
      assert.deepEqual(shared.jobIds(), launcher.jobIds);
      assert.equal(shared.pids().length, 1);
    } finally {
      await launcher.stop();
      await shared.close();
    }
    assert.deepEqual(shared.pids().filter(isAlive), []);
  });

  test('bad options are a ConfigError naming the option', () => {
    const registry = new LauncherRegistry().register(inProcessLauncher);
    assert.throws(() => registry.create('in-process', context('engines', 1, []), { graceMs: -1 }), /launchers\.in-process\.graceMs/);
  });
});
