#!/usr/bin/env node
/**
 * htcondor-sim: a simulator of HTCondor's `condor_submit`, `condor_q`, `condor_history` and `condor_rm`, for
 * tsparallel's tests. It is NOT HTCondor: it keeps clusters on disk and runs their processes on this machine (or
 * through `TSPARALLEL_SIM_EXEC`, see batch-sim-core), printing what the real tools print.
 *
 * Run as `htcondor-sim.js <tool> args…` (test/support/batch-sims.ts puts wrappers with the tools' names on PATH):
 * - `condor_submit file`: reads a submit description (`key = value` lines, `\` continuations, `#` comments, `+Attr`
 *   custom attributes, `$(Cluster)`/`$(ClusterId)`/`$(Process)`/`$(ProcId)` and `$(key)` macros, one
 *   `queue [N]` statement); `universe` must be `vanilla`; `executable` must exist (relative to `initialdir`);
 *   `arguments` and `environment` in the new (double-quoted) or old syntax; `getenv = True` passes the submitter's
 *   environment; `output`, `error` and `log` (a user log with one submit event per process). Prints
 *   `Submitting job(s)…` and `N job(s) submitted to cluster ID.`.
 * - `condor_q [cluster[.proc]…] [-af attr…] [-nobatch]`: processes still in the queue (idle 1, running 2, being
 *   removed 3); `-af` prints the attributes (`JobStatus`, `ClusterId`, `ProcId`, `ExitCode`, `Owner`, `Cmd`,
 *   `Iwd`, `JobBatchName`, `RemoteHost`), `undefined` for a missing one; otherwise the default table and totals.
 * - `condor_history [cluster[.proc]…] [-af attr…]`: processes that left the queue: `JobStatus` 4 (completed, with
 *   `ExitCode`; none when killed by a signal, then `ExitBySignal` is true) or 3 (removed).
 * A `log` in a directory that does not exist is refused at submit, as HTCondor refuses it.
 * - `condor_rm cluster…`: marks the cluster for removal and returns at once; a cluster not in the queue:
 *   `Couldn't find/remove all jobs in cluster ID`, exit 1.
 *
 * Environment: `TSPARALLEL_SIM_DIR` (required).
 * @module
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import {
  allJobs,
  findJob,
  loginEnvironment,
  requestCancel,
  runFrontEnd,
  selfArgv,
  SimCommandError,
  submitEnvironment,
  submitJob,
  type SimJob,
  type SimTask,
  type SimTaskSpec,
} from './batch-sim-core.js';

/** Parse a submit description into its settings (lower-case keys; `+Attr` kept as `+attr`) and queue count. */
function parseDescription(text: string): { settings: Map<string, string>; count: number } {
  const settings = new Map<string, string>();
  let count: number | undefined;
  const joined = text.replace(/\\\r?\n/g, ' ');
  for (const [i, raw] of joined.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const q = /^queue(?:\s+(\d+))?\s*$/i.exec(line);
    if (q) {
      if (count !== undefined) throw new SimCommandError('ERROR: this simulator accepts one queue statement per submit description', 1);
      count = Number(q[1] ?? 1);
      continue;
    }
    const kv = /^(\+?[A-Za-z_][\w.]*)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new SimCommandError(`ERROR: on Line ${i + 1} of submit file: \nSubmit file syntax error: '${line}'`, 1);
    settings.set(kv[1]!.toLowerCase(), kv[2]!.trim());
  }
  if (count === undefined) throw new SimCommandError('ERROR: no queue statement in the submit description; no jobs submitted', 1);
  return { settings, count };
}

/** Expand `$(name)` macros: the cluster and process ids, then other settings. */
function expand(value: string, settings: Map<string, string>, cluster: string, proc: number, depth = 0): string {
  return value.replace(/\$\(([A-Za-z_][\w.]*)\)/g, (m, name: string) => {
    const key = name.toLowerCase();
    if (key === 'cluster' || key === 'clusterid') return cluster;
    if (key === 'process' || key === 'procid') return String(proc);
    const v = settings.get(key);
    return v === undefined || depth > 10 ? '' : expand(v, settings, cluster, proc, depth + 1);
  });
}

