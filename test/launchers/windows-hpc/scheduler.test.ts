import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { container } from 'tsyringe';
import { ConfigError, SchedulerError, TimeoutError } from '../../../src/core/errors.js';
import { LauncherRegistry, type ExitInfo, type Launcher, type LauncherContext } from '../../../src/core/launcher.js';
import { HPC_JOB_STATES, parseJobXml } from '../../../src/launchers/windows-hpc/job-xml.js';
import {
  hpcStateToJobState,
  parseJobViewState,
  parseSubmitOutput,
  WindowsHpcScheduler,
} from '../../../src/launchers/windows-hpc/scheduler.js';
import { CONTROLLER_JOB_FILE, ENGINE_SET_JOB_FILE, windowsHpcLauncher } from '../../../src/launchers/windows-hpc/launcher.js';
import {
  killAll, needsXmllint, simJobs, simPids, simulatorCommand, sleeperCommand, survivors, taskSimulatorCommand, tempDir, xmllintValidate,
} from '../../support/hpc-sim.js';
import { waitUntil } from '../../support/cluster.js';

const node = process.execPath;

describe('reading what job prints', () => {
  test('parseSubmitOutput finds the id, or nothing', () => {
    assert.equal(parseSubmitOutput('Job has been submitted. ID: 7.\r\n'), '7');
    assert.equal(parseSubmitOutput('job has been submitted.  id:123'), '123');
    assert.equal(parseSubmitOutput('Connecting to HEADNODE...\nJob has been submitted. ID: 42.\n'), '42');
    assert.equal(parseSubmitOutput('Job queued.'), undefined);
    assert.equal(parseSubmitOutput('Error: Unable to connect to the head node HEADNODE.'), undefined);
    assert.equal(parseSubmitOutput(''), undefined);
  });

  test('parseJobViewState reads the State line only', () => {
    assert.equal(parseJobViewState('Id      : 7\nPreviousState : Queued\nState   : Running\n'), 'Running');
    assert.equal(parseJobViewState('State : canceled'), 'Canceled');
    assert.equal(parseJobViewState('Id : 7\nName : x'), undefined);
    assert.equal(parseJobViewState('State : Exploded'), undefined);
  });

  test('every HPC job state maps to a job state; only ended ones are final', () => {
    const mapped = Object.fromEntries(HPC_JOB_STATES.map((s) => [s, hpcStateToJobState(s)]));
    assert.deepEqual(mapped, {
      Configuring: 'queued',
      Submitted: 'queued',
      Validating: 'queued',
      ExternalValidation: 'queued',
      Queued: 'queued',
      Running: 'running',
      Finishing: 'running',
      Finished: 'finished',
      Failed: 'failed',
      Canceled: 'cancelled',
      Canceling: 'running',
    });
  });
});

