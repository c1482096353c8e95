#!/usr/bin/env node
/**
 * hpc-job-sim: a simulator of the HPC Pack 2008 `job` and `task` command lines, for tsparallel's tests.
 *
 * It is NOT Windows HPC Server: HPC Pack's `job` and `task` commands run only on Windows, against a head node. It is a
 * faithful stand-in for the parts the `windows-hpc` launcher uses, so that launcher can be tested end to end on a
 * machine without a Windows cluster:
 * - `job submit /jobfile:<file> /scheduler:<head>`: validates the job file against the XSD of the documented HPC Pack
 *   2008 job schema (src/testing/hpc-job-2008.xsd, shipped with the package) with `xmllint --schema` and refuses an
 *   invalid one, as the HPC Job Scheduler does; assigns the next job id, prints `Job has been submitted. ID: <id>.`, and runs the job's
 *   tasks on this machine in a detached runner process;
 * - `job view <id> /scheduler:<head> [/detailed]`: prints the job's properties, one `Name : value` line each;
 * - `job cancel <id> /scheduler:<head>`: stops the job's task processes (SIGTERM to each task's process group, then
 *   SIGKILL after a grace period) and returns only once none of them is left; cancelling an ended job is refused,
 *   as HPC Pack refuses it;
 * - `job list /scheduler:<head> [/all]`: a table of the jobs (active ones unless `/all`);
 * - `task view <jobId>.<taskId> /scheduler:<head>` (HPC Pack's separate `task` command: run the simulator with `task`
 *   as its first argument, see `hpcTaskSimulatorCommand`): the task's properties, one `Name : value` line each, and
 *   last its `Output`, which may run over several lines.
 *
 * Task output, as HPC Pack keeps it: a task's standard output goes to its `StdOutFilePath` and its standard error to
 * its `StdErrFilePath`; a stream with no file goes to the scheduler, which keeps the first 4 KB of it (more is cut)
 * in the task's `Output` property (Microsoft's HPC Pack documentation, "Understanding Application and Data Files":
 * the scheduler database holds up to 4 KB per task). Without this, a task that fails on a node leaves no trace.
 *
 * Options start with `/` (or `-`) and are case-insensitive, as on Windows. Each task's `CommandLine` is split by the
 * Windows command-line rules and run directly (no cmd.exe), with its `WorkDirectory`, `EnvironmentVariables`
 * (over this process's environment, plus `CCP_JOBID`, `CCP_TASKID` and `CCP_SCHEDULER`), and its `StdOutFilePath`/
 * `StdErrFilePath`. Job and task state live on disk in the directory named by `HPC_SIM_DIR`
 * (`jobs/<id>/state.json`, with the pids of the runner and of every task).
 *
 * Environment: `HPC_SIM_DIR` (required), `HPC_SIM_HEADNODES` (comma-separated head node names it answers to; any
 * other name fails as an unreachable head node; unset: any name), `HPC_SIM_GRACE_MS` (time between SIGTERM and
 * SIGKILL on cancel, default 2000), `HPC_SIM_XSD` (another schema file), `CCP_SCHEDULER` (default head node).
 *
 * Running tasks on other hosts (the same hook as the batch simulators, see batch-sim-core): when
 * `TSPARALLEL_SIM_EXEC` is set (e.g. `scripts/rig/hosts.sh exec {host}`), each task's command runs through that
 * prefix with `{host}` replaced by a node: round robin over the job's `RequestedNodes` when it names some, else over
 * the comma-separated `TSPARALLEL_SIM_HOSTS` (task i on node i mod the count). The prefix must pass the environment
 * on and keep the task in its process group (`nsenter` does). Unset: tasks run on this machine.
 *
 * The scheduler service: on a real cluster `job` is a client of the HPC Job Scheduler Service on the head node.
 * `job __serve ADDRESS:PORT` runs that service (it prints `listening ADDRESS:PORT` once it accepts connections);
 * with `HPC_SIM_SERVICE=ADDRESS:PORT` set, every `job` command is sent to the service and run there (with the
 * service's environment), its output and exit code passed back. The rig's tests use it so that `job` can be run on
 * the rig's `head` while the runners start tasks on `node1`/`node2` from the machine, where the rig's exec works.
 * Exit codes: 0 on success, 1 when the command fails (the message is on stderr), 2 on a usage error.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseJobXml } from '../launchers/windows-hpc/job-xml.js';
import { isProcessAlive, signalGroup, signalProcess } from '../util/processes.js';
import { withDirectoryLock } from '../util/files.js';
import { parseWindowsCommandLine } from '../launchers/windows-hpc/cmdline.js';

/** A task as the simulator records it. */
interface SimTask {
  niceId: number;
  name: string;
  commandLine: string;
  /** The node it ran on (with `TSPARALLEL_SIM_EXEC`). */
  host?: string;
  workDirectory?: string;
  environment: Record<string, string>;
  stdoutPath?: string;
  stderrPath?: string;
  /** What the scheduler kept of the streams that had no file (the `Output` property): at most {@link OUTPUT_LIMIT_BYTES}. */
  output?: string;
  state: 'Queued' | 'Running' | 'Finished' | 'Failed' | 'Canceled';
  pid?: number;
  exitCode?: number | null;
  errorMessage?: string;
  startTime?: string;
  endTime?: string;
}