/** Split an `arguments` or `environment` value: new syntax (double-quoted, `'…'` groups, `''`/`""` escapes) or old. */
function splitCondorList(value: string, oldSeparator: RegExp): string[] {
  const v = value.trim();
  if (!v.startsWith('"')) return v.split(oldSeparator).filter(Boolean);
  if (!v.endsWith('"') || v.length < 2) throw new SimCommandError(`ERROR: unterminated double-quoted value: ${v}`, 1);
  const body = v.slice(1, -1).replace(/""/g, '"');
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === "'") {
      inWord = true;
      for (i++; i < body.length; i++) {
        if (body[i] === "'") {
          if (body[i + 1] === "'") {
            cur += "'";
            i++;
          } else break;
        } else cur += body[i];
      }
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && /^(true|t|yes|y|1)$/i.test(v.trim());
}

async function condorSubmit(args: string[]): Promise<number> {
  const file = args.find((a) => !a.startsWith('-'));
  const text = file ? (existsSync(file) ? readFileSync(file, 'utf8') : undefined) : readFileSync(0, 'utf8');
  if (text === undefined) throw new SimCommandError(`ERROR: Can't open "${file}"  with flags 00 (No such file or directory)`, 1);
  const { settings, count } = parseDescription(text);
  const universe = (settings.get('universe') ?? 'vanilla').toLowerCase();
  if (universe !== 'vanilla') throw new SimCommandError(`ERROR: this simulator runs only the vanilla universe (got '${universe}')`, 1);
  const executableSetting = settings.get('executable');
  if (!executableSetting) throw new SimCommandError("ERROR: No 'executable' parameter was provided", 1);
  const submitDir = process.cwd();
  const initialdir = path.resolve(submitDir, settings.get('initialdir') ?? '.');
  const executable = path.resolve(initialdir, executableSetting);
  if (!existsSync(executable)) throw new SimCommandError(`ERROR: Executable file ${executable} does not exist`, 1);
  const getenv = isTrue(settings.get('getenv'));
  const name = settings.get('batch_name') ?? path.basename(executable);

  const tasks: SimTaskSpec[] = [];
  for (let proc = 0; proc < count; proc++) {
    const x = (v: string | undefined) => (v === undefined ? undefined : expand(v, settings, '{jobId}', proc));
    const env: Record<string, string> = getenv ? submitEnvironment() : loginEnvironment();
    const envSetting = x(settings.get('environment'));
    if (envSetting) {
      for (const item of splitCondorList(envSetting, /;/)) {
        const eq = item.indexOf('=');
        if (eq > 0) env[item.slice(0, eq)] = item.slice(eq + 1);
      }
    }
    env._CONDOR_SCRATCH_DIR = initialdir;
    const out = x(settings.get('output'));
    const err = x(settings.get('error'));
    tasks.push({
      index: proc,
      argv: [executable, ...splitCondorList(x(settings.get('arguments')) ?? '', /\s+/)],
      env,
      ...(out && { stdoutPath: path.resolve(initialdir, out) }),
      ...(err && { stderrPath: path.resolve(initialdir, err) }),
      cwd: initialdir,
    });
  }
  const log = settings.get('log');
  if (log) {
    const dir = path.dirname(path.resolve(initialdir, log));
    if (!existsSync(dir)) throw new SimCommandError(`\nERROR: Invalid log file: "${path.resolve(initialdir, log)}" (No such file or directory)`, 1);
  }
  const job = await submitJob(
    { name, queue: 'default', script: text, array: true, tasks, extra: { executable, arguments: settings.get('arguments') ?? '', iwd: initialdir, requirements: settings.get('requirements') } },
    selfArgv(import.meta.url),
  );
  if (log) {
    const logPath = path.resolve(initialdir, expand(log, settings, String(job.id), 0));
    const now = new Date();
    const stamp = `${String(now.getMonth() + 1).padStart(2, '0')}/${String(now.getDate()).padStart(2, '0')} ${now.toTimeString().slice(0, 8)}`;
    for (let proc = 0; proc < count; proc++) {
      appendFileSync(logPath, `000 (${String(job.id).padStart(3, '0')}.${String(proc).padStart(3, '0')}.000) ${stamp} Job submitted from host: <127.0.0.1:9618?addrs=127.0.0.1-9618&alias=${hostname()}>\n...\n`);
    }
  }
  process.stdout.write(`Submitting job(s)${'.'.repeat(count)}\n${count} job(s) submitted to cluster ${job.id}.\n`);
  return 0;
}

