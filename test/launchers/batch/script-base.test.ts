/**
 * The job-script batch base: the split of an engine set into jobs, the ScriptScheduler's commands (a real process
 * per command: a refused submit, a script fed on standard input, a failing status command read as unknown), and the
 * OAR example of the guide (examples/batch-launcher/oar.ts) writing its script and reading its tools' output.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import 'reflect-metadata';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, SchedulerError } from '../../../src/core/errors.js';
import { loadConfig } from '../../../src/config/load.js';
import { createCluster } from '../../../src/index.js';
import { splitEngineSet, scriptLauncherOptions } from '../../../src/launchers/batch/script-launcher.js';
import { ScriptScheduler, redactKeys, runCommand, type BatchSystem } from '../../../src/launchers/batch/script-scheduler.js';
import type { JobScriptInput } from '../../../src/launchers/batch/scheduler-kit.js';
import { oarLauncherOptions, oarSystem } from '../../../examples/batch-launcher/oar.js';
import { tempDir } from '../../support/cluster.js';

describe('splitEngineSet', () => {
  test('enginesPerJob gives full jobs and a remainder; jobs splits as evenly as it can', () => {
    assert.deepEqual(splitEngineSet(10, { enginesPerJob: 4 }), [4, 4, 2]);
    assert.deepEqual(splitEngineSet(10, { jobs: 3 }), [4, 3, 3]);
    assert.deepEqual(splitEngineSet(2, { jobs: 5 }), [1, 1]);
    assert.deepEqual(splitEngineSet(7, {}), [7]);
    assert.throws(() => splitEngineSet(6, { jobs: 2, enginesPerJob: 5 }), (e: unknown) => e instanceof ConfigError && /not both/.test(e.message));
  });

  test('the launcher options jobs / enginesPerJob moved to engines.*: given there, they are refused with the fix', () => {
    for (const key of ['jobs', 'enginesPerJob']) {
      const r = scriptLauncherOptions.safeParse({ [key]: 4 });
      assert.ok(!r.success);
      assert.match(r.error.issues[0]!.message, new RegExp(`moved: set engines\\.${key}`));
    }
  });
});

/** A batch system whose three commands are shell scripts in `bin`, to drive ScriptScheduler with real processes. */
function shellSystem(bin: string): BatchSystem<Record<string, never>> {
  return {
    name: 'shellsys',
    ext: 'sh',
    script: (input) => `#!/bin/sh\n# ${input.jobName} n=${input.n}\n`,
    submit: (file) => ({ argv: [path.join(bin, 'submit')], stdinPath: file }),
    parseJobId: (output) => /^ID (\d+)$/m.exec(output)?.[1] ?? (() => { throw new SchedulerError('no id'); })(),
    async query(jobId, run) {
      const r = await run([path.join(bin, 'status'), jobId]);
      if (r.exitCode !== 0) return { id: jobId, state: 'unknown', message: r.stderr.trim() };
      return { id: jobId, state: r.stdout.trim() === 'DONE' ? 'finished' : 'running', rawState: r.stdout.trim() };
    },
    cancel: (jobId) => [path.join(bin, 'cancel'), jobId],
  };
}

async function script(dir: string, name: string, body: string): Promise<void> {
  await writeFile(path.join(dir, name), `#!/bin/sh\n${body}\n`);
  await chmod(path.join(dir, name), 0o755);
}