/** A job as the simulator records it (`jobs/<id>/state.json`). */
interface SimJob {
  id: number;
  name: string;
  state: 'Queued' | 'Running' | 'Canceling' | 'Finished' | 'Failed' | 'Canceled';
  owner: string;
  priority: string;
  headNode: string;
  runUntilCanceled: boolean;
  submitTime: string;
  startTime?: string;
  endTime?: string;
  errorMessage?: string;
  runnerPid?: number;
  /** `RequestedNodes` of the job file: the nodes its tasks run on, in turn (with `TSPARALLEL_SIM_EXEC`). */
  requestedNodes?: string[];
  tasks: SimTask[];
}

class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const FINAL = new Set(['Finished', 'Failed', 'Canceled']);
/** How much of a task's output without a file the scheduler keeps (HPC Pack: 4 KB per task, the rest is cut). */
const OUTPUT_LIMIT_BYTES = 4096;
const graceMs = Number(process.env.HPC_SIM_GRACE_MS ?? 2000);

function simDir(): string {
  const dir = process.env.HPC_SIM_DIR;
  if (!dir) throw new CommandError('hpc-job-sim: set HPC_SIM_DIR to the directory that holds the simulated cluster state', 2);
  mkdirSync(path.join(dir, 'jobs'), { recursive: true });
  return dir;
}

function jobDir(id: number | string): string {
  return path.join(simDir(), 'jobs', String(id));
}

function readJob(id: number | string): SimJob {
  if (!/^\d+$/.test(String(id))) throw new CommandError(`'${id}' is not a job id (a job id is a number)`, 2);
  const file = path.join(jobDir(id), 'state.json');
  if (!existsSync(file)) throw new CommandError(`Job ${id} does not exist.`);
  return JSON.parse(readFileSync(file, 'utf8')) as SimJob;
}

function writeJob(job: SimJob): void {
  const dir = jobDir(job.id);
  mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.state.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(job, null, 2) + '\n');
  renameSync(tmp, path.join(dir, 'state.json'));
}


function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Take the id counter's lock, run `fn`, release it. */
function withLock<T>(fn: () => T): Promise<T> {
  return withDirectoryLock(path.join(simDir(), '.lock'), fn, () => new CommandError('hpc-job-sim: the job store is locked; try again'));
}

/** The schema file: HPC_SIM_XSD, else src/testing/hpc-job-2008.xsd of the package holding this script. */
function schemaFile(): string {
  if (process.env.HPC_SIM_XSD) return process.env.HPC_SIM_XSD;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'src', 'testing', 'hpc-job-2008.xsd');
    const parent = path.dirname(dir);
    if (parent === dir) throw new CommandError('hpc-job-sim: cannot find the package root (package.json) to locate the XSD');
    dir = parent;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Command-line parsing: `/name[:value]` options, case-insensitive names, positional arguments.

interface ParsedArgs {
  positional: string[];
  options: Map<string, string | true>;
}

function parseArgs(args: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (const arg of args) {
    const m = /^[/-]([A-Za-z?]+)(?::([\s\S]*))?$/.exec(arg);
    if (m) options.set(m[1]!.toLowerCase(), m[2] ?? true);
    else positional.push(arg);
  }
  return { positional, options };
}

function flag(parsed: ParsedArgs, name: string): boolean {
  const v = parsed.options.get(name);
  return v === true || (typeof v === 'string' && /^(true|1|yes)$/i.test(v));
}