/** Whether a process is still in the queue (not completed, not removed). */
function inQueue(job: SimJob, task: SimTask): boolean {
  return task.state === 'queued' || task.state === 'running' || (job.state === 'cancelling' && task.state !== 'done' && task.state !== 'failed' && task.state !== 'cancelled');
}

function jobStatus(job: SimJob, task: SimTask): number {
  if (task.state === 'cancelled' || (job.state === 'cancelling' && task.state === 'running')) return 3;
  if (task.state === 'queued') return job.state === 'cancelling' ? 3 : 1;
  if (task.state === 'running') return 2;
  return 4;
}

function attribute(job: SimJob, task: SimTask, name: string): string {
  switch (name.toLowerCase()) {
    case 'jobstatus':
      return String(jobStatus(job, task));
    case 'clusterid':
      return String(job.id);
    case 'procid':
      return String(task.index);
    case 'exitcode':
      return task.exitCode !== undefined && task.exitCode !== null && !['queued', 'running'].includes(task.state) ? String(task.exitCode) : 'undefined';
    case 'exitbysignal':
      return ['queued', 'running'].includes(task.state) ? 'undefined' : task.signal ? 'true' : 'false';
    case 'owner':
      return job.owner;
    case 'cmd':
      return String(job.extra.executable);
    case 'iwd':
      return String(job.extra.iwd);
    case 'jobbatchname':
      return job.name;
    case 'remotehost':
      return task.state === 'running' ? `slot1@${task.host ?? hostname()}` : 'undefined';
    default:
      return 'undefined';
  }
}

/** The (job, process) pairs the operands select, among those `keep` accepts. */
function select(operands: string[], keep: (job: SimJob, task: SimTask) => boolean): { job: SimJob; task: SimTask }[] {
  const out: { job: SimJob; task: SimTask }[] = [];
  const jobs = operands.map((o) => /^(\d+)(?:\.(\d+))?$/.exec(o));
  if (operands.length === 0) {
    for (const job of allJobs()) for (const task of job.tasks) if (keep(job, task)) out.push({ job, task });
    return out;
  }
  for (const [i, m] of jobs.entries()) {
    if (!m) throw new SimCommandError(`Error: unrecognized job id "${operands[i]}"`, 1);
    const job = findJob(m[1]!);
    if (!job) continue;
    for (const task of job.tasks) if ((m[2] === undefined || task.index === Number(m[2])) && keep(job, task)) out.push({ job, task });
  }
  return out;
}

function readQueryArgs(args: string[], tool: string): { operands: string[]; attrs?: string[] } {
  const operands: string[] = [];
  let attrs: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-af' || a === '-autoformat') {
      attrs = [];
      while (i + 1 < args.length && !args[i + 1]!.startsWith('-')) attrs.push(args[++i]!);
      if (attrs.length === 0) throw new SimCommandError(`${tool}: -autoformat requires at least one attribute`, 1);
    } else if (a === '-nobatch' || a === '-allusers' || a === '-wide') {
      // display options that do not change what is selected
    } else if (a.startsWith('-')) throw new SimCommandError(`${tool}: unknown option ${a}`, 1);
    else operands.push(a);
  }
  return { operands, ...(attrs && { attrs }) };
}

