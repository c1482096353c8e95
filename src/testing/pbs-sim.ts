#!/usr/bin/env node
/**
 * pbs-sim: a simulator of PBS's `qsub`, `qstat` and `qdel` (PBS Pro / OpenPBS, or Torque with
 * `PBS_SIM_FLAVOR=torque`), for tsparallel's tests. It is NOT PBS: it keeps jobs on disk and runs their scripts on
 * this machine (or through `TSPARALLEL_SIM_EXEC`, see batch-sim-core), printing what the real tools print.
 *
 * Run as `pbs-sim.js <tool> args…` where tool is `qsub`, `qstat` or `qdel` (test/support/batch-sims.ts puts
 * wrappers with those names on PATH):
 * - `qsub [-N name] [-q queue] [-A account] [-l res]… [-J 1-n | -t 1-n] [-j oe] [-o path] [-e path] [-V]
 *   [-v a=b,…] [-S shell] [script]`: options from `#PBS` lines of the script (read from stdin when no script is
 *   given), the command line winning; prints the job id (`123.server`, `123[].server` for an array). An unknown
 *   queue is refused; PBS Pro refuses a one-element `-J` range. Each task runs `sh script` with the PBS
 *   variables (`PBS_JOBID`, `PBS_O_WORKDIR`, `PBS_ARRAY_INDEX` on PBS Pro or `PBS_ARRAYID` on Torque, …) over a
 *   login environment; `-V` adds the submitter's environment.
 * - `qstat [-f] [-x] [-t] [id…]`: the default table or full `key = value` records. PBS Pro shows finished jobs
 *   only with `-x` (without it: "Job has finished", exit 35); Torque keeps completed jobs in state `C`.
 * - `qdel id…`: cancels (returns at once; the job goes through `E` to its final state). As on the real servers
 *   (`substateOf` and `exitStatusOf` below cite the sources), a deleted PBS Pro job ends `F` (a subjob
 *   `X`) with `substate = 91` and the exit status its process ended with (none if it never ran); a deleted Torque
 *   job ends `C` with its process's exit status (271 if it never ran).
 * Unknown job: "qstat: Unknown Job Id <id>", exit 153.
 *
 * Environment: `TSPARALLEL_SIM_DIR` (required), `PBS_SIM_FLAVOR` (`pbspro` default, or `torque`), `PBS_SIM_SERVER`
 * (server name, default `pbs-sim`), `PBS_SIM_QUEUES` (comma-separated known queues; default `workq`, Torque
 * `batch`; the first is the default queue).
 * @module
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import {
  allJobs,
  findJob,
  isFinalSimState,
  loginEnvironment,
  requestCancel,
  runFrontEnd,
  scriptDirectives,
  selfArgv,
  SimCommandError,
  submitEnvironment,
  submitJob,
  type SimJob,
  type SimTask,
  type SimTaskSpec,
} from './batch-sim-core.js';

const flavor = process.env.PBS_SIM_FLAVOR === 'torque' ? 'torque' : 'pbspro';
const server = process.env.PBS_SIM_SERVER ?? 'pbs-sim';
const queues = (process.env.PBS_SIM_QUEUES ?? (flavor === 'torque' ? 'batch' : 'workq')).split(',').map((q) => q.trim()).filter(Boolean);

const VALUE_OPTIONS = new Set(['-N', '-q', '-A', '-l', '-J', '-t', '-j', '-o', '-e', '-v', '-S', '-W', '-m', '-M', '-p', '-a', '-r']);
const FLAG_OPTIONS = new Set(['-V', '-h']);

/** Options of a qsub command line or a `#PBS` line, in order. */
function readOptions(words: readonly string[], where: string): { options: [string, string][]; operands: string[] } {
  const options: [string, string][] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--' || !w.startsWith('-') || w === '-') break;
    const name = w.slice(0, 2);
    if (FLAG_OPTIONS.has(name) && w.length === 2) options.push([name, '']);
    else if (VALUE_OPTIONS.has(name)) {
      if (flavor === 'pbspro' && name === '-t') throw new SimCommandError(`${where}: invalid option -- 't'\nusage: qsub [-J X-Y[:Z]] … (array jobs use -J on PBS Pro)`, 2);
      if (flavor === 'torque' && name === '-J') throw new SimCommandError(`${where}: invalid option -- 'J' (array jobs use -t on Torque)`, 2);
      const value = w.length > 2 ? w.slice(2) : words[++i];
      if (value === undefined) throw new SimCommandError(`${where}: option requires an argument -- '${name.slice(1)}'`, 2);
      options.push([name, value]);
    } else throw new SimCommandError(`${where}: invalid option -- '${w.slice(1)}'`, 2);
  }
  return { options, operands: words.slice(i) };
}