describe('WindowsHpcScheduler', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let simDir: string;
  before(async () => {
    tmp = await tempDir('tsparallel-winhpc-');
    simDir = path.join(tmp.dir, 'sim');
    process.env.HPC_SIM_DIR = simDir;
    process.env.HPC_SIM_GRACE_MS = '500';
  });
  after(async () => {
    killAll(simPids(simDir));
    delete process.env.HPC_SIM_HEADNODES;
    await tmp.remove();
  });

  test('a missing job command is a SchedulerError that says what to install or set', async () => {
    const hpc = new WindowsHpcScheduler({ scheduler: 'HEADNODE', jobCommand: path.join(tmp.dir, 'no', 'job.exe') });
    await assert.rejects(
      hpc.submit({ name: 'x', tasks: [{ command: ['a'] }], extra: { jobFile: path.join(tmp.dir, 'x.xml') } }),
      (e: unknown) =>
        e instanceof SchedulerError &&
        /cannot run the HPC job command .*job\.exe.*not found; install the HPC Pack client utilities/.test(e.message) &&
        /launchers\.windows-hpc\.jobCommand/.test(e.message) &&
        e.exitCode === null &&
        e.command?.[1] === 'submit',
    );
  });

  test('a submit that exits non-zero is a SchedulerError with the exit code and output', async () => {
    const hpc = new WindowsHpcScheduler({
      scheduler: 'HEADNODE',
      jobCommand: [node, '-e', 'console.error("Access is denied for user CONTOSO\\\\someone."); process.exit(5)'],
    });
    await assert.rejects(
      hpc.submit({ name: 'x', tasks: [{ command: ['a'] }], extra: { jobFile: path.join(tmp.dir, 'x.xml') } }),
      (e: unknown) =>
        e instanceof SchedulerError && e.exitCode === 5 && /Access is denied/.test(e.output ?? '') && /exit code 5/.test(e.message),
    );
  });

  test('a submit that prints no id is a SchedulerError with what it printed', async () => {
    const hpc = new WindowsHpcScheduler({ scheduler: 'HEADNODE', jobCommand: [node, '-e', 'console.log("Job queued.")'] });
    await assert.rejects(
      hpc.submit({ name: 'x', tasks: [{ command: ['a'] }], extra: { jobFile: path.join(tmp.dir, 'x.xml') } }),
      (e: unknown) => e instanceof SchedulerError && /printed no job id/.test(e.message) && e.output === 'Job queued.' && e.exitCode === 0,
    );
  });

  test('submit, view and cancel through the simulator; cancel leaves no process', { skip: needsXmllint }, async () => {
    const hpc = new WindowsHpcScheduler({ scheduler: 'HEADNODE', jobCommand: simulatorCommand() });
    const jobFile = path.join(tmp.dir, 'profile', 'sleepers_job.xml');
    const id = await hpc.submit({
      name: 'sleepers',
      tasks: [{ command: sleeperCommand() }, { command: sleeperCommand(true) }],
      extra: { jobFile, priority: 'Highest' },
    });
    assert.match(id, /^\d+$/);
    assert.ok(xmllintValidate(jobFile).ok);
    assert.equal(parseJobXml(await readFile(jobFile, 'utf8')).settings.priority, 'Highest');
    const status = await hpc.status(id);
    assert.ok(['queued', 'running'].includes(status.state), status.rawState);
    await hpc.cancel(id);
    assert.deepEqual(await hpc.status(id), { id, state: 'cancelled', rawState: 'Canceled' });
    const job = simJobs(simDir).find((j) => String(j.id) === id)!;
    assert.equal(job.state, 'Canceled');
    assert.deepEqual(await survivors(simPids(simDir)), [], 'no process survives the cancel');
    await hpc.cancel(id); // HPC refuses to cancel an ended job; for the scheduler that is nothing to do
  });

  /** Submit `tasks` and poll until the job ended; resolves its last status. */
  async function runToEnd(hpc: WindowsHpcScheduler, name: string, commands: string[][]) {
    const id = await hpc.submit({
      name,
      tasks: commands.map((command, i) => ({ name: `engine-${i}`, command })),
      extra: { jobFile: path.join(tmp.dir, `${name}_job.xml`) },
    });
    let status = await hpc.status(id);
    await waitUntil(async () => ['failed', 'finished'].includes((status = await hpc.status(id)).state), 20_000, `job ${id} to end`);
    return status;
  }

  test('a failed job: status names the failed task, its exit code and the last lines of its output', { skip: needsXmllint }, async () => {
    const hpc = new WindowsHpcScheduler({ scheduler: 'HEADNODE', jobCommand: simulatorCommand(), taskCommand: taskSimulatorCommand() });
    const status = await runToEnd(hpc, 'dies', [
      [node, '-e', 'setTimeout(() => {}, 200)'],
      [node, '-e', 'console.log("engine 1 starting"); console.error("Error: no route to the controller at 10.0.0.5"); process.exit(1)'],
    ]);
    assert.equal(status.state, 'failed');
    assert.equal(status.exitCode, 1);
    assert.match(status.message ?? '', new RegExp(`^task ${status.id}\\.2 \\(engine-1\\) failed with exit code 1`));
    assert.match(status.message ?? '', /its last output \(task view \d+\.2\):\nengine 1 starting\nError: no route to the controller at 10\.0\.0\.5$/);
  });

  test('a task command that fails or prints garbage does not hide the failure: the message says so', { skip: needsXmllint }, async () => {
    const garbled = new WindowsHpcScheduler({
      scheduler: 'HEADNODE',
      jobCommand: simulatorCommand(),
      taskCommand: [node, '-e', 'console.log("\\u001b[31m#< CLIXML <Objs Version=1.1.0.1>")'],
    });
    const one = await runToEnd(garbled, 'garbled', [[node, '-e', 'process.exit(4)']]);
    assert.equal(one.state, 'failed');
    assert.equal(one.exitCode, undefined);
    assert.match(one.message ?? '', new RegExp(`^job ${one.id} failed; '.*view ${one.id}\\.1 /scheduler:HEADNODE' printed no task state, so its output is not known\\. It printed:\\n.*CLIXML`));

    const missing = new WindowsHpcScheduler({ scheduler: 'HEADNODE', jobCommand: simulatorCommand(), taskCommand: path.join(tmp.dir, 'no', 'task.exe') });
    const two = await runToEnd(missing, 'notask', [[node, '-e', 'process.exit(4)']]);
    assert.equal(two.state, 'failed');
    assert.match(two.message ?? '', /the output of its task \d+\.1 could not be read: .*cannot run the HPC task command .*task\.exe.*not found.*launchers\.windows-hpc\.taskCommand/);
  });

  test('what HPC Pack refuses becomes a SchedulerError with its output', { skip: needsXmllint }, async () => {
    const hpc = new WindowsHpcScheduler({ scheduler: 'HEADNODE', jobCommand: simulatorCommand() });
    const bad = path.join(tmp.dir, 'bad_job.xml');
    await writeFile(bad, '<Job xmlns="http://schemas.microsoft.com/HPCS2008/scheduler/" Priority="Urgent"><Dependencies/><Tasks/></Job>');
    await assert.rejects(
      hpc.submitJobFile(bad),
      (e: unknown) => e instanceof SchedulerError && e.exitCode === 1 && /not valid against the job schema/.test(e.output ?? '') && /Urgent/.test(e.output ?? ''),
    );
    await assert.rejects(hpc.status('9999'), (e: unknown) => e instanceof SchedulerError && /Job 9999 does not exist/.test(e.output ?? ''));
    await assert.rejects(hpc.cancel('9999'), (e: unknown) => e instanceof SchedulerError && /does not exist/.test(e.output ?? ''));
    process.env.HPC_SIM_HEADNODES = 'HEADNODE';
    try {
      const other = new WindowsHpcScheduler({ scheduler: 'NOSUCHHEAD', jobCommand: simulatorCommand() });
      await assert.rejects(
        other.submit({ name: 'x', tasks: [{ command: ['a'] }], extra: { jobFile: path.join(tmp.dir, 'y.xml') } }),
        (e: unknown) => e instanceof SchedulerError && /Unable to connect to the head node NOSUCHHEAD/.test(e.output ?? ''),
      );
    } finally {
      delete process.env.HPC_SIM_HEADNODES;
    }
  });
});