function runTime(task: SimTask): string {
  if (!task.startTime) return '0+00:00:00';
  const secs = Math.max(0, Math.round(((task.endTime ? Date.parse(task.endTime) : Date.now()) - Date.parse(task.startTime)) / 1000));
  const two = (n: number) => String(n).padStart(2, '0');
  return `${Math.floor(secs / 86400)}+${two(Math.floor((secs % 86400) / 3600))}:${two(Math.floor((secs % 3600) / 60))}:${two(secs % 60)}`;
}

function shortDate(iso: string | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  return `${String(d.getMonth() + 1).padStart(2, '0')}/${String(d.getDate()).padStart(2, '0')} ${d.toTimeString().slice(0, 5)}`;
}

function condorQ(args: string[]): number {
  const { operands, attrs } = readQueryArgs(args, 'condor_q');
  const rows = select(operands, inQueue);
  if (attrs) {
    if (rows.length) process.stdout.write(rows.map(({ job, task }) => attrs.map((a) => attribute(job, task, a)).join(' ')).join('\n') + '\n');
    return 0;
  }
  const letter = (s: number) => ({ 1: 'I', 2: 'R', 3: 'X', 4: 'C', 5: 'H' })[s] ?? '?';
  const lines = ['', `-- Schedule: sim@${hostname()} : <127.0.0.1:9618?...`, ' ID      OWNER            SUBMITTED     RUN_TIME ST PRI SIZE CMD'];
  for (const { job, task } of rows) {
    lines.push(` ${`${job.id}.${task.index}`.padEnd(7)} ${job.owner.padEnd(14)} ${shortDate(job.submitTime).padStart(11)} ${runTime(task).padStart(12)} ${letter(jobStatus(job, task))}  0    0.0 ${path.basename(String(job.extra.executable))}`);
  }
  const n = (s: number) => rows.filter(({ job, task }) => jobStatus(job, task) === s).length;
  lines.push('', `${rows.length} jobs; 0 completed, ${n(3)} removed, ${n(1)} idle, ${n(2)} running, 0 held, 0 suspended`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

function condorHistory(args: string[]): number {
  const { operands, attrs } = readQueryArgs(args, 'condor_history');
  const rows = select(operands, (job, task) => !inQueue(job, task)).reverse();
  if (attrs) {
    if (rows.length) process.stdout.write(rows.map(({ job, task }) => attrs.map((a) => attribute(job, task, a)).join(' ')).join('\n') + '\n');
    return 0;
  }
  const lines = [' ID     OWNER          SUBMITTED   RUN_TIME     ST COMPLETED   CMD'];
  for (const { job, task } of rows) {
    lines.push(` ${`${job.id}.${task.index}`.padEnd(6)} ${job.owner.padEnd(14)} ${shortDate(job.submitTime)} ${runTime(task).padStart(12)} ${jobStatus(job, task) === 3 ? 'X' : 'C'}  ${shortDate(task.endTime).padEnd(11)} ${String(job.extra.executable)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

function condorRm(args: string[]): number {
  const operands = args.filter((a) => !a.startsWith('-'));
  if (operands.length === 0) throw new SimCommandError('Usage: condor_rm [options] cluster ...', 1);
  let exit = 0;
  for (const operand of operands) {
    if (!/^\d+$/.test(operand)) throw new SimCommandError(`condor_rm: this simulator removes whole clusters only (got '${operand}')`, 1);
    const job = findJob(operand);
    if (!job || !job.tasks.some((t) => inQueue(job, t)) || !requestCancel(job)) {
      process.stderr.write(`Couldn't find/remove all jobs in cluster ${operand}\n`);
      exit = 1;
    } else process.stdout.write(`All jobs in cluster ${operand} have been marked for removal\n`);
  }
  return exit;
}

runFrontEnd('htcondor-sim', { condor_submit: condorSubmit, condor_q: condorQ, condor_history: condorHistory, condor_rm: condorRm });
