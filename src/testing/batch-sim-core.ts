/**
 * The core the batch scheduler simulators share (PBS `qsub`/`qstat`/`qdel`, LSF `bsub`/`bjobs`/`bkill`, HTCondor
 * `condor_submit`/`condor_q`/`condor_history`/`condor_rm`): a job store on disk, job ids, and a detached runner per
 * job that really runs the job's tasks as processes, tracks their states and stops them on cancel.
 *
 * These are simulators, not the schedulers: they exist because PBS, LSF and HTCondor cannot run on this machine.
 * Each front end (`pbs-sim.ts`, `lsf-sim.ts`, `htcondor-sim.ts`) reads the real tool's arguments and prints the
 * real tool's documented output formats and exit codes; this core only keeps and runs jobs.
 *
 * State lives in the directory named by `TSPARALLEL_SIM_DIR`: `next-id`, `jobs/<id>/state.json` (job and task
 * states, the pids of the runner and of every task), `jobs/<id>/script` (the spooled script). While a file named
 * `paused` exists in that directory, queued jobs stay queued (a full cluster), so tests can see the queued state
 * without racing.
 *
 * Running tasks on other hosts: when `TSPARALLEL_SIM_EXEC` is set (e.g. `scripts/rig/hosts.sh exec {host}`), each
 * task's command is run through that prefix, with `{host}` replaced round-robin from the comma-separated
 * `TSPARALLEL_SIM_HOSTS` (task i of a job on host i mod the host count). The prefix must pass the environment on
 * and keep the task in the process group it starts in (`nsenter` does); give the prefix's program as an absolute
 * path or a name on PATH (tasks start in their own working directory). The prefix runs with the task's environment
 * (the job's, which for most schedulers is not the submitter's): settings it needs go in the prefix itself, e.g.
 * `env TSP_RIG_DIR=… scripts/rig/hosts.sh exec {host}`. Unset: tasks run on this machine.
 *
 * Other environment: `TSPARALLEL_SIM_GRACE_MS` (SIGTERM to SIGKILL on cancel, default 2000).
 * @module
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDirectoryLock } from '../util/files.js';

/** A task's life in the simulator. */
export type SimTaskState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
/** A job's life in the simulator: `cancelling` between a cancel and the end of its tasks. */
export type SimJobState = 'queued' | 'running' | 'cancelling' | 'done' | 'failed' | 'cancelled';

/** What a front end asks to run for one task. */
export interface SimTaskSpec {
  /** The array index (1-based) or process number the task has, as the scheduler numbers it. */
  index: number;
  /** The command line the task runs. */
  argv: string[];
  /** The task's environment (complete: the runner's own environment is not added). */
  env: Record<string, string>;
  /** Where its standard output goes (appended). */
  stdoutPath?: string;
  /** Where its standard error goes (appended; the same path as stdout merges them). */
  stderrPath?: string;
  /** The directory it runs in. */
  cwd?: string;
}

/** A task as the store keeps it. */
export interface SimTask extends SimTaskSpec {
  /** Its state. */
  state: SimTaskState;
  /** The pid of its process (the leader of its own process group). */
  pid?: number;
  /** Its exit code, once it ended by itself. */
  exitCode?: number | null;
  /** The signal that ended it. */
  signal?: string | null;
  /** The host it ran on (with `TSPARALLEL_SIM_EXEC`). */
  host?: string;
  /** When it started and ended (ISO). */
  startTime?: string;
  /** When it ended (ISO). */
  endTime?: string;
}

/** A job as the store keeps it (`jobs/<id>/state.json`). */
export interface SimJob {
  /** The job id (a number; front ends decorate it: `123.server`, `Job <123>`). */
  id: number;
  /** The job's name. */
  name: string;
  /** Who submitted it. */
  owner: string;
  /** The queue it was submitted to. */
  queue: string;
  /** Its state. */
  state: SimJobState;
  /** When it was submitted, started, ended (ISO). */
  submitTime: string;
  /** When its first task started. */
  startTime?: string;
  /** When it ended. */
  endTime?: string;
  /** The pid of its runner process. */
  runnerPid?: number;
  /** Whether it is an array job (front ends print ids and states per element). */
  array: boolean;
  /** Its tasks. */
  tasks: SimTask[];
  /** Whatever the front end keeps about it (flavor, server name, the submit description's attributes…). */
  extra: Record<string, unknown>;
}