/** The indices of a `-J`/`-t` range: `1-4`, `1-10:2`, `1-4%2` (Torque slot limit), or a list `1,3,5`. */
function arrayIndices(range: string, option: string): number[] {
  const spec = range.replace(/%\d+$/, '');
  const m = /^(\d+)-(\d+)(?::(\d+))?$/.exec(spec);
  if (m) {
    const [from, to, step] = [Number(m[1]), Number(m[2]), Number(m[3] ?? 1)];
    if (to < from || step < 1) throw new SimCommandError(`qsub: illegal ${option} value`, 2);
    const out: number[] = [];
    for (let x = from; x <= to; x += step) out.push(x);
    return out;
  }
  if (flavor === 'torque' && /^\d+(,\d+)*$/.test(spec)) return spec.split(',').map(Number);
  throw new SimCommandError(`qsub: illegal ${option} value`, 2);
}

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

async function qsub(args: string[]): Promise<number> {
  const cli = readOptions(args, 'qsub');
  const scriptFile = cli.operands[0];
  const script = scriptFile ? readScript(scriptFile) : readStdin();
  // PBS reads directives up to the first executable line.
  const header: string[] = [];
  for (const line of script.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) header.push(line);
    else break;
  }
  const directives = scriptDirectives(header.join('\n'), '#PBS').flatMap((words) => readOptions(words, 'qsub').options);
  const all = [...directives, ...cli.options];
  const last = (name: string) => all.filter(([n]) => n === name).at(-1)?.[1];

  const queue = last('-q') ?? queues[0]!;
  if (!queues.includes(queue.replace(/@.*$/, ''))) {
    if (flavor === 'torque') throw new SimCommandError('qsub: submit error (Unknown queue MSG=requested queue not found)', 1);
    throw new SimCommandError('qsub: Unknown queue', 170);
  }
  const name = last('-N') ?? (scriptFile ? path.basename(scriptFile) : 'STDIN');
  const rangeOption = flavor === 'torque' ? '-t' : '-J';
  const range = last(rangeOption);
  const indices = range === undefined ? undefined : arrayIndices(range, rangeOption);
  if (indices && flavor === 'pbspro' && indices.length < 2) throw new SimCommandError('qsub: illegal -J value', 2);
  const cwd = process.cwd();
  const join = last('-j') ?? 'n';
  const shell = last('-S') ?? '/bin/sh';

  let env: Record<string, string> = { ...loginEnvironment() };
  if (all.some(([n]) => n === '-V')) env = { ...env, ...submitEnvironment() };
  for (const [n, v] of all) {
    if (n !== '-v') continue;
    for (const item of v.split(',').filter(Boolean)) {
      const eq = item.indexOf('=');
      if (eq < 0) env[item] = process.env[item] ?? '';
      else env[item.slice(0, eq)] = item.slice(eq + 1);
    }
  }
  const array = indices !== undefined;
  const parentId = (seq: string) => `${seq}${array ? '[]' : ''}.${server}`;
  const pathOf = (option: '-o' | '-e', suffix: 'o' | 'e', index?: number): string => {
    const given = last(option);
    let p = given ? path.resolve(cwd, given.replace(/^[\w.-]+:(?=\/)/, '')) : path.join(cwd, `${name}.${suffix}{jobId}`);
    if (index !== undefined) {
      if (flavor === 'pbspro') p = given ? p.replaceAll('^array_index^', String(index)) : `${p}.${index}`;
      else p = `${p}-${index}`;
    }
    return p;
  };
  const tasks: SimTaskSpec[] = (indices ?? [undefined]).map((index, i) => {
    const stdoutPath = pathOf('-o', 'o', index);
    const stderrPath = join === 'oe' ? stdoutPath : join === 'eo' ? pathOf('-e', 'e', index) : pathOf('-e', 'e', index);
    const taskEnv: Record<string, string> = {
      ...env,
      PBS_O_WORKDIR: cwd,
      PBS_O_HOME: process.env.HOME ?? '',
      PBS_O_QUEUE: queue,
      PBS_O_HOST: hostname(),
      PBS_QUEUE: queue,
      PBS_JOBNAME: name,
      PBS_ENVIRONMENT: 'PBS_BATCH',
      PBS_JOBID: index === undefined ? `{jobId}.${server}` : `{jobId}[${index}].${server}`,
    };
    if (index !== undefined) {
      if (flavor === 'pbspro') {
        taskEnv.PBS_ARRAY_INDEX = String(index);
        taskEnv.PBS_ARRAY_ID = `{jobId}[].${server}`;
      } else taskEnv.PBS_ARRAYID = String(index);
    }
    return {
      index: index ?? i,
      argv: [shell, '{script}'],
      env: taskEnv,
      stdoutPath,
      stderrPath: join === 'eo' ? stdoutPath : stderrPath,
      cwd: process.env.HOME ?? '/',
    };
  });
  const job = await submitJob(
    { name, queue, script, array, tasks, extra: { flavor, server, account: last('-A'), resources: all.filter(([n]) => n === '-l').map(([, v]) => v), indices: range } },
    selfArgv(import.meta.url),
  );
  process.stdout.write(`${parentId(String(job.id))}\n`);
  return 0;
}