function headNode(parsed: ParsedArgs): string {
  const value = parsed.options.get('scheduler');
  const name = typeof value === 'string' && value ? value : process.env.CCP_SCHEDULER;
  if (!name) {
    throw new CommandError('No scheduler was specified: use /scheduler:<name> or set the CCP_SCHEDULER environment variable.', 2);
  }
  const known = process.env.HPC_SIM_HEADNODES?.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  if (known && !known.includes(name.toLowerCase())) {
    throw new CommandError(`Unable to connect to the head node ${name}: the HPC Job Scheduler Service did not answer.`);
  }
  return name;
}

function jobIdArg(parsed: ParsedArgs, sub: string): string {
  const id = parsed.positional[0];
  if (!id) throw new CommandError(`Usage: job ${sub} <jobID> [/scheduler:<name>]`, 2);
  return id;
}

// ---------------------------------------------------------------------------------------------------------------
// Subcommands

async function submit(parsed: ParsedArgs): Promise<void> {
  const head = headNode(parsed);
  const file = parsed.options.get('jobfile');
  if (typeof file !== 'string' || !file) {
    throw new CommandError('This simulator only accepts job submit /jobfile:<path>\\<file_name> [/scheduler:<name>].', 2);
  }
  if (!existsSync(file)) throw new CommandError(`The job file ${file} could not be found.`);

  const xsd = schemaFile();
  const check = spawnSync('xmllint', ['--noout', '--schema', xsd, file], { encoding: 'utf8' });
  if (check.error) {
    throw new CommandError(
      `hpc-job-sim: cannot run xmllint to validate the job file (${(check.error as NodeJS.ErrnoException).code}); ` +
        'install it (Debian/Ubuntu: apt-get install libxml2-utils)',
      2,
    );
  }
  if (check.status !== 0) {
    throw new CommandError(
      `The job file ${file} is not valid against the job schema:\n${(check.stderr || check.stdout).trim()}`,
    );
  }
  const xml = readFileSync(file, 'utf8');
  const parsedJob = (() => {
    try {
      return parseJobXml(xml);
    } catch (err) {
      throw new CommandError(`The job file ${file} could not be read: ${(err as Error).message}`);
    }
  })();
  if (parsedJob.job.tasks.length === 0) throw new CommandError('The job has no tasks; add a task before submitting it.');

  const id = await withLock(() => {
    const counter = path.join(simDir(), 'next-id');
    const next = existsSync(counter) ? Number(readFileSync(counter, 'utf8')) : 1;
    writeFileSync(counter, String(next + 1));
    return next;
  });
  const job: SimJob = {
    id,
    name: parsedJob.job.name,
    state: 'Queued',
    owner: safeUser(),
    priority: parsedJob.settings.priority ?? 'Normal',
    headNode: head,
    runUntilCanceled: parsedJob.job.runUntilCanceled ?? false,
    ...(parsedJob.settings.requestedNodes?.length && { requestedNodes: [...parsedJob.settings.requestedNodes] }),
    submitTime: new Date().toISOString(),
    tasks: parsedJob.job.tasks.map((t, i) => ({
      niceId: i + 1,
      name: t.name ?? '',
      commandLine: parsedJob.commandLines[i]!,
      ...(t.workDirectory !== undefined && { workDirectory: t.workDirectory }),
      environment: { ...t.environment },
      ...(t.stdoutPath !== undefined && { stdoutPath: t.stdoutPath }),
      ...(t.stderrPath !== undefined && { stderrPath: t.stderrPath }),
      state: 'Queued',
    })),
  };
  writeJob(job);
  writeFileSync(path.join(jobDir(id), 'job.xml'), xml);

  // The runner is detached (its own session), as jobs outlive the command that submitted them.
  const logFd = openSync(path.join(jobDir(id), 'runner.log'), 'a');
  const runner = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '__run', String(id)], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
  });
  closeSync(logFd);
  runner.unref();
  process.stdout.write(`Job has been submitted. ID: ${id}.\n`);
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** What `view` and `list` show: a job whose runner died before it ended has failed. */
function observed(job: SimJob): SimJob {
  if (!FINAL.has(job.state) && job.runnerPid && !isProcessAlive(job.runnerPid)) {
    return { ...job, state: 'Failed', errorMessage: job.errorMessage ?? 'The simulator runner of this job exited unexpectedly.' };
  }
  return job;
}

