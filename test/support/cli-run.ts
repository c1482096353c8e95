/**
 * Test helpers for the `tscluster` command: run it as a child process (from source under tsx, or compiled from
 * dist/ when the tests themselves are compiled), in a temporary TSPARALLEL_DIR, with every process tracked by pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { isAlive, repoRoot, waitUntil } from './cluster.js';

/** Whether these tests run from source (tsx) rather than compiled. */
export const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** The command line that runs a script of this repository: `node [--import tsx] FILE`. */
export function nodeScript(relativeToRoot: string): string[] {
  const root = repoRoot();
  if (FROM_SOURCE) return [process.execPath, '--import', 'tsx', path.join(root, relativeToRoot)];
  return [process.execPath, path.join(root, 'dist', relativeToRoot.replace(/\.ts$/, '.js'))];
}

/** The command line of `tscluster`. */
export function tsclusterCommand(): string[] {
  return nodeScript('src/cli/tscluster.ts');
}

/** The environment for a child `tscluster`: the test's TSPARALLEL_DIR, no inherited TSPARALLEL_* options. */
export function cliEnv(root: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TSPARALLEL_') && k !== 'DEBUG') env[k] = v;
  return { ...env, TSPARALLEL_DIR: root, ...extra };
}

/** What a finished command did. */
export interface CliResult {
  /** Exit code (null when killed). */
  code: number | null;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** A command running in the background. */
export interface CliProcess {
  /** The child. */
  child: ChildProcess;
  /** Its pid. */
  pid: number;
  /** Output so far (stdout and stderr, interleaved). */
  output(): string;
  /** Standard output so far. */
  stdout(): string;
  /** Standard error so far. */
  stderr(): string;
  /** Wait until the output matches. @throws when it exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code once it has exited and its output is read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Start `tscluster ARGS` in the background (working directory: the repository root). */
export function startCli(args: readonly string[], env: NodeJS.ProcessEnv, input?: string): CliProcess {
  const [cmd, ...rest] = tsclusterCommand();
  const child = spawn(cmd!, [...rest, ...args], { cwd: repoRoot(), env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => ((out += d.toString()), (stdout += d.toString())));
  child.stderr!.on('data', (d: Buffer) => ((out += d.toString()), (stderr += d.toString())));
  if (input !== undefined) child.stdin!.end(input);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      done = true;
      resolve({ code, signal });
    }),
  );
  return {
    child,
    pid: child.pid!,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    async waitForOutput(pattern, timeoutMs = 60_000) {
      await waitUntil(
        () => {
          if (pattern.test(out)) return true;
          if (done) throw new Error(`tscluster ${args.join(' ')} exited before printing ${pattern}; it printed:\n${out}`);
          return false;
        },
        timeoutMs,
        `tscluster ${args.join(' ')} to print ${pattern}; it printed:\n${out}`,
      );
    },
  };
}

/** Run `tscluster ARGS` to completion (killed after `timeoutMs`), optionally with `input` on stdin. */
export async function runCli(args: readonly string[], env: NodeJS.ProcessEnv, options: { input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  const proc = startCli(args, env, options.input ?? '');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
  const { code } = await proc.exited;
  clearTimeout(timer);
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

/** The pids a cluster file records: the process that runs it, then the controller and the engines. */
export async function clusterPids(clusterFile: string): Promise<number[]> {
  const info = JSON.parse(await readFile(clusterFile, 'utf8')) as { pid: number; launchers: { controller: { pids: number[] }; engines: { pids: number[] }[] } };
  return [info.pid, ...info.launchers.controller.pids, ...info.launchers.engines.flatMap((l) => l.pids)];
}

/** A batch job that ended by itself, as a cluster file records it under its engine launchers. */
export interface EndedJob {
  /** The job's id. */
  id: string;
  /** The tail of its output, as the launcher reports it. */
  stderrTail?: string;
}

/** Wait (up to `timeoutMs`) until the cluster file records an ended engine job; returns the first engine launcher's. */
export async function waitForEndedEngineJobs(clusterFile: string, timeoutMs: number): Promise<EndedJob[]> {
  await waitUntil(async () => /"ended"/.test(await readFile(clusterFile, 'utf8')), timeoutMs, 'the cluster file records the ended job');
  const recorded = JSON.parse(await readFile(clusterFile, 'utf8')) as { launchers: { engines: { ended?: EndedJob[] }[] } };
  return recorded.launchers.engines[0]!.ended!;
}

/** Wait until none of `pids` is alive. */
export async function waitForGone(pids: readonly number[], timeoutMs = 30_000): Promise<void> {
  await waitUntil(() => pids.every((p) => !isAlive(p)), timeoutMs, `processes ${pids.filter(isAlive).join(', ')} to exit`);
}

/** Kill whatever of `pids` is still alive (test cleanup after a failure). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