function readScript(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new SimCommandError(`qsub: script file:: No such file or directory`, 2);
  }
}

/** The job a qstat/qdel operand names, and the array index when it names one element. */
function lookup(operand: string): { job: SimJob; index?: number } | undefined {
  const m = /^(\d+)(?:\[(\d*)\])?(?:\.([\w.-]+))?$/.exec(operand);
  if (!m || (m[3] !== undefined && m[3] !== server)) return undefined;
  const job = findJob(m[1]!);
  if (!job) return undefined;
  if (m[2] !== undefined && !job.array) return undefined;
  if (m[2] === undefined && job.array) return undefined; // an array is named 123[]
  if (m[2]) {
    const index = Number(m[2]);
    if (!job.tasks.some((t) => t.index === index)) return undefined;
    return { job, index };
  }
  return { job };
}

function unknownJob(tool: string, operand: string): SimCommandError {
  return new SimCommandError(flavor === 'torque' ? `${tool}: Unknown Job Id Error ${operand}` : `${tool}: Unknown Job Id ${operand}`, 153);
}

function jobIdOf(job: SimJob, index?: number): string {
  return `${job.id}${job.array ? `[${index ?? ''}]` : ''}.${server}`;
}

/**
 * A task's exit status as PBS records it: its exit code, or 256 + the signal that killed it (what the MoM records,
 * OpenPBS and Torque src/resmom/linux/mom_start.c). A task deleted before it ran has none on PBS Pro (the server
 * aborts the job without an exit status, OpenPBS src/server/job_func.c job_abt); Torque's server gives it 271
 * (Torque src/server/job_func.c handle_aborted_job).
 */
function exitStatusOf(task: SimTask): number | undefined {
  if (task.exitCode !== undefined && task.exitCode !== null) return task.exitCode;
  if (task.signal) return 256 + (task.signal === 'SIGKILL' ? 9 : task.signal === 'SIGTERM' ? 15 : 6);
  // Deleted before it ran.
  if (task.state === 'cancelled' && !task.startTime) return flavor === 'torque' ? 256 + 15 : undefined;
  // Deleted after its runner died (no exit was recorded): as if SIGTERM killed it.
  if (task.state === 'cancelled') return 256 + 15;
  return undefined;
}

/**
 * An array parent's Exit_status on PBS Pro: a summary of its subjobs' (OpenPBS src/server/array_func.c
 * update_sj_parent): 2 if one is negative, 1 if one is positive, 0 if all are 0, none if no subjob ran. (The
 * server sets it from each subjob as it ends, so on a real server the last one decides; the launcher reads the
 * substate, not this number, to tell how an array ended.)
 */