/** A front end's usage or command error: the message goes to stderr, the code is the exit code. */
export class SimCommandError extends Error {
  /**
   * @param message What the real tool would print.
   * @param exitCode The real tool's exit code for this failure.
   */
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const FINAL_JOB = new Set<SimJobState>(['done', 'failed', 'cancelled']);

/** Whether a simulated job's state is final. */
export function isFinalSimState(state: SimJobState): boolean {
  return FINAL_JOB.has(state);
}

/** The state directory (`TSPARALLEL_SIM_DIR`), created if needed. */
export function simDir(): string {
  const dir = process.env.TSPARALLEL_SIM_DIR;
  if (!dir) throw new SimCommandError('batch simulator: set TSPARALLEL_SIM_DIR to the directory that holds the simulated cluster state', 2);
  mkdirSync(path.join(dir, 'jobs'), { recursive: true });
  return dir;
}

function jobDir(id: number | string): string {
  return path.join(simDir(), 'jobs', String(id));
}

/** The job with this id, or undefined when the store has none. */
export function findJob(id: number | string): SimJob | undefined {
  if (!/^\d+$/.test(String(id))) return undefined;
  const file = path.join(jobDir(id), 'state.json');
  if (!existsSync(file)) return undefined;
  return observed(JSON.parse(readFileSync(file, 'utf8')) as SimJob);
}

/** Every job in the store, oldest first. */
export function allJobs(): SimJob[] {
  const dir = path.join(simDir(), 'jobs');
  return readdirSync(dir)
    .filter((d) => /^\d+$/.test(d))
    .map((d) => findJob(d))
    .filter((j): j is SimJob => j !== undefined)
    .sort((a, b) => a.id - b.id);
}

function writeJob(job: SimJob): void {
  const dir = jobDir(job.id);
  mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.state.${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify(job, null, 2) + '\n');
  renameSync(tmp, path.join(dir, 'state.json'));
}

/** Whether a process runs (a zombie does not). */
export function isRunning(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** A job whose runner died before the job ended has failed (the scheduler lost it). */
function observed(job: SimJob): SimJob {
  if (!FINAL_JOB.has(job.state) && job.runnerPid && !isRunning(job.runnerPid)) {
    return { ...job, state: 'failed', tasks: job.tasks.map((t) => (t.state === 'running' || t.state === 'queued' ? { ...t, state: 'failed' } : t)) };
  }
  return job;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function nextId(): Promise<number> {
  return withDirectoryLock(path.join(simDir(), '.lock'), () => {
    const counter = path.join(simDir(), 'next-id');
    const next = existsSync(counter) ? Number(readFileSync(counter, 'utf8')) : Number(process.env.TSPARALLEL_SIM_FIRST_ID ?? 100);
    writeFileSync(counter, String(next + 1));
    return next;
  }, () => new SimCommandError('batch simulator: the job store is locked; try again'));
}

/** The name of the user running the simulator. */
export function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** What {@link submitJob} needs. */
export interface SimSubmission {
  /** The job's name. */
  name: string;
  /** The queue. */
  queue: string;
  /** The script text to spool (tasks may run it from `jobs/<id>/script`: use `{script}` in their argv). */
  script: string;
  /** Whether the job is an array. */
  array: boolean;
  /**
   * The tasks. In their argv, env values and output paths `{script}` becomes the spooled script's path, `{jobId}`
   * the id and `{jobDir}` the job's directory in the store.
   */
  tasks: SimTaskSpec[];
  /** Front-end data kept with the job. */
  extra?: Record<string, unknown>;
}

/**
 * Store a job, spool its script and start its runner (a detached process running `runnerArgv` + `__run <id>`).
 * `{jobId}`, `{script}` and `{jobDir}` in task argv, env values and output paths are filled in.
 * @param runnerArgv How to start the front end's own executable (it must call {@link runJob} for `__run <id>`).
 */
export async function submitJob(sub: SimSubmission, runnerArgv: readonly string[]): Promise<SimJob> {
  const id = await nextId();
  const dir = jobDir(id);
  mkdirSync(dir, { recursive: true });
  const scriptPath = path.join(dir, 'script');
  writeFileSync(scriptPath, sub.script, { mode: 0o700 });
  const fill = (s: string) => s.replaceAll('{script}', scriptPath).replaceAll('{jobId}', String(id)).replaceAll('{jobDir}', dir);
  const job: SimJob = {
    id,
    name: sub.name,
    owner: currentUser(),
    queue: sub.queue,
    state: 'queued',
    submitTime: new Date().toISOString(),
    array: sub.array,
    extra: sub.extra ?? {},
    tasks: sub.tasks.map((t) => ({
      ...t,
      argv: t.argv.map(fill),
      env: Object.fromEntries(Object.entries(t.env).map(([k, v]) => [k, fill(v)])),
      ...(t.stdoutPath && { stdoutPath: fill(t.stdoutPath) }),
      ...(t.stderrPath && { stderrPath: fill(t.stderrPath) }),
      state: 'queued',
    })),
  };
  writeJob(job);
  const logFd = openSync(path.join(dir, 'runner.log'), 'a');
  const [program, ...args] = runnerArgv;
  const runner = spawn(program!, [...args, '__run', String(id)], { detached: true, stdio: ['ignore', logFd, logFd], env: process.env });
  closeSync(logFd);
  runner.unref();
  return job;
}

/** Every descendant of `pid` (children, their children, …) found in /proc; empty where there is no /proc. */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return [];
  }
  for (const d of entries) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(d));
      parents.set(ppid, list);
    } catch {
      /* ended meanwhile */
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of parents.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/**
 * Signal a task's whole process tree: its process group, and every descendant (a task may start processes in
 * sessions of their own, which a group signal misses; a scheduler's cgroup would hold them).
 */
function killTree(pid: number, signal: NodeJS.Signals): void {
  const tree = descendants(pid);
  killGroup(pid, signal);
  for (const p of tree) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

/**
 * Ask for a job to be cancelled: records the request (and who made it) and signals its runner, which stops the tasks
 * (SIGTERM to each task's process tree, SIGKILL after the grace period) and marks the job `cancelled`. Returns at
 * once, as the real tools do; the job leaves the running state shortly after.
 * @param requester The user who asked, for front ends whose records say who cancelled a job (see
 * {@link cancelRequester}); the current user when absent.
 * @returns false when the job had already ended (nothing to cancel).
 */
export function requestCancel(job: SimJob, requester: string = currentUser()): boolean {
  if (FINAL_JOB.has(job.state)) return false;
  writeFileSync(path.join(jobDir(job.id), 'cancel'), JSON.stringify({ atMs: Date.now(), requester }));
  if (job.runnerPid && isRunning(job.runnerPid)) process.kill(job.runnerPid, 'SIGTERM');
  else if (!job.runnerPid) {
    // not started yet: the runner sees the cancel file when it starts
  } else {
    // the runner is gone: stop what it left and record the cancel here
    for (const t of job.tasks) if (t.pid) killTree(t.pid, 'SIGKILL');
    markCancelled(job);
    writeJob(job);
  }
  return true;
}

/**
 * Who asked for the job's cancel ({@link requestCancel}'s `requester`), or undefined when nobody did. Kept beside the job's
 * state rather than in it: once a job runs, its runner is the only writer of its state.
 */
export function cancelRequester(job: SimJob): string | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(jobDir(job.id), 'cancel'), 'utf8')) as { requester?: string }).requester;
  } catch {
    return undefined;
  }
}