describe('the windows-hpc launcher', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let simDir: string;
  let profileDir: string;
  const registry = new LauncherRegistry().register(windowsHpcLauncher);
  const started: Launcher[] = [];

  before(async () => {
    tmp = await tempDir('tsparallel-winhpc-launcher-');
    simDir = path.join(tmp.dir, 'sim');
    profileDir = path.join(tmp.dir, 'profile_mycluster');
    process.env.HPC_SIM_DIR = simDir;
    process.env.HPC_SIM_GRACE_MS = '500';
  });
  after(async () => {
    await Promise.allSettled(started.map((l) => l.stop()));
    killAll(simPids(simDir));
    await tmp.remove();
  });

  function context(role: 'controller' | 'engines', n: number, args: string[] = ['--connection-file', 'C:\\a b\\engine.json']): LauncherContext {
    return { role, n, clusterId: '', profileDir, program: ['tsengine.exe'], args, env: { ROLE_ENV: role }, container: container.createChildContainer() };
  }

  function create(role: 'controller' | 'engines', n: number, options: Record<string, unknown>, args?: string[]): Launcher {
    const launcher = registry.create('windows-hpc', context(role, n, args), options);
    started.push(launcher);
    return launcher;
  }

  test('the head node is required, and the error says where to set it', () => {
    assert.throws(
      () => registry.create('windows-hpc', context('engines', 1), {}),
      (e: unknown) => e instanceof ConfigError && /launchers\.windows-hpc\.scheduler/.test(e.message) && /'HEADNODE'/.test(e.message),
    );
    assert.throws(() => registry.create('windows-hpc', context('engines', 1), { scheduler: '' }), /launchers\.windows-hpc\.scheduler: is empty/);
    assert.throws(() => registry.create('windows-hpc', context('engines', 1), { scheduler: 'H', runtime: 'soon' }), /launchers\.windows-hpc\.runtime: 'soon' is not a run time/);
    assert.throws(() => registry.create('windows-hpc', context('engines', 1), { scheduler: 'H', numCores: '8-4' }), /launchers\.windows-hpc\.numCores/);
    assert.throws(() => registry.create('windows-hpc', context('engines', 1), { scheduler: 'H', priority: 'Urgent' }), /launchers\.windows-hpc\.priority/);
  });

  test('a misspelled option is an error naming the option it meant, not a job without it', () => {
    assert.throws(
      () => registry.create('windows-hpc', context('engines', 1), { scheduler: 'HEADNODE', workDir: '\\\\blue\\share' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message === "bad options for launcher 'windows-hpc': launchers.windows-hpc: unknown key 'workDir' (did you mean 'workDirectory'?)",
    );
    assert.throws(
      () => registry.create('windows-hpc', context('engines', 1), { scheduler: 'HEADNODE', priorty: 'Highest', exclusve: true }),
      /launchers\.windows-hpc: unknown key 'priorty' \(did you mean 'priority'\?\); launchers\.windows-hpc: unknown key 'exclusve' \(did you mean 'exclusive'\?\)/,
    );
    // With the required head node missing too, both are said.
    assert.throws(
      () => registry.create('windows-hpc', context('engines', 1), { schedular: 'HEADNODE' }),
      (e: unknown) => e instanceof ConfigError && /launchers\.windows-hpc\.scheduler: is required/.test(e.message) && /unknown key 'schedular' \(did you mean 'scheduler'\?\)/.test(e.message),
    );
  });

  test('a failing submit fails start() cleanly with the SchedulerError', async () => {
    const launcher = create('controller', 1, { scheduler: 'HEADNODE', jobCommand: [node, '-e', 'console.log("The scheduler is paused."); process.exit(1)'] });
    await assert.rejects(launcher.start(), (e: unknown) => e instanceof SchedulerError && /The scheduler is paused/.test(e.output ?? ''));
    assert.equal(launcher.state, 'stopped');
    assert.deepEqual(launcher.jobIds, []);
    await launcher.stop();
  });

  test('writes ipengineset_job.xml (rewritten on each start) with HPC terms from the options', { skip: needsXmllint }, async () => {
    const { mkdir } = await import('node:fs/promises');
    await mkdir(profileDir, { recursive: true });
    const file = path.join(profileDir, ENGINE_SET_JOB_FILE);
    await writeFile(file, 'stale content from an older start');
    // A job command that accepts every submit and knows nothing else: enough to look at the file written.
    const launcher = registry.create('windows-hpc', context('engines', 4), {
      scheduler: 'HEADNODE',
      jobCommand: [node, '-e', 'console.log("Job has been submitted. ID: 31.")'],
      stopTimeoutMs: 1000,
      engineCommand: ['C:\\Program Files\\nodejs\\node.exe', '\\\\blue\\share\\tsparallel\\tsengine.js'],
      workDirectory: '\\\\blue\\domainusers$\\bgranger',
      priority: 'AboveNormal',
      numCores: '4-8',
      runtime: '1:30',
      projectName: 'seed',
      nodeGroups: 'ComputeNodes;GPU',
      environment: { EXTRA: '1' },
      logDirectory: '\\\\blue\\logs',
    });
    await launcher.start();
    assert.deepEqual(launcher.jobIds, ['31']);
    const xml = await readFile(file, 'utf8');
    assert.ok(xmllintValidate(file).ok);
    const parsed = parseJobXml(xml);
    assert.equal(parsed.job.name, 'tsparallel-engines');
    assert.equal(parsed.job.tasks.length, 4);
    for (const [i, task] of parsed.job.tasks.entries()) {
      assert.deepEqual(task.command, ['C:\\Program Files\\nodejs\\node.exe', '\\\\blue\\share\\tsparallel\\tsengine.js', '--connection-file', 'C:\\a b\\engine.json']);
      assert.equal(task.workDirectory, '\\\\blue\\domainusers$\\bgranger');
      assert.equal(task.stdoutPath, `\\\\blue\\logs\\tsparallel-engines-${i}.out`);
      assert.deepEqual(task.environment, { ROLE_ENV: 'engines', EXTRA: '1' });
    }
    assert.deepEqual(parsed.settings, {
      priority: 'AboveNormal',
      unitType: 'Core',
      minCores: 4,
      maxCores: 8,
      runtimeSeconds: 5400,
      project: 'seed',
      nodeGroups: ['ComputeNodes', 'GPU'],
    });
    assert.match(xml, /CommandLine="&quot;C:\\Program Files\\nodejs\\node.exe&quot; \\\\blue\\share\\tsparallel\\tsengine.js --connection-file &quot;C:\\a b\\engine.json&quot;"/);
    // Its stop() cannot learn the job's state from this command: it gives up after stopTimeoutMs, saying why.
    // (Whether a query finished within the limit depends on the machine's load, so only the stable part is checked.)
    await assert.rejects(launcher.stop(), (e: unknown) => e instanceof TimeoutError && /job 31 was cancelled but could not be checked/.test(e.message));
    assert.equal(launcher.state, 'stopped');
  });

  test('controller and engines as simulated HPC jobs: started, watched, cancelled on stop with no process left', { skip: needsXmllint }, async () => {
    const jobCommand = simulatorCommand();
    const controller = create('controller', 1, { scheduler: 'HEADNODE', jobCommand, controllerCommand: sleeperCommand(), pollIntervalMs: 100 });
    const engines = create('engines', 3, { scheduler: 'HEADNODE', jobCommand, engineCommand: sleeperCommand(true), pollIntervalMs: 100 });
    const exits: ExitInfo[] = [];
    controller.onExit((i) => exits.push(i));
    engines.onExit((i) => exits.push(i));
    await controller.start();
    await engines.start();
    assert.ok(xmllintValidate(path.join(profileDir, CONTROLLER_JOB_FILE)).ok);
    assert.equal(parseJobXml(await readFile(path.join(profileDir, CONTROLLER_JOB_FILE), 'utf8')).job.tasks.length, 1);
    assert.equal(controller.jobIds.length, 1);
    assert.equal(engines.jobIds.length, 1);
    assert.deepEqual(engines.pids, []);
    await engines.stop();
    await controller.stop();
    const jobs = simJobs(simDir).filter((j) => [...controller.jobIds, ...engines.jobIds].includes(String(j.id)));
    assert.deepEqual(jobs.map((j) => j.state), ['Canceled', 'Canceled']);
    assert.deepEqual(await survivors(simPids(simDir)), []);
    assert.deepEqual(exits.map((e) => [e.code, e.signal]), [[null, null], [null, null]]);
  });

  test('a job that ends by itself is reported through onExit', { skip: needsXmllint }, async () => {
    const jobCommand = simulatorCommand();
    const taskCommand = taskSimulatorCommand();
    const ok = create('controller', 1, { scheduler: 'HEADNODE', jobCommand, controllerCommand: [node, '-e', '', '--'], pollIntervalMs: 100 });
    const bad = create('engines', 2, { scheduler: 'HEADNODE', jobCommand, taskCommand, engineCommand: [node, '-e', 'process.exit(2)', '--'], pollIntervalMs: 100 });
    const ended = (l: Launcher) => new Promise<ExitInfo>((resolve) => l.onExit(resolve));
    const [okExit, badExit] = [ended(ok), ended(bad)];
    await ok.start();
    await bad.start();
    assert.deepEqual(await okExit, { id: ok.jobIds[0], code: 0, signal: null });
    const info = await badExit;
    assert.equal(info.code, 2);
    assert.match(info.stderrTail ?? '', /^task \d+\.1 \(engine-0\) failed with exit code 2/);
    assert.equal(bad.state, 'stopped');
  });

  test('an engine that dies on a node: its output (kept by the scheduler) is in the exit report', { skip: needsXmllint }, async () => {
    const engineCommand = [node, '-e', 'console.error("tsengine: cannot load the connection info: TSPARALLEL_CONNECTION_INFO is not JSON"); process.exit(1)', '--'];
    const engines = create('engines', 2, { scheduler: 'HEADNODE', jobCommand: simulatorCommand(), taskCommand: taskSimulatorCommand(), engineCommand, pollIntervalMs: 100 });
    const exited = new Promise<ExitInfo>((resolve) => engines.onExit(resolve));
    await engines.start();
    const info = await exited;
    assert.equal(info.code, 1);
    assert.match(info.stderrTail ?? '', /^task \d+\.1 \(engine-0\) failed with exit code 1/);
    assert.match(info.stderrTail ?? '', /tsengine: cannot load the connection info: TSPARALLEL_CONNECTION_INFO is not JSON$/);
  });

  test('with logDirectory the output goes to its files, and the exit report names them', { skip: needsXmllint }, async () => {
    const logDirectory = path.join(tmp.dir, 'logs');
    const engineCommand = [node, '-e', 'console.log("engine up"); console.error("fatal: out of memory"); process.exit(3)', '--'];
    const engines = create('engines', 1, {
      scheduler: 'HEADNODE', jobCommand: simulatorCommand(), taskCommand: taskSimulatorCommand(), engineCommand, logDirectory, pollIntervalMs: 100,
    });
    const exited = new Promise<ExitInfo>((resolve) => engines.onExit(resolve));
    await engines.start();
    const info = await exited;
    const [out, err] = ['out', 'err'].map((ext) => path.join(logDirectory, `tsparallel-engines-0.${ext}`));
    assert.ok(existsSync(out) && existsSync(err));
    assert.equal(await readFile(out, 'utf8'), 'engine up\n');
    assert.equal(await readFile(err, 'utf8'), 'fatal: out of memory\n');
    assert.equal(info.code, 3);
    assert.equal(info.stderrTail, `task ${engines.jobIds[0]}.1 (engine-0) failed with exit code 3: The task exited with code 3.\nits standard output in ${out}, standard error in ${err}`);
  });
});