function arrayExitStatusOf(job: SimJob): number | undefined {
  const codes = job.tasks.map(exitStatusOf).filter((c): c is number => c !== undefined);
  if (codes.length === 0) return undefined;
  return codes.some((c) => c < 0) ? 2 : codes.some((c) => c > 0) ? 1 : 0;
}

/**
 * PBS Pro's `substate` of a job or subjob (the numbers of OpenPBS src/include/job.h): 10 queued, 42 running, 70 an
 * array begun, 50 exiting; in the history 91 when a qdel ended it (queued or running, whatever its exit status:
 * OpenPBS src/server/svr_jobfunc.c svr_setjob_histinfo), else 93 when it failed, else 92. A subjob that never ran
 * is shown by a real server from its parent's record; here it gets the state its task has. Torque shows the
 * substate to operators and managers only, so its records here have none.
 */
function substateOf(job: SimJob, task?: SimTask): number {
  const state = task ? (task.state === 'running' && job.state === 'cancelling' ? 'cancelling' : task.state) : job.state;
  switch (state) {
    case 'queued':
      return 10;
    case 'running':
      return job.array && !task ? 70 : 42;
    case 'cancelling':
      return 50;
    case 'cancelled':
      return 91;
    case 'failed':
      return 93;
    default:
      return 92;
  }
}

function letterOf(job: SimJob, task?: SimTask): string {
  if (task) {
    if (task.state === 'queued') return 'Q';
    if (task.state === 'running') return job.state === 'cancelling' ? 'E' : 'R';
    return flavor === 'torque' ? 'C' : 'X';
  }
  switch (job.state) {
    case 'queued':
      return 'Q';
    case 'running':
      return job.array && flavor === 'pbspro' ? 'B' : 'R';
    case 'cancelling':
      return 'E';
    default:
      return flavor === 'torque' ? 'C' : 'F';
  }
}

function timeUse(job: SimJob, task?: SimTask): string {
  const start = task?.startTime ?? job.startTime;
  if (!start) return '0';
  const end = task?.endTime ?? job.endTime;
  const secs = Math.max(0, Math.round(((end ? Date.parse(end) : Date.now()) - Date.parse(start)) / 1000));
  const two = (x: number) => String(x).padStart(2, '0');
  return `${two(Math.floor(secs / 3600))}:${two(Math.floor((secs % 3600) / 60))}:${two(secs % 60)}`;
}

/** A time as C's ctime(3) writes it (`Wed Nov 25 09:48:43 2026`), which qstat -f uses. */
function ctime(iso: string): string {
  const d = new Date(iso);
  const [day, mon, date, year, time] = d.toString().split(' ');
  return `${day} ${mon} ${String(Number(date)).padStart(2, ' ')} ${time} ${year}`;
}

function fullRecord(job: SimJob, task?: SimTask): string {
  const rows: [string, string | number | undefined][] = [
    ['Job_Name', job.name],
    ['Job_Owner', `${job.owner}@${hostname()}`],
    ['job_state', letterOf(job, task)],
    ['queue', job.queue],
    ['server', server],
    ['ctime', ctime(job.submitTime)],
    ['Output_Path', `${hostname()}:${(task ?? job.tasks[0])?.stdoutPath ?? ''}`],
  ];
  const account = job.extra.account as string | undefined;
  if (account) rows.push(['Account_Name', account]);
  for (const res of (job.extra.resources as string[] | undefined) ?? []) {
    for (const part of res.split(',')) {
      const [k, v] = part.split('=');
      if (k && v !== undefined) rows.push([`Resource_List.${k}`, v]);
    }
  }
  const tasks = task ? [task] : job.tasks;
  if (!job.array || task) {
    const t = tasks[0]!;
    if (t.pid && t.state === 'running') rows.push(['session_id', t.pid]);
    if (t.host) rows.push(['exec_host', `${t.host}/0`]);
  }
  if (job.array && !task) {
    const count = (s: string) => job.tasks.filter((t) => t.state === s).length;
    rows.push(['array', 'True'], ['array_indices_submitted', String(job.extra.indices ?? '')]);
    if (flavor === 'pbspro') {
      rows.push(['array_state_count', `Queued:${count('queued')} Running:${count('running')} Exiting:0 Expired:${job.tasks.length - count('queued') - count('running')}`]);
    }
  }
  if (flavor === 'pbspro') rows.push(['substate', substateOf(job, task)]);
  if (isFinalSimState(job.state) || (task && !['queued', 'running'].includes(task.state))) {
    const codes = tasks.map(exitStatusOf).filter((c): c is number => c !== undefined);
    const code = flavor === 'pbspro' && job.array && !task ? arrayExitStatusOf(job) : (codes.find((c) => c !== 0) ?? codes[0]);
    if (code !== undefined) rows.push([flavor === 'torque' ? 'exit_status' : 'Exit_status', code]);
  }
  return `Job Id: ${jobIdOf(job, task?.index)}\n` + rows.map(([k, v]) => `    ${k} = ${v ?? ''}`).join('\n') + '\n';
}