function markCancelled(job: SimJob): void {
  const now = new Date().toISOString();
  for (const t of job.tasks) {
    if (t.state === 'running' || t.state === 'queued') {
      t.state = 'cancelled';
      t.endTime = now;
    }
  }
  job.state = 'cancelled';
  job.endTime = now;
}

/** How a task is started: the words put before its command, and the host they name. */
export interface ExecPrefix {
  /** The prefix's words (`{host}` filled in); empty when tasks run on this machine. */
  prefix: string[];
  /** The host the task runs on, when `TSPARALLEL_SIM_HOSTS` names hosts. */
  host?: string;
}

/** The exec prefix for task number `taskNumber` of a job, from `TSPARALLEL_SIM_EXEC`/`TSPARALLEL_SIM_HOSTS`. */
export function execPrefix(taskNumber: number): ExecPrefix {
  const template = process.env.TSPARALLEL_SIM_EXEC?.trim();
  if (!template) return { prefix: [] };
  const hosts = (process.env.TSPARALLEL_SIM_HOSTS ?? '').split(',').map((h) => h.trim()).filter(Boolean);
  if (template.includes('{host}') && hosts.length === 0) {
    throw new SimCommandError('batch simulator: TSPARALLEL_SIM_EXEC uses {host} but TSPARALLEL_SIM_HOSTS names no host', 2);
  }
  const host = hosts.length ? hosts[taskNumber % hosts.length] : undefined;
  return { prefix: template.split(/\s+/).map((w) => (host ? w.replaceAll('{host}', host) : w)), ...(host && { host }) };
}

