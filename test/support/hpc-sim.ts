/**
 * Test helpers for the launcher tests: where the repository and the HPC `job` simulator are, temporary
 * directories, and process checks by pid.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive, repoRoot, tempDir } from './cluster.js';
import { requireTool } from './requirements.js';
import { hpcJobSimulatorCommand, hpcTaskSimulatorCommand } from '../../src/testing/simulators.js';

export { isAlive, repoRoot, tempDir };


/** A file under test/fixtures/hpc/ of the source tree. */
export function hpcFixture(name: string): string {
  return path.join(repoRoot(), 'test', 'fixtures', 'hpc', name);
}

/** Whether these tests run from TypeScript sources (through tsx) rather than compiled JavaScript. */
export const fromSource = import.meta.url.endsWith('.ts');

/**
 * The argument vector that runs the HPC `job` simulator: `node <dist>/src/testing/hpc-job-sim.js`, or from sources
 * `node --import <tsx> src/testing/hpc-job-sim.ts`. Pass it as the `windows-hpc` launcher's `jobCommand`.
 */
export function simulatorCommand(): string[] {
  return hpcJobSimulatorCommand();
}

/** The argument vector that runs the simulator as HPC Pack's `task` command: the launcher's `taskCommand`. */
export function taskSimulatorCommand(): string[] {
  return hpcTaskSimulatorCommand();
}

/** Run the simulator synchronously with `args`, in the state directory `simDir`. */
export function runSimulator(simDir: string, args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const [program, ...rest] = simulatorCommand();
  const r = spawnSync(program!, [...rest, ...args], { encoding: 'utf8', env: { ...process.env, HPC_SIM_DIR: simDir, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whether `xmllint` can be run here. */
export function hasXmllint(): boolean {
  return !spawnSync('xmllint', ['--version']).error;
}

/** The reason to skip a test that needs xmllint, or false when it is installed (under CI, missing it is an error). */
export const needsXmllint: string | false = requireTool('xmllint', hasXmllint(), 'apt-get install libxml2-utils');

/** Validate an XML file against an XSD with xmllint; resolves the exit status and output. */
export function xmllintValidate(xmlFile: string, xsdFile = path.join(repoRoot(), 'src', 'testing', 'hpc-job-2008.xsd')): { ok: boolean; output: string } {
  const r = spawnSync('xmllint', ['--noout', '--schema', xsdFile, xmlFile], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}



/** The pids among `pids` still running after waiting up to `timeoutMs` for them to end. */
export async function survivors(pids: readonly number[], timeoutMs = 10_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isAlive);
    if (alive.length === 0 || Date.now() > deadline) return alive;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Kill whatever of `pids` is still running (cleanup after a failed assertion). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

/** A job as the simulator keeps it on disk (only the fields tests read). */
export interface SimJobState {
  id: number;
  name: string;
  state: string;
  runnerPid?: number;
  tasks: { niceId: number; name: string; commandLine: string; state: string; pid?: number; exitCode?: number | null; output?: string }[];
}

/** Every job the simulator in `simDir` holds. */
export function simJobs(simDir: string): SimJobState[] {
  const jobs = path.join(simDir, 'jobs');
  if (!existsSync(jobs)) return [];
  return readdirSync(jobs)
    .filter((d) => existsSync(path.join(jobs, d, 'state.json')))
    .map((d) => JSON.parse(readFileSync(path.join(jobs, d, 'state.json'), 'utf8')) as SimJobState)
    .sort((a, b) => a.id - b.id);
}

/** Every pid the simulator in `simDir` started: runners and tasks. */
export function simPids(simDir: string): number[] {
  return simJobs(simDir).flatMap((j) => [...(j.runnerPid ? [j.runnerPid] : []), ...j.tasks.flatMap((t) => (t.pid ? [t.pid] : []))]);
}

/** A node command that runs until killed (and ignores SIGTERM when `stubborn`). */
export function sleeperCommand(stubborn = false): string[] {
  return [process.execPath, '-e', `${stubborn ? 'process.on("SIGTERM", () => {});' : ''}setInterval(() => {}, 1000)`, '--'];
}
