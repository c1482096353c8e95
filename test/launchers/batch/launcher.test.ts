import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { container } from 'tsyringe';
import { LauncherError, SchedulerError } from '../../../src/core/errors.js';
import type { ExitInfo, LauncherContext, WatchedJob } from '../../../src/core/launcher.js';
import type { JobDescription, Scheduler } from '../../../src/core/scheduler.js';
import { BatchLauncher, isFinalJobState, type DetailedJobStatus } from '../../../src/launchers/batch/launcher.js';
import { InProcessScheduler } from '../../../src/launchers/in-process/scheduler.js';
import { isAlive, killAll, sleeperCommand, tempDir } from '../../support/hpc-sim.js';

const node = process.execPath;

function context(role: 'controller' | 'engines', n: number, overrides: Partial<LauncherContext> = {}): LauncherContext {
  return {
    role,
    n,
    clusterId: 'c1',
    profileDir: '/tmp',
    program: sleeperCommand(),
    args: ['--connection-file', '/tmp/x.json'],
    env: { FROM_CONTEXT: 'ctx' },
    container: container.createChildContainer(),
    ...overrides,
  };
}

/** Resolve once `launcher` reported an exit (bounded). */
function nextExit(launcher: BatchLauncher, timeoutMs = 15_000): Promise<ExitInfo> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs);
    launcher.onExit((info) => {
      clearTimeout(timer);
      resolve(info);
    });
  });
}

/** A real scheduler whose first `failures` status queries fail, as a busy head node's would. */
class FlakyStatus implements Scheduler {
  readonly name = 'flaky';
  queries = 0;
  constructor(
    readonly inner: InProcessScheduler,
    private failures: number,
  ) {}
  submit(job: JobDescription) {
    return this.inner.submit(job);
  }
  async status(id: string): Promise<DetailedJobStatus> {
    this.queries++;
    if (this.failures-- > 0) throw new SchedulerError('head node busy');
    return this.inner.status(id);
  }
  cancel(id: string) {
    return this.inner.cancel(id);
  }
}