describe('ScriptScheduler', () => {
  const input = (profileDir: string): JobScriptInput => ({ role: 'engines', n: 3, jobName: 'tsparallel-engines', command: ['tsengine'], env: {}, profileDir, clusterId: '' });

  test('writes the script with mode 0700, feeds it on stdin, reads the id; a failing status command is unknown, not finished', async () => {
    const tmp = await tempDir('tsparallel-scriptsched-');
    try {
      const bin = path.join(tmp.dir, 'bin');
      await mkdir(bin);
      // submit: copies its standard input next to itself and prints an id; status: fails while "down" exists.
      await script(bin, 'submit', `cat > "${tmp.dir}/received"; echo "some warning 99"; echo "ID 42"`);
      await script(bin, 'status', `[ -e "${tmp.dir}/down" ] && { echo "cannot reach server" >&2; exit 1; }; echo DONE`);
      await script(bin, 'cancel', 'exit 0');
      const scheduler = new ScriptScheduler(shellSystem(bin), {});
      const scriptPath = path.join(tmp.dir, 'profile', 'batch', 'default-engines-0.sh');
      const id = await scheduler.submit({ name: 'x', tasks: [], extra: { scriptInput: input(path.join(tmp.dir, 'profile')), scriptPath } });
      assert.equal(id, '42');
      assert.equal((await stat(scriptPath)).mode & 0o777, 0o700);
      assert.equal(await readFile(path.join(tmp.dir, 'received'), 'utf8'), '#!/bin/sh\n# tsparallel-engines n=3\n');
      await writeFile(path.join(tmp.dir, 'down'), '');
      await assert.rejects(scheduler.status(id), (e: unknown) => e instanceof SchedulerError && /unknown: cannot reach server/.test(e.message));
      await unlink(path.join(tmp.dir, 'down'));
      const done = await scheduler.status(id);
      assert.equal(done.state, 'finished');
      assert.match(done.message ?? '', /job 42 ended DONE/);
    } finally {
      await tmp.remove();
    }
  });

  test('a refused submit is a SchedulerError at once, with the command and its output', async () => {
    const tmp = await tempDir('tsparallel-scriptsched-');
    try {
      const bin = path.join(tmp.dir, 'bin');
      await mkdir(bin);
      await script(bin, 'submit', 'echo "sbatch: error: invalid partition specified: nosuch" >&2; exit 1');
      const scheduler = new ScriptScheduler(shellSystem(bin), {});
      const scriptPath = path.join(tmp.dir, 'batch', 'default-controller-0.sh');
      await assert.rejects(scheduler.submit({ name: 'x', tasks: [], extra: { scriptInput: input(tmp.dir), scriptPath } }), (e: unknown) => {
        assert.ok(e instanceof SchedulerError);
        assert.equal(e.exitCode, 1);
        assert.match(e.output ?? '', /invalid partition specified: nosuch/);
        assert.deepEqual(e.command, [path.join(bin, 'submit'), '<', scriptPath]);
        return true;
      });
    } finally {
      await tmp.remove();
    }
  });

  test('a missing program is a SchedulerError naming it and the hint', async () => {
    await assert.rejects(runCommand(['/nonexistent/sbatch'], { timeoutMs: 5000, scheduler: 'slurm', hint: 'install slurm-client' }), /cannot run '\/nonexistent\/sbatch': not found; install slurm-client/);
  });
});

describe('redactKeys', () => {
  test('hides the HMAC key of exported connection info, in shell and HTCondor quoting, and nothing else', () => {
    const info = JSON.stringify({ transport: 'tcp', key: 'ab12cd', address: 'tcp://10.0.0.1:5555' });
    const shell = `export TSPARALLEL_CONNECTION_INFO='${info}'\n`;
    assert.equal(redactKeys(shell), `export TSPARALLEL_CONNECTION_INFO='{"transport":"tcp","key":"<redacted>","address":"tcp://10.0.0.1:5555"}'\n`);
    const condor = `environment = "'TSPARALLEL_CONNECTION_INFO=${info.replace(/"/g, '""')}'"`;
    assert.ok(!redactKeys(condor).includes('ab12cd'));
    assert.ok(redactKeys(condor).includes('""key"":""<redacted>""'));
    assert.equal(redactKeys('#SBATCH --partition=debug\n'), '#SBATCH --partition=debug\n');
  });
});

