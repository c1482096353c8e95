#!/usr/bin/env node
/**
 * lsf-sim: a simulator of LSF's `bsub`, `bjobs` and `bkill`, for tsparallel's tests. It is NOT LSF: it keeps jobs on
 * disk and runs them on this machine (or through `TSPARALLEL_SIM_EXEC`, see batch-sim-core), printing what the real
 * tools print.
 *
 * Run as `lsf-sim.js <tool> args…` (test/support/batch-sims.ts puts wrappers named `bsub`, `bjobs`, `bkill` on PATH):
 * - `bsub [-J name | -J "name[1-n]"] [-q queue] [-o file] [-e file] [-W [h:]m] [-n n] [-R res] [-P project]
 *   [command args…]`: with no command, the job script is read from standard input and its `#BSUB` lines are read
 *   as options (the command line wins); with a command, it is run by `/bin/sh -c`. Prints
 *   `Job <id> is submitted to [default ]queue <queue>.`. An unknown queue is refused (exit 255). The job runs in the
 *   submission directory with the submitter's whole environment, plus `LSB_JOBID`, `LSB_JOBNAME`, `LSB_QUEUE`,
 *   `LSB_JOBINDEX` (the element's index; 0 outside an array), `LS_SUBCWD`. `%J` and `%I` in `-o`/`-e` become the job id
 *   and index. An element killed by a signal has the exit code 128 + the signal.
 * - `bjobs [-a] [-noheader] [-o "field …"] [id | "id[index]"]…`: fields `jobid stat queue job_name user exit_code
 *   exit_reason jobindex`; without `-o`, the default table. Unfinished jobs only, unless `-a` or ids are given. An
 *   unknown id: `Job <id> is not found`, exit 255.
 * - `bkill id…`: `Job <id> is being terminated` (returns at once); an ended job: `Job <id>: Job has already
 *   finished`, exit 255. As on LSF, a killed job (or array element) ends `EXIT` whatever its process exited with
 *   (one that catches the signal and exits 0 has no exit code, `-`), and its `exit_reason` says who killed it:
 *   `TERM_OWNER` when the job's owner ran bkill, `TERM_ADMIN` when someone else did (LSF lets only the owner, root
 *   and LSF administrators kill a job; the simulator does not check permissions). See `exitReasonOf` for sources.
 *
 * Environment: `TSPARALLEL_SIM_DIR` (required), `LSF_SIM_QUEUES` (comma-separated known queues, the first the
 * default; default `normal`), `LSF_SIM_USER` (the user the tools run as; default the current user: bkill with
 * another name kills as an administrator).
 * @module
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import {
  allJobs,
  cancelRequester,
  currentUser,
  findJob,
  isFinalSimState,
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

const queues = (process.env.LSF_SIM_QUEUES ?? 'normal').split(',').map((q) => q.trim()).filter(Boolean);
const VALUE_OPTIONS = new Set(['-J', '-q', '-o', '-e', '-oo', '-eo', '-W', '-n', '-R', '-P', '-M', '-G', '-cwd', '-env', '-u', '-m', '-w', '-E', '-g', '-app', '-sla']);
const FLAG_OPTIONS = new Set(['-H', '-N', '-B', '-r', '-x', '-K']);

function readOptions(words: readonly string[]): { options: [string, string][]; operands: string[] } {
  const options: [string, string][] = [];
  let i = 0;
  for (; i < words.length; i++) {
    const w = words[i]!;
    if (!w.startsWith('-')) break;
    if (FLAG_OPTIONS.has(w)) options.push([w, '']);
    else if (VALUE_OPTIONS.has(w)) {
      const value = words[++i];
      if (value === undefined) throw new SimCommandError(`${w}: option requires an argument. Job not submitted.`, 255);
      options.push([w, value]);
    } else throw new SimCommandError(`${w}: Illegal option. Job not submitted.`, 255);
  }
  return { options, operands: words.slice(i) };
}

/** `name[1-4]`, `name[1-10:2]`, `name[1,3,5]`, `name[1-4]%2` → the name and indices; a plain name → no indices. */
function jobNameSpec(spec: string): { name: string; indices?: number[] } {
  const m = /^([^[\]]*)\[([^\]]+)\](?:%\d+)?$/.exec(spec);
  if (!m) return { name: spec };
  const indices: number[] = [];
  for (const part of m[2]!.split(',')) {
    const r = /^(\d+)(?:-(\d+)(?::(\d+))?)?$/.exec(part.trim());
    if (!r) throw new SimCommandError(`Bad job name. Job not submitted.`, 255);
    const [from, to, step] = [Number(r[1]), Number(r[2] ?? r[1]), Number(r[3] ?? 1)];
    if (to < from || step < 1 || from < 1) throw new SimCommandError(`Bad job name. Job not submitted.`, 255);
    for (let x = from; x <= to; x += step) indices.push(x);
  }
  return { name: m[1]!, indices };
}