/**
 * The runner of job `id`: waits while the cluster is paused, starts every task (each in its own process group),
 * records pids and exit codes, and on a cancel stops them. The only writer of the job's state once it runs.
 */
export async function runJob(id: string): Promise<void> {
  const graceMs = Number(process.env.TSPARALLEL_SIM_GRACE_MS ?? 2000);
  let cancelRequested = false;
  let wake: () => void = () => {};
  process.on('SIGTERM', () => {
    cancelRequested = true;
    wake();
  });
  const cancelFile = path.join(jobDir(id), 'cancel');
  const job = JSON.parse(readFileSync(path.join(jobDir(id), 'state.json'), 'utf8')) as SimJob;
  job.runnerPid = process.pid;
  writeJob(job);
  while (existsSync(path.join(simDir(), 'paused')) && !cancelRequested && !existsSync(cancelFile)) await sleep(50);
  if (cancelRequested || existsSync(cancelFile)) {
    markCancelled(job);
    writeJob(job);
    return;
  }
  job.state = 'running';
  job.startTime = new Date().toISOString();

  const exits: Promise<void>[] = [];
  job.tasks.forEach((task, number) => {
    const open = (file: string | undefined) => {
      if (!file) return 'ignore' as const;
      mkdirSync(path.dirname(file), { recursive: true });
      return openSync(file, 'a');
    };
    task.startTime = new Date().toISOString();
    try {
      const { prefix, host } = execPrefix(number);
      if (host) task.host = host;
      const argv = [...prefix, ...task.argv];
      const out = open(task.stdoutPath);
      const err = task.stderrPath === task.stdoutPath ? out : open(task.stderrPath);
      const child = spawn(argv[0]!, argv.slice(1), { cwd: task.cwd, env: task.env, detached: true, stdio: ['ignore', out, err] });
      if (typeof out === 'number') closeSync(out);
      if (typeof err === 'number' && err !== out) closeSync(err);
      task.pid = child.pid;
      task.state = 'running';
      exits.push(
        new Promise<void>((resolve) => {
          child.once('error', () => {
            task.exitCode = 127;
          });
          child.once('close', (code, signal) => {
            task.exitCode ??= code;
            task.signal = signal;
            task.endTime = new Date().toISOString();
            if (task.state === 'running') task.state = cancelRequested ? 'cancelled' : task.exitCode === 0 ? 'done' : 'failed';
            writeJob(job);
            wake();
            resolve();
          });
        }),
      );
    } catch {
      task.state = 'failed';
      task.exitCode = 127;
      task.endTime = new Date().toISOString();
    }
  });
  writeJob(job);

  while (!cancelRequested && job.tasks.some((t) => t.state === 'running')) {
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      wake = resolve;
      timer = setTimeout(() => {
        if (existsSync(cancelFile)) cancelRequested = true;
        resolve();
      }, 500);
    });
    clearTimeout(timer);
  }

  if (cancelRequested) {
    job.state = 'cancelling';
    writeJob(job);
    const live = job.tasks.filter((t) => t.state === 'running' && t.pid);
    // The trees are taken before the first signal: once a task's shell exits, its children are orphans that no
    // longer descend from it.
    const trees = live.map((t) => [t.pid!, ...descendants(t.pid!)]);
    for (const t of live) killTree(t.pid!, 'SIGTERM');
    const ended = await Promise.race([Promise.all(exits).then(() => true), sleep(graceMs).then(() => false)]);
    if (!ended) for (const t of live) killTree(t.pid!, 'SIGKILL');
    await Promise.all(exits);
    for (const tree of trees) for (const p of tree) killGroup(p, 'SIGKILL'); // whatever is left of the trees
    markCancelled(job);
  } else {
    await Promise.all(exits);
    job.state = job.tasks.some((t) => t.state === 'failed') ? 'failed' : 'done';
    job.endTime = new Date().toISOString();
  }
  writeJob(job);
}