describe('the OAR example of the guide', () => {
  test('its options extend the shared ones, its script has the #OAR lines, and it reads oarsub and oarstat output', async () => {
    const options = oarLauncherOptions.parse({ queue: 'besteffort', walltime: '90m', vars: { site: 'x' } });
    assert.deepEqual(options.vars, { site: 'x' });
    assert.equal(options.walltime, 5400);
    assert.ok(Object.keys(scriptLauncherOptions.shape).every((k) => k in oarLauncherOptions.shape));
    const text = oarSystem.script({ role: 'engines', n: 4, jobName: 'tsparallel-engines', command: ['tsengine', '--x'], env: { A: '1' }, profileDir: '/p', clusterId: '' }, options);
    assert.match(text, /^#OAR -l \/core=4,walltime=01:30:00$/m);
    assert.match(text, /^#OAR -q besteffort$/m);
    assert.match(text, /^export A=1$/m);
    assert.match(text, /oarsh "\$host" tsengine --x &/);
    assert.equal(oarSystem.parseJobId('[ADMISSION RULE] Set default walltime\nOAR_JOB_ID=4242\n', ['oarsub']), '4242');
    assert.throws(() => oarSystem.parseJobId('[ADMISSION RULE] error 12\n', ['oarsub']), SchedulerError);
    const answers: Record<string, { exitCode: number; stdout: string }> = { '7': { exitCode: 0, stdout: '7: Running\n' }, '8': { exitCode: 0, stdout: '' }, '9': { exitCode: 1, stdout: '' } };
    const run = async (argv: readonly string[]) => ({ command: argv, stderr: 'server down', ...answers[argv[3]!]! });
    assert.deepEqual(await oarSystem.query('7', run, options), { id: '7', state: 'running', rawState: 'Running' });
    assert.equal((await oarSystem.query('8', run, options)).rawState, 'NOT_FOUND');
    assert.equal((await oarSystem.query('9', run, options)).state, 'unknown');
  });
});

describe('engines.jobs / engines.enginesPerJob', () => {
  test('read from config and the environment; both at once is a ConfigError naming where each came from', async () => {
    const tmp = await tempDir('tsparallel-jobsplit-');
    try {
      const fromEnv = await loadConfig({ profileDir: tmp.dir, projectDir: null, env: { TSPARALLEL_ENGINES_ENGINES_PER_JOB: '16' } });
      assert.equal(fromEnv.config.engines.enginesPerJob, 16);
      assert.equal(fromEnv.config.engines.jobs, 1, 'the default: one job');
      await assert.rejects(
        loadConfig({ profileDir: tmp.dir, projectDir: null, env: { TSPARALLEL_ENGINES_JOBS: '4' }, overrides: { engines: { enginesPerJob: 16 } } }),
        (e: unknown) => e instanceof ConfigError && /engines\.jobs \(given 4, from env TSPARALLEL_ENGINES_JOBS\) and engines\.enginesPerJob \(given 16, from override\)/.test(e.message) && /give one/.test(e.message),
      );
      await assert.rejects(loadConfig({ profileDir: tmp.dir, projectDir: null, env: {}, overrides: { engines: { jobs: 0 } } }), ConfigError);
    } finally {
      await tmp.remove();
    }
  });

  test('a launcher that cannot split an engine set refuses them before anything starts', async () => {
    const tmp = await tempDir('tsparallel-jobsplit-');
    try {
      await assert.rejects(
        createCluster({ n: 2, profileDir: tmp.dir, projectDir: null, engines: { launcher: 'local', jobs: 2 } }),
        (e: unknown) => e instanceof ConfigError && /engines\.jobs \(2\) splits an engine set into batch jobs, but engines\.launcher 'local'/.test(e.message),
      );
      assert.deepEqual(await readdir(path.join(tmp.dir, 'security')).catch(() => []), [], 'no controller was started');
    } finally {
      await tmp.remove();
    }
  });
});