async function bsub(args: string[]): Promise<number> {
  const cli = readOptions(args);
  let script: string;
  let argv: string[];
  let options = cli.options;
  if (cli.operands.length === 0) {
    script = readFileSync(0, 'utf8');
    const directives = scriptDirectives(script, '#BSUB').flatMap((words) => readOptions(words).options);
    options = [...directives, ...cli.options];
    argv = ['/bin/sh', '{script}'];
  } else {
    script = `#!/bin/sh\n${cli.operands.join(' ')}\n`;
    argv = ['/bin/sh', '-c', cli.operands.join(' ')];
  }
  const last = (name: string) => options.filter(([n]) => n === name).at(-1)?.[1];
  const queueGiven = last('-q');
  const queue = queueGiven ?? queues[0]!;
  if (!queues.includes(queue)) throw new SimCommandError(`${queue}: No such queue. Job not submitted.`, 255);
  const { name, indices } = jobNameSpec(last('-J') ?? (cli.operands.join(' ') || 'STDIN'));
  const walltime = last('-W');
  if (walltime !== undefined && !/^(\d+:)?\d+$/.test(walltime)) throw new SimCommandError(`${walltime}: Bad RUNLIMIT specification. Job not submitted.`, 255);
  const cwd = last('-cwd') ?? process.cwd();
  const env = submitEnvironment();
  const out = last('-oo') ?? last('-o');
  const err = last('-eo') ?? last('-e');
  const fill = (p: string | undefined, index: number) => (p === undefined ? undefined : path.resolve(cwd, p.replaceAll('%J', '{jobId}').replaceAll('%I', String(index))));
  const tasks: SimTaskSpec[] = (indices ?? [0]).map((index) => {
    const stdoutPath = fill(out, index) ?? `{jobDir}/output-${index}`;
    return {
      index,
      argv,
      env: {
        ...env,
        LSB_JOBID: '{jobId}',
        LSB_JOBNAME: indices ? `${name}[${index}]` : name,
        LSB_QUEUE: queue,
        LSB_JOBINDEX: String(index),
        ...(indices && { LSB_JOBINDEX_END: String(indices.at(-1)) }),
        LS_SUBCWD: process.cwd(),
        LSB_HOSTS: hostname(),
      },
      stdoutPath,
      stderrPath: fill(err, index) ?? stdoutPath,
      cwd,
    };
  });
  const job = await submitJob({ name, queue, script, array: indices !== undefined, tasks, extra: { runLimit: walltime } }, selfArgv(import.meta.url));
  process.stdout.write(`Job <${job.id}> is submitted to ${queueGiven ? '' : 'default '}queue <${queue}>.\n`);
  return 0;
}

function statOf(task: SimTask): string {
  switch (task.state) {
    case 'queued':
      return 'PEND';
    case 'running':
      return 'RUN';
    case 'done':
      return 'DONE';
    default:
      return 'EXIT';
  }
}

/** LSF reports an element killed by a signal as 128 + the signal; `-` when it has not ended. */
function exitCodeOf(task: SimTask): string {
  if (task.state === 'queued' || task.state === 'running') return '-';
  if (task.exitCode !== undefined && task.exitCode !== null) return task.exitCode === 0 ? '-' : String(task.exitCode);
  const sig = task.signal === 'SIGKILL' ? 9 : task.signal === 'SIGINT' ? 2 : 15;
  return String(128 + sig);
}

/**
 * A task's `exit_reason`: the termination reason LSF records for a job bkill ended, `-` (no value) for any other.
 * The keywords and their sentences are LSF's (IBM Spectrum LSF 10.1, "Termination reasons displayed by bacct, bhist,
 * and bjobs": TERM_OWNER "job killed by owner", TERM_ADMIN "job killed by root or LSF administrator"), written as
 * `bjobs -l` writes them ("Completed <exit>; TERM_OWNER: job killed by owner."). That `bjobs -o exit_reason` shows the
 * keyword is what tools that read it rely on (DataBiosphere/toil's LSF batch system looks for TERM_MEMLIMIT in it);
 * IBM does not document the sentence after it for `-o`, and the launcher reads only the keyword. Limits, preemption
 * and `bkill -r` (TERM_FORCE_*, only when the execution host is unreachable) are not simulated.
 */