function view(parsed: ParsedArgs): void {
  headNode(parsed);
  const job = observed(readJob(jobIdArg(parsed, 'view')));
  const counts = (state: string) => job.tasks.filter((t) => t.state === state).length;
  const rows: [string, string | number | undefined][] = [
    ['Id', job.id],
    ['Name', job.name],
    ['State', job.state],
    ['Owner', job.owner],
    ['Priority', job.priority],
    ['SubmitTime', job.submitTime],
    ['StartTime', job.startTime],
    ['EndTime', job.endTime],
    ['RunUntilCanceled', String(job.runUntilCanceled)],
    ['NumberOfTasks', job.tasks.length],
    ['QueuedTasks', counts('Queued')],
    ['RunningTasks', counts('Running')],
    ['FinishedTasks', counts('Finished')],
    ['FailedTasks', counts('Failed')],
    ['CanceledTasks', counts('Canceled')],
    ['ErrorMessage', job.errorMessage],
  ];
  let out = rows.map(([k, v]) => `${k.padEnd(24)}: ${v ?? ''}`).join('\n') + '\n';
  if (flag(parsed, 'detailed')) {
    for (const t of job.tasks) {
      out += `\nTask ${job.id}.${t.niceId}\n`;
      const taskRows: [string, string | number | null | undefined][] = [
        ['Name', t.name],
        ['TaskState', t.state],
        ['CommandLine', t.commandLine],
        ['NodeName', t.host],
        ['WorkDirectory', t.workDirectory],
        ['ProcessIds', t.pid],
        ['ExitCode', t.exitCode],
        ['ErrorMessage', t.errorMessage],
      ];
      out += taskRows.map(([k, v]) => `  ${k.padEnd(22)}: ${v ?? ''}`).join('\n') + '\n';
    }
  }
  process.stdout.write(out);
}

/** `<jobId>.<taskId>` of `task view`, as numbers. */
function taskRefArg(parsed: ParsedArgs): { jobId: string; taskId: number } {
  const ref = parsed.positional[0];
  const m = ref ? /^(\d+)\.(\d+)$/.exec(ref) : null;
  if (!m) throw new CommandError('Usage: task view <jobID>.<taskID> [/scheduler:<name>]', 2);
  return { jobId: m[1]!, taskId: Number(m[2]) };
}

function taskView(parsed: ParsedArgs): void {
  headNode(parsed);
  const { jobId, taskId } = taskRefArg(parsed);
  const job = readJob(jobId);
  const t = job.tasks.find((task) => task.niceId === taskId);
  if (!t) throw new CommandError(`Task ${jobId}.${taskId} does not exist.`);
  const rows: [string, string | number | null | undefined][] = [
    ['Id', `${job.id}.${t.niceId}`],
    ['Name', t.name],
    ['State', t.state],
    ['CommandLine', t.commandLine],
    ['NodeName', t.host],
    ['WorkDirectory', t.workDirectory],
    ['StdOutFilePath', t.stdoutPath],
    ['StdErrFilePath', t.stderrPath],
    ['StartTime', t.startTime],
    ['EndTime', t.endTime],
    ['ExitCode', t.exitCode],
    ['ErrorMessage', t.errorMessage],
    // Last, as it may run over several lines.
    ['Output', t.output],
  ];
  process.stdout.write(rows.map(([k, v]) => `${k.padEnd(24)}: ${v ?? ''}`).join('\n') + '\n');
}

function list(parsed: ParsedArgs): void {
  headNode(parsed);
  const all = flag(parsed, 'all');
  const dir = path.join(simDir(), 'jobs');
  const jobs = readdirSync(dir)
    .filter((d) => /^\d+$/.test(d) && existsSync(path.join(dir, d, 'state.json')))
    .map((d) => observed(readJob(d)))
    .filter((j) => all || !FINAL.has(j.state))
    .sort((a, b) => a.id - b.id);
  const header = ['Id', 'Owner', 'Name', 'State', 'Priority'];
  const rows = jobs.map((j) => [String(j.id), j.owner, j.name, j.state, j.priority]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 2);
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('').trimEnd();
  const out = [line(header), line(widths.map((w) => '-'.repeat(w - 2))), ...rows.map(line)];
  process.stdout.write(out.join('\n') + `\n\n${jobs.length} matching job${jobs.length === 1 ? '' : 's'} found\n`);
}