/**
 * Run a front end: dispatch `NAME TOOL args…` to the tool's handler, print a {@link SimCommandError}'s message on
 * stderr and exit with its code; run the job runner for `__run <id>`.
 */
export function runFrontEnd(name: string, tools: Record<string, (args: string[]) => Promise<number> | number>): void {
  const argv = process.argv.slice(2);
  const main = ([tool, ...args]: string[]) => {
    const run = tool !== undefined && Object.hasOwn(tools, tool) ? tools[tool] : undefined;
    if (!run) throw new SimCommandError(`${name}: run as ${name} <${Object.keys(tools).join('|')}> args… (got '${tool ?? ''}')`, 2);
    return run(args);
  };
  const work = argv[0] === '__run' ? runJob(argv[1]!).then(() => 0) : Promise.resolve().then(() => main(argv));
  work.then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = err instanceof SimCommandError ? err.exitCode : 1;
    },
  );
}

/** How to start this front end again (for the runner): node, its flags (tsx when run from source), the script. */
export function selfArgv(scriptUrl: string): string[] {
  return [process.execPath, ...process.execArgv, fileURLToPath(scriptUrl)];
}

/** `#PREFIX args…` directive lines of a job script, each split into words (shell-like quotes honoured). */
export function scriptDirectives(script: string, prefix: string): string[][] {
  const out: string[][] = [];
  for (const line of script.split('\n')) {
    const t = line.trim();
    if (!t.startsWith(prefix)) continue;
    const rest = t.slice(prefix.length);
    if (rest && !/^\s/.test(rest)) continue;
    out.push(splitWords(rest.trim()));
  }
  return out;
}

/** Split a line into words as a shell would for simple quoting (`'…'`, `"…"`, backslash). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      cur += line.slice(i + 1, end < 0 ? undefined : end);
      i = end < 0 ? line.length : end;
      inWord = true;
    } else if (c === '"') {
      i++;
      while (i < line.length && line[i] !== '"') {
        if (line[i] === '\\' && i + 1 < line.length) i++;
        cur += line[i];
        i++;
      }
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else if (c === '#' && !inWord) {
      break;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** A small base environment for tasks of schedulers that do not pass the submitter's environment. */
export function loginEnvironment(): Record<string, string> {
  const keep = ['HOME', 'PATH', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'TZ', 'TMPDIR'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]!]));
}

/** The submitter's environment minus the simulator's own settings (what `-V`/`getenv` carry). */
export function submitEnvironment(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('TSPARALLEL_SIM_')));
}