function exitReasonOf(job: SimJob, task: SimTask): string {
  if (task.state !== 'cancelled') return '-';
  const by = cancelRequester(job);
  if (by === undefined) return '-';
  return by === job.owner ? 'TERM_OWNER: job killed by owner' : 'TERM_ADMIN: job killed by root or LSF administrator';
}

function fieldOf(job: SimJob, task: SimTask, field: string): string {
  switch (field) {
    case 'jobid':
      return String(job.id);
    case 'stat':
      return statOf(task);
    case 'queue':
      return job.queue;
    case 'job_name':
      return job.array ? `${job.name}[${task.index}]` : job.name;
    case 'user':
      return job.owner;
    case 'exit_code':
      return exitCodeOf(task);
    case 'exit_reason':
      return exitReasonOf(job, task);
    case 'jobindex':
      return String(job.array ? task.index : 0);
    default:
      throw new SimCommandError(`${field}: Illegal field name.`, 255);
  }
}

function bjobs(args: string[]): number {
  let all = false;
  let noheader = false;
  let fields: string[] | undefined;
  const ids: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-a') all = true;
    else if (a === '-noheader') noheader = true;
    else if (a === '-o') fields = (args[++i] ?? '').trim().split(/\s+/).map((f) => f.replace(/:.*$/, '').toLowerCase());
    else if (a.startsWith('-')) throw new SimCommandError(`${a}: Illegal option.`, 255);
    else ids.push(a);
  }
  const rows: { job: SimJob; task: SimTask }[] = [];
  let exit = 0;
  if (ids.length === 0) {
    for (const job of allJobs()) for (const task of job.tasks) if (all || !['done', 'failed', 'cancelled'].includes(task.state)) rows.push({ job, task });
    if (rows.length === 0) {
      process.stderr.write('No unfinished job found\n');
      return 0;
    }
  } else {
    for (const id of ids) {
      const m = /^(\d+)(?:\[(\d+)\])?$/.exec(id);
      const job = m ? findJob(m[1]!) : undefined;
      const tasks = job ? job.tasks.filter((t) => m![2] === undefined || (job.array && t.index === Number(m![2]))) : [];
      if (!job || tasks.length === 0) {
        process.stderr.write(`Job <${id}> is not found\n`);
        exit = 255;
        continue;
      }
      for (const task of tasks) rows.push({ job, task });
    }
  }
  const out: string[] = [];
  if (fields) {
    const cells = rows.map(({ job, task }) => fields!.map((f) => fieldOf(job, task, f)));
    const widths = fields.map((f, i) => Math.max(f.length, ...cells.map((c) => c[i]!.length)) + 1);
    if (!noheader && rows.length) out.push(fields.map((f, i) => f.toUpperCase().padEnd(widths[i]!)).join('').trimEnd());
    for (const c of cells) out.push(c.map((v, i) => v.padEnd(widths[i]!)).join('').trimEnd());
  } else {
    if (!noheader && rows.length) out.push('JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME');
    for (const { job, task } of rows) {
      const submitted = new Date(job.submitTime).toString().split(' ');
      out.push(
        `${String(job.id).padEnd(8)}${job.owner.slice(0, 7).padEnd(8)}${statOf(task).padEnd(6)}${job.queue.slice(0, 10).padEnd(11)}${hostname().slice(0, 11).padEnd(12)}${(task.state === 'queued' ? '' : task.host ?? hostname()).slice(0, 11).padEnd(12)}${fieldOf(job, task, 'job_name').slice(0, 10).padEnd(11)}${submitted[1]} ${submitted[2]} ${submitted[4]!.slice(0, 5)}`,
      );
    }
  }
  if (out.length) process.stdout.write(out.join('\n') + '\n');
  return exit;
}

function bkill(args: string[]): number {
  const ids = args.filter((a) => !a.startsWith('-'));
  if (ids.length === 0) throw new SimCommandError('Usage: bkill [-s signal] jobId | "jobId[index]" ...', 255);
  let exit = 0;
  for (const id of ids) {
    const job = /^\d+$/.test(id) ? findJob(id) : undefined;
    if (!job) {
      process.stderr.write(`Job <${id}>: No matching job found\n`);
      exit = 255;
    } else if (isFinalSimState(job.state) || !requestCancel(job, process.env.LSF_SIM_USER || currentUser())) {
      process.stderr.write(`Job <${id}>: Job has already finished\n`);
      exit = 255;
    } else process.stdout.write(`Job <${id}> is being terminated\n`);
  }
  return exit;
}

runFrontEnd('lsf-sim', { bsub, bjobs, bkill });