async function cancel(parsed: ParsedArgs): Promise<void> {
  headNode(parsed);
  const id = jobIdArg(parsed, 'cancel');
  const job = observed(readJob(id));
  if (FINAL.has(job.state)) {
    throw new CommandError(
      `Job ${id} cannot be canceled: it is ${job.state}. A job can be canceled only when it is Configuring, Submitted, Validating, Queued, or Running.`,
    );
  }
  writeFileSync(path.join(jobDir(id), 'cancel'), String(Date.now()));
  if (isProcessAlive(job.runnerPid)) signalProcess(job.runnerPid!, 'SIGTERM');

  // Wait for the runner to stop every task and exit; it gets the grace period and then some.
  const deadline = Date.now() + graceMs * 2 + 10_000;
  while (Date.now() < deadline) {
    const current = readJob(id);
    if (FINAL.has(current.state) && !isProcessAlive(current.runnerPid)) break;
    if (!current.runnerPid || !isProcessAlive(current.runnerPid)) {
      // No runner to do it (not started yet, or died): stop what it left, and record the cancel here.
      if (!current.runnerPid) {
        await sleep(50);
        const again = readJob(id);
        if (again.runnerPid) continue; // it has just started: it will see the cancel file
      }
      for (const t of current.tasks) if (t.pid) signalGroup(t.pid, 'SIGKILL');
      markCanceled(current);
      writeJob(current);
      break;
    }
    await sleep(20);
  }
  // Nothing the job started may outlive the cancel.
  const final = readJob(id);
  const leftovers = [...final.tasks.map((t) => t.pid), final.runnerPid].filter((p): p is number => isProcessAlive(p));
  for (const pid of leftovers) signalGroup(pid, 'SIGKILL');
  // SIGKILL is not instant: return only once they are gone (bounded, as everything here).
  const killDeadline = Date.now() + 5000;
  while (leftovers.some(isProcessAlive) && Date.now() < killDeadline) await sleep(20);
  process.stdout.write(`Job ${id} has been canceled.\n`);
}

function markCanceled(job: SimJob): void {
  const now = new Date().toISOString();
  for (const t of job.tasks) {
    if (t.state === 'Running') {
      // HPC Pack 2008 marks the tasks a cancel stopped as failed.
      t.state = 'Failed';
      t.errorMessage = 'The job was canceled.';
      t.endTime = now;
    } else if (t.state === 'Queued') {
      t.state = 'Canceled';
    }
  }
  job.state = 'Canceled';
  job.errorMessage = 'The job was canceled.';
  job.endTime = now;
}