describe('BatchLauncher', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const scheduler = new InProcessScheduler({ graceMs: 300 });
  before(async () => {
    tmp = await tempDir('tsparallel-batch-');
  });
  after(async () => {
    await scheduler.close();
    killAll(scheduler.pids().filter(isAlive));
    await tmp.remove();
  });

  test('engines: n tasks, each running the replacement program followed by the role arguments', async () => {
    const script = 'console.log(JSON.stringify({ argv: process.argv.slice(1), ctx: process.env.FROM_CONTEXT, opt: process.env.FROM_OPTIONS }))';
    const out = (i: number) => path.join(tmp.dir, `engine-${i}.out`);
    const launcher = new BatchLauncher(context('engines', 3), {
      name: 'test-batch',
      scheduler,
      program: [node, '-e', script, '--'],
      environment: { FROM_OPTIONS: 'opt' },
      stdoutPath: out,
      pollIntervalMs: 20,
    });
    const exit = nextExit(launcher);
    await launcher.start();
    assert.equal(launcher.jobIds.length, 1);
    assert.deepEqual(launcher.pids, []);
    assert.deepEqual(await exit, { id: launcher.jobIds[0], code: 0, signal: null });
    for (const i of [0, 1, 2]) {
      assert.deepEqual(JSON.parse(await readFile(out(i), 'utf8')), { argv: ['--connection-file', '/tmp/x.json'], ctx: 'ctx', opt: 'opt' });
    }
    assert.equal(launcher.state, 'stopped');
    assert.equal(scheduler.pids(launcher.jobIds[0]).length, 3);
  });

  test('controller: one task; a failing job reports its exit code and stderr through onExit', async () => {
    const launcher = new BatchLauncher(context('controller', 8), {
      name: 'test-batch',
      scheduler,
      program: [node, '-e', 'console.error("port in use"); process.exit(4)', '--'],
      pollIntervalMs: 20,
    });
    const exit = nextExit(launcher);
    await launcher.start();
    const info = await exit;
    assert.equal(scheduler.pids(launcher.jobIds[0]).length, 1);
    assert.equal(info.code, 4);
    assert.match(info.stderrTail ?? '', /port in use/);
  });

  test('stop() cancels the job, waits until it ended, reports the exit once, and is harmless twice', async () => {
    const launcher = new BatchLauncher(context('engines', 2), { name: 'test-batch', scheduler, pollIntervalMs: 20 });
    const exits: ExitInfo[] = [];
    launcher.onExit((i) => exits.push(i));
    await launcher.start();
    const pids = scheduler.pids(launcher.jobIds[0]);
    assert.equal(pids.length, 2);
    assert.equal(launcher.state, 'running');
    await Promise.all([launcher.stop(), launcher.stop()]);
    await launcher.stop();
    assert.deepEqual(pids.filter(isAlive), []);
    assert.equal(launcher.state, 'stopped');
    assert.equal((await scheduler.status(launcher.jobIds[0]!)).state, 'cancelled');
    assert.deepEqual(exits, [{ id: launcher.jobIds[0], code: null, signal: null }]);
  });

  test('a submit the scheduler refuses is rethrown and leaves the launcher stopped', async () => {
    const launcher = new BatchLauncher(context('engines', 1, { program: [], args: [] }), { name: 'test-batch', scheduler });
    await assert.rejects(launcher.start(), (e: unknown) => e instanceof SchedulerError && /empty command/.test(e.message));
    assert.equal(launcher.state, 'stopped');
    assert.deepEqual(launcher.jobIds, []);
    await launcher.stop();
    await assert.rejects(launcher.start(), LauncherError);
  });

  test('zero engines, an aborted start, and a second start are refused', async () => {
    await assert.rejects(new BatchLauncher(context('engines', 0), { name: 'b', scheduler }).start(), /cannot start 0 engines/);
    const aborted = new BatchLauncher(context('engines', 1), { name: 'b', scheduler });
    await assert.rejects(aborted.start({ signal: AbortSignal.abort() }));
    assert.deepEqual(aborted.jobIds, []);
    const twice = new BatchLauncher(context('controller', 1), { name: 'b', scheduler, pollIntervalMs: 20 });
    await twice.start();
    try {
      await assert.rejects(twice.start(), (e: unknown) => e instanceof LauncherError && /start\(\) called when the launcher is running/.test(e.message));
    } finally {
      await twice.stop();
    }
  });

  test('stop() before start() is harmless', async () => {
    const launcher = new BatchLauncher(context('engines', 1), { name: 'b', scheduler });
    await launcher.stop();
    assert.equal(launcher.state, 'stopped');
  });

  test('failed status queries do not end the job: the launcher keeps watching', async () => {
    const flaky = new FlakyStatus(scheduler, 3);
    const launcher = new BatchLauncher(context('controller', 1), {
      name: 'b',
      scheduler: flaky,
      program: [node, '-e', '', '--'],
      pollIntervalMs: 10,
    });
    const exit = nextExit(launcher);
    await launcher.start();
    assert.equal((await exit).code, 0);
    assert.ok(flaky.queries >= 4, `queried ${flaky.queries} times`);
  });

  test('onJobChange reports each job: queued when submitted, unknown while status fails, running, then cancelled by stop()', async () => {
    const flaky = new FlakyStatus(scheduler, 2);
    const launcher = new BatchLauncher(context('engines', 2), { name: 'b', scheduler: flaky, program: sleeperCommand(), pollIntervalMs: 10 });
    const seen: WatchedJob[] = [];
    const off = launcher.onJobChange((job) => seen.push(job));
    await launcher.start();
    const [jobId] = launcher.jobIds;
    const deadline = Date.now() + 15_000;
    while (!seen.some((j) => j.state === 'running') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(launcher.watchedJobs.map((j) => [j.id, j.state]), [[jobId, 'running']]);
    await launcher.stop();
    off();
    assert.deepEqual(seen.map((j) => [j.id, j.state]), [[jobId, 'queued'], [jobId, 'unknown'], [jobId, 'running'], [jobId, 'cancelled']]);
    assert.equal(seen[0]!.rawState, 'submitted');
    assert.match(seen[1]!.message ?? '', /head node busy/);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.since >= seen[i - 1]!.since, 'since moves forward with each change');
    assert.deepEqual(launcher.watchedJobs.map((j) => j.state), ['cancelled']);
  });

  test('isFinalJobState', () => {
    assert.deepEqual(
      (['queued', 'running', 'finished', 'failed', 'cancelled'] as const).map(isFinalJobState),
      [false, false, true, true, true],
    );
  });
});