function qstat(args: string[]): number {
  let full = false;
  let history = false;
  let expand = false;
  const operands: string[] = [];
  for (const a of args) {
    if (/^-[fxtJw1]+$/.test(a)) {
      full ||= a.includes('f');
      expand ||= a.includes('t');
      if (a.includes('x')) {
        if (flavor === 'torque') throw new SimCommandError('qstat: -x (XML output) is not simulated for Torque', 2);
        history = true;
      }
    } else if (a.startsWith('-')) throw new SimCommandError(`qstat: invalid option -- '${a.slice(1)}'`, 2);
    else operands.push(a);
  }
  let exit = 0;
  const shown: { job: SimJob; task?: SimTask }[] = [];
  const visible = (job: SimJob) => history || flavor === 'torque' || !isFinalSimState(job.state);
  if (operands.length === 0) {
    for (const job of allJobs()) if (visible(job)) shown.push({ job });
  } else {
    for (const operand of operands) {
      const found = lookup(operand);
      if (!found) {
        process.stderr.write(`${unknownJob('qstat', operand).message}\n`);
        exit = 153;
        continue;
      }
      if (!visible(found.job)) {
        process.stderr.write(`qstat: ${operand} Job has finished, use -x or -H to obtain historical job information\n`);
        exit = 35;
        continue;
      }
      shown.push({ job: found.job, ...(found.index !== undefined && { task: found.job.tasks.find((t) => t.index === found.index)! }) });
    }
  }
  const rows: { job: SimJob; task?: SimTask }[] = shown.flatMap(({ job, task }) =>
    expand && job.array && !task ? [{ job }, ...job.tasks.map((t) => ({ job, task: t }))] : [{ job, ...(task && { task }) }],
  );
  if (full) {
    process.stdout.write(rows.map(({ job, task }) => fullRecord(job, task)).join('\n'));
  } else if (rows.length > 0) {
    const lines = ['Job id            Name             User              Time Use S Queue', '----------------  ---------------- ----------------  -------- - -----'];
    for (const { job, task } of rows) {
      lines.push(`${jobIdOf(job, task?.index).slice(0, 16).padEnd(17)} ${job.name.slice(0, 16).padEnd(16)} ${job.owner.slice(0, 16).padEnd(16)}  ${timeUse(job, task).padStart(8)} ${letterOf(job, task)} ${job.queue}`);
    }
    process.stdout.write(lines.join('\n') + '\n');
  }
  return exit;
}

function qdel(args: string[]): number {
  const operands = args.filter((a) => !a.startsWith('-'));
  if (operands.length === 0) throw new SimCommandError('usage: qdel [-W force|suppress_email=X] [-x] job_identifier...', 2);
  let exit = 0;
  for (const operand of operands) {
    const found = lookup(operand);
    if (!found) {
      process.stderr.write(`${unknownJob('qdel', operand).message}\n`);
      exit = 153;
      continue;
    }
    if (!requestCancel(found.job)) {
      if (flavor === 'torque') {
        process.stderr.write(`qdel: Request invalid for state of job MSG=invalid state for job - COMPLETE ${operand}\n`);
        exit = 168;
      } else {
        process.stderr.write(`qdel: Job has finished ${operand}\n`);
        exit = 35;
      }
    }
  }
  return exit;
}

runFrontEnd('pbs-sim', { qsub, qstat, qdel });