/** The words put before task `number`'s command, and the node they name (TSPARALLEL_SIM_EXEC, see above). */
function execPrefix(job: SimJob, number: number): { prefix: string[]; host?: string } {
  const template = process.env.TSPARALLEL_SIM_EXEC?.trim();
  if (!template) return { prefix: [] };
  const fromEnv = (process.env.TSPARALLEL_SIM_HOSTS ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  const hosts = job.requestedNodes?.length ? job.requestedNodes : fromEnv;
  if (template.includes('{host}') && hosts.length === 0) {
    throw new CommandError('hpc-job-sim: TSPARALLEL_SIM_EXEC uses {host} but neither the job (RequestedNodes) nor TSPARALLEL_SIM_HOSTS names a node', 2);
  }
  const host = hosts.length ? hosts[number % hosts.length] : undefined;
  return { prefix: template.split(/\s+/).map((w) => (host ? w.replaceAll('{host}', host) : w)), ...(host && { host }) };
}

// ---------------------------------------------------------------------------------------------------------------
// The scheduler service: `job __serve ADDRESS:PORT`, and `job` commands sent to it (HPC_SIM_SERVICE).

function splitAddress(address: string): { host: string; port: number } {
  const m = /^(.*):(\d+)$/.exec(address);
  if (!m) throw new CommandError(`hpc-job-sim: '${address}' is not ADDRESS:PORT`, 2);
  return { host: m[1]!, port: Number(m[2]) };
}

/** Run the scheduler service until SIGTERM/SIGINT: each connection sends one JSON line `{argv}` and gets `{code, stdout, stderr}`. */
async function serve(address: string): Promise<void> {
  const { host, port } = splitAddress(address);
  const server = createServer((socket) => {
    let input = '';
    socket.setEncoding('utf8');
    socket.on('error', () => socket.destroy());
    socket.on('data', (d: string) => {
      input += d;
      const nl = input.indexOf('\n');
      if (nl < 0) return;
      let argv: string[];
      try {
        argv = (JSON.parse(input.slice(0, nl)) as { argv: string[] }).argv.map(String);
      } catch {
        socket.end(JSON.stringify({ code: 2, stdout: '', stderr: 'hpc-job-sim service: a request is one JSON line {"argv": [...]}\n' }) + '\n');
        return;
      }
      const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...argv], {
        env: { ...process.env, HPC_SIM_SERVICE: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('close', (code) => socket.end(JSON.stringify({ code: code ?? 1, stdout, stderr }) + '\n'));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = server.address() as { address: string; port: number };
  process.stdout.write(`listening ${bound.address}:${bound.port}\n`);
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  server.close();
}

/** Send this `job` command to the scheduler service at `address`; print its output, resolve its exit code. */
async function forward(address: string, argv: readonly string[]): Promise<number> {
  const { host, port } = splitAddress(address);
  const reply = await new Promise<string>((resolve, reject) => {
    const socket = createConnection({ host, port });
    let data = '';
    socket.setEncoding('utf8');
    socket.setTimeout(120_000, () => socket.destroy(new Error('no answer within 120 s')));
    socket.on('connect', () => socket.write(JSON.stringify({ argv }) + '\n'));
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => resolve(data));
    socket.on('error', reject);
  }).catch((err: Error) => {
    throw new CommandError(`Unable to connect to the HPC Job Scheduler Service at ${address}: ${err.message}`);
  });
  const r = JSON.parse(reply) as { code: number; stdout: string; stderr: string };
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  return r.code;
}

// ---------------------------------------------------------------------------------------------------------------
// The runner: one detached process per job, the only writer of the job's state once it runs.

/** Collect what a task writes to the pipes it was given (streams with no file), keeping the first bytes only. */
function keepOutput(child: ChildProcess): () => string {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    if (size >= OUTPUT_LIMIT_BYTES) return;
    const part = chunk.subarray(0, OUTPUT_LIMIT_BYTES - size);
    chunks.push(part);
    size += part.length;
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return () => new TextDecoder().decode(Buffer.concat(chunks));
}

/**
 * Call `done` once when the task ended: on 'close' (its pipes drained), or shortly after 'exit' when something it
 * started still holds its pipes open.
 */
function onTaskEnd(child: ChildProcess, done: (code: number | null, signal: NodeJS.Signals | null) => void): void {
  let ended = false;
  const finish = (code: number | null, signal: NodeJS.Signals | null) => {
    if (ended) return;
    ended = true;
    done(code, signal);
  };
  child.once('close', finish);
  child.once('exit', (code, signal) => setTimeout(() => finish(code, signal), 500).unref());
}

async function runJob(id: string): Promise<void> {
  let cancelRequested = false;
  let wake: () => void = () => {};
  process.on('SIGTERM', () => {
    cancelRequested = true;
    wake();
  });
  const job = readJob(id);
  job.runnerPid = process.pid;
  if (existsSync(path.join(jobDir(id), 'cancel'))) {
    markCanceled(job);
    writeJob(job);
    return;
  }
  job.state = 'Running';
  job.startTime = new Date().toISOString();
  writeJob(job);

  const exits: Promise<void>[] = [];
  for (const [number, task] of job.tasks.entries()) {
    const { prefix, host } = execPrefix(job, number);
    if (host) task.host = host;
    const argv = [...prefix, ...parseWindowsCommandLine(task.commandLine)];
    task.startTime = new Date().toISOString();
    // A stream with no file goes to the scheduler (the task's Output), as on HPC Pack.
    const open = (file: string | undefined) => {
      if (!file) return 'pipe' as const;
      mkdirSync(path.dirname(file), { recursive: true });
      return openSync(file, 'a');
    };
    let child;
    try {
      const out = open(task.stdoutPath);
      const err = open(task.stderrPath);
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: task.workDirectory,
        env: {
          ...process.env,
          ...task.environment,
          CCP_JOBID: String(job.id),
          CCP_TASKID: String(task.niceId),
          CCP_SCHEDULER: job.headNode,
        },
        detached: true,
        stdio: ['ignore', out, err],
      });
      if (typeof out === 'number') closeSync(out);
      if (typeof err === 'number') closeSync(err);
    } catch (err) {
      task.state = 'Failed';
      task.errorMessage = `The task could not start: ${(err as Error).message}`;
      task.endTime = new Date().toISOString();
      continue;
    }
    task.pid = child.pid;
    task.state = child.pid ? 'Running' : 'Failed';
    const output = keepOutput(child);
    exits.push(
      new Promise<void>((resolve) => {
        child.once('error', (err) => {
          task.errorMessage = `The task could not start: ${err.message}`;
        });
        onTaskEnd(child, (code, signal) => {
          const kept = output();
          if (kept) task.output = kept;
          task.exitCode = code;
          task.endTime = new Date().toISOString();
          if (task.state === 'Running') {
            if (cancelRequested) {
              task.state = 'Failed';
              task.errorMessage = 'The job was canceled.';
            } else {
              task.state = code === 0 ? 'Finished' : 'Failed';
              if (code !== 0) task.errorMessage ??= `The task exited with code ${code ?? `null (signal ${signal})`}.`;
            }
          }
          writeJob(job);
          wake();
          resolve();
        });
      }),
    );
  }
  writeJob(job);

  const running = () => job.tasks.some((t) => t.state === 'Running');
  for (;;) {
    if (cancelRequested) break;
    if (!running() && !job.runUntilCanceled) break;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      // Also look at the cancel file now and then, in case the signal was missed.
      timer = setTimeout(() => {
        if (existsSync(path.join(jobDir(id), 'cancel'))) cancelRequested = true;
        resolve();
      }, 500);
    });
    clearTimeout(timer);
  }

  if (cancelRequested) {
    job.state = 'Canceling';
    writeJob(job);
    const live = job.tasks.filter((t) => t.state === 'Running' && t.pid);
    for (const t of live) signalGroup(t.pid!, 'SIGTERM');
    const ended = await Promise.race([Promise.all(exits).then(() => true), sleep(graceMs).then(() => false)]);
    if (!ended) for (const t of live) signalGroup(t.pid!, 'SIGKILL');
    await Promise.all(exits);
    for (const t of live) signalGroup(t.pid!, 'SIGKILL'); // whatever the tasks started
    markCanceled(job);
  } else {
    await Promise.all(exits);
    const failed = job.tasks.find((t) => t.state === 'Failed');
    job.state = failed ? 'Failed' : 'Finished';
    if (failed) job.errorMessage = `Task ${job.id}.${failed.niceId} failed: ${failed.errorMessage ?? ''}`.trim();
    job.endTime = new Date().toISOString();
  }
  writeJob(job);
}

// ---------------------------------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const service = process.env.HPC_SIM_SERVICE?.trim();
  if (service && sub !== '__run' && sub !== '__serve') return forward(service, argv);
  if (sub?.toLowerCase() === 'task') return taskMain(rest);
  const parsed = parseArgs(rest);
  switch (sub?.toLowerCase()) {
    case 'submit':
      await submit(parsed);
      return 0;
    case 'view':
      view(parsed);
      return 0;
    case 'cancel':
      await cancel(parsed);
      return 0;
    case 'list':
      list(parsed);
      return 0;
    case '__run':
      await runJob(rest[0]!);
      return 0;
    case '__serve':
      await serve(rest[0] ?? '127.0.0.1:0');
      return 0;
    case undefined:
    case '/?':
    case '/help':
      process.stdout.write('Usage: job {submit|view|cancel|list} ... (simulated; see the doc comment of hpc-job-sim)\n');
      return sub ? 0 : 2;
    default:
      throw new CommandError(`'${sub}' is not a job subcommand this simulator knows (submit, view, cancel, list).`, 2);
  }
}

/** HPC Pack's `task` command: only `task view` is simulated. */
function taskMain(argv: readonly string[]): number {
  const [sub, ...rest] = argv;
  switch (sub?.toLowerCase()) {
    case 'view':
      taskView(parseArgs(rest));
      return 0;
    case undefined:
      process.stdout.write('Usage: task view <jobID>.<taskID> [/scheduler:<name>] (simulated)\n');
      return 2;
    default:
      throw new CommandError(`'${sub}' is not a task subcommand this simulator knows (view).`, 2);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof CommandError ? err.exitCode : 1;
  },
);
