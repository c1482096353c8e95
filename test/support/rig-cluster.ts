/**
 * Helpers for clusters on the rig (test/support/rig.ts): the HPC `job` simulator's scheduler service on the
 * machine (so `job` run on `head` starts tasks on `node1`/`node2`), profiles in the shared directory, and a client
 * script run on a rig host.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hpcJobSimulatorCommand } from '../../src/testing/simulators.js';
import { tsclusterCommand } from './cli-run.js';
import { waitUntil } from './cluster.js';
import { collect, hostIp, rigScript, runOnHost, runSyncOnHost } from './rig.js';

/** The HPC scheduler service of the `job` simulator, running on the machine and reached from the rig's hosts. */
export interface HpcService {
  /** `ADDRESS:PORT`: give it to `job` as HPC_SIM_SERVICE. */
  address: string;
  /** The service process. */
  child: ChildProcess;
  /** Stop the service (by its pid) and wait for it. */
  stop(): Promise<void>;
}

/**
 * Start `job __serve` on the machine's rig address (`.1` of the rig's subnet): its runners start each task on a rig host through
 * `hosts.sh exec {host}`, round robin over `hosts` (task 0 of each job on the first).
 */
export async function startHpcService(simDir: string, hosts: readonly string[] = ['node1', 'node2']): Promise<HpcService> {
  const machineIp = hostIp('head').replace(/\.\d+$/, '.1');
  const [program, ...rest] = hpcJobSimulatorCommand();
  const child = spawn(program!, [...rest, '__serve', `${machineIp}:0`], {
    env: {
      ...process.env,
      HPC_SIM_DIR: simDir,
      HPC_SIM_HEADNODES: 'HEADNODE',
      HPC_SIM_GRACE_MS: '2000',
      TSPARALLEL_SIM_EXEC: `${rigScript('hosts.sh')} exec {host}`,
      TSPARALLEL_SIM_HOSTS: hosts.join(','),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitUntil(() => /listening \S+:\d+/.test(out) || child.exitCode !== null, 15_000, 'the HPC scheduler service listens');
  const m = /listening (\S+:\d+)/.exec(out);
  if (!m) throw new Error(`the HPC scheduler service did not start: ${out}`);
  return {
    address: m[1]!,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Write `TSPARALLEL_DIR/profile_NAME/tsparallel.config.mjs` with `config`; returns the profile directory. */
export async function writeProfile(root: string, name: string, config: unknown): Promise<string> {
  const dir = path.join(root, `profile_${name}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'tsparallel.config.mjs'), `export default ${JSON.stringify(config, null, 2)};\n`);
  return dir;
}

/** Send `signal` to the processes on `host` whose command line matches `pattern` (by their pids on that host). */
export function signalOnHost(host: string, pattern: string, signal: 'INT' | 'TERM' | 'KILL'): number[] {
  const r = runSyncOnHost(host, 'pgrep', ['-f', pattern]);
  const pids = r.stdout.split('\n').filter(Boolean);
  if (pids.length > 0) runSyncOnHost(host, 'kill', [`-${signal}`, ...pids]);
  return pids.map(Number);
}

/** A `tscluster start` running on a rig host (see {@link startClusterOnHost}). */
export interface ClusterOnHost {
  /** The tscluster process (on its host, through `hosts.sh exec`). */
  child: ChildProcess;
  /** Settles when it exits, with its code and output. */
  ended: ReturnType<typeof collect>;
  /** What it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** Ctrl-C: SIGINT to it on its host (it must be found there), then its end, within `withinMs`. */
  interrupt(withinMs: number): Promise<Awaited<ReturnType<typeof collect>>>;
}

/**
 * Run `tscluster start ARGS` on `host` and wait (up to `timeoutMs`) until it says the cluster is running; fails with
 * its output if it exits before.
 */
export async function startClusterOnHost(host: string, args: readonly string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<ClusterOnHost> {
  const [cmd, ...rest] = tsclusterCommand();
  const child = runOnHost(host, cmd!, [...rest, 'start', ...args], { env });
  const ended = collect(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitUntil(() => /is running/.test(out) || child.exitCode !== null, timeoutMs, `tscluster start on ${host} says the cluster is running`);
  assert.equal(child.exitCode, null, `tscluster start exited early: ${out}`);
  const interrupt = async (withinMs: number) => {
    assert.equal(signalOnHost(host, 'tscluster\\.js start', 'INT').length, 1, `tscluster found on ${host}`);
    const r = await Promise.race([ended, new Promise<null>((res) => setTimeout(() => res(null), withinMs).unref())]);
    assert.ok(r, `tscluster did not exit within ${withinMs} ms of Ctrl-C: ${out.slice(-1500)}`);
    return r;
  };
  return { child, ended, output: () => out, interrupt };
}
