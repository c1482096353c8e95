/**
 * The multi-host test rig (scripts/rig/): simulated hosts `head`, `node1`, `node2`, each a network, pid, UTS and
 * mount namespace with its own address on a private /24 bridge, plus sshd, Slurm and Open MPI on them.
 *
 * Tests that need the rig skip with a clear message when it is not up (bring it up with `npm run rig -- up`, as
 * root); under CI (CI=true), where .ci/run brings it up, a missing rig is an error instead.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './cluster.js';

/** The rig's state directory (scripts/rig/lib.sh: TSP_RIG_DIR). */
export const RIG_DIR = process.env.TSP_RIG_DIR ?? '/run/tsparallel-rig';
/** The directory every rig host sees: the cluster's shared file system (TSP_RIG_SHARED). */
export const RIG_SHARED = process.env.TSP_RIG_SHARED ?? '/srv/tsparallel-shared';
/** The rig's host names, in the order `hosts.sh up` creates them. */
export const RIG_HOSTS = ['head', 'node1', 'node2'] as const;
/** A rig host name. */
export type RigHost = (typeof RIG_HOSTS)[number];

/** What the rig has running, read from its state files (no process is started). */
export interface RigStatus {
  /** Whether every host's init process is alive. */
  up: boolean;
  /** Why it is not usable, when `up` is false. */
  reason?: string;
  /** Host name → address on the rig's /24. */
  ips: Record<string, string>;
}

/** The path of scripts/rig/SCRIPT. */
export function rigScript(script: 'hosts.sh' | 'sshd.sh' | 'slurm.sh' | 'mpi.sh' | 'all.sh'): string {
  return path.join(repoRoot(), 'scripts', 'rig', script);
}

function cmdlineOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Read the rig's state: are the hosts up, and their addresses. */
export function rigStatus(): RigStatus {
  const list = path.join(RIG_DIR, 'hosts', 'hosts.list');
  if (process.platform !== 'linux') return { up: false, reason: 'the rig needs Linux network namespaces', ips: {} };
  if (!existsSync(list)) return { up: false, reason: `the rig is not up (no ${list}; run \`npm run rig -- up\` as root)`, ips: {} };
  const ips: Record<string, string> = {};
  for (const line of readFileSync(list, 'utf8').split('\n')) {
    const [name, ip] = line.trim().split(/\s+/);
    if (name && ip) ips[name] = ip;
  }
  for (const host of RIG_HOSTS) {
    if (!ips[host]) return { up: false, reason: `the rig has no host ${host} (hosts: ${Object.keys(ips).join(' ')})`, ips };
    let pid = '';
    try {
      pid = readFileSync(path.join(RIG_DIR, 'hosts', `${host}.pid`), 'utf8').trim();
    } catch {
      /* reported below */
    }
    if (!cmdlineOf(pid).includes(`tsparallel-rig-host:${host}`)) {
      return { up: false, reason: `rig host ${host} is down (its init is gone; run \`npm run rig -- down\` then \`up\`)`, ips };
    }
  }
  return { up: true, ips };
}

function pidFromFile(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Whether sshd answers on every rig host (pid files present and the processes are sshd). */
export function sshdAvailable(): boolean {
  if (!rigStatus().up) return false;
  return RIG_HOSTS.every((h) => {
    const pid = pidFromFile(path.join(RIG_DIR, 'ssh', `sshd.${h}.pid`));
    return pid !== '' && runSyncOnHost(h, 'grep', ['-q', 'sshd', `/proc/${pid}/cmdline`]).status === 0;
  }) && existsSync(sshConfigPath());
}

/** Whether the rig's Slurm cluster answers (`scontrol ping` from the machine). */
export function slurmAvailable(): boolean {
  if (!rigStatus().up) return false;
  const r = spawnSync('scontrol', ['ping'], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 && /UP/.test(r.stdout);
}

/** Whether Open MPI's mpiexec is installed (nothing needs to run for it). */
export function mpiAvailable(): boolean {
  return spawnSync('mpiexec', ['--version'], { encoding: 'utf8', timeout: 10_000 }).status === 0;
}

/** What a test needs from the rig. */
export type RigFeature = 'hosts' | 'sshd' | 'slurm' | 'mpi';

/**
 * The skip reason for a test needing these rig features, or false when they are all there.
 * @throws Error under CI=true when one is missing: .ci/run brings the rig up, so CI must not skip.
 */
export function requireRig(...features: RigFeature[]): string | false {
  let reason: string | false = false;
  const status = rigStatus();
  if (!status.up) reason = status.reason ?? 'the rig is not up';
  else if (features.includes('sshd') && !sshdAvailable()) reason = 'sshd is not running on the rig hosts (run `npm run rig -- up` as root)';
  else if (features.includes('slurm') && !slurmAvailable()) reason = 'Slurm is not running on the rig (run `npm run rig -- up` as root)';
  else if (features.includes('mpi') && !mpiAvailable()) reason = 'Open MPI is not installed (scripts/rig/mpi.sh install)';
  if (reason === false) return false;
  if (process.env.CI === 'true') throw new Error(`${reason}: .ci/run brings the rig up, so CI must not skip these tests`);
  return reason;
}

/** The address of a rig host on the rig's /24. @throws Error when the rig is not up. */
export function hostIp(host: string): string {
  const ip = rigStatus().ips[host];
  if (!ip) throw new Error(`no rig host ${host}: is the rig up? (npm run rig -- up)`);
  return ip;
}

/** The ssh client config the rig writes (`ssh -F <this> node1 …` works from the machine and from every host). */
export function sshConfigPath(): string {
  return path.join(RIG_DIR, 'ssh', 'config');
}

/** Environment for Open MPI on the rig (as printed by `scripts/rig/mpi.sh env`). */
export function mpiEnv(): NodeJS.ProcessEnv {
  return {
    OMPI_ALLOW_RUN_AS_ROOT: '1',
    OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
    OMPI_MCA_plm_rsh_agent: `ssh -F ${sshConfigPath()}`,
    OMPI_MCA_oob_tcp_if_include: subnet(),
    OMPI_MCA_btl_tcp_if_include: subnet(),
    OMPI_MCA_rmaps_base_oversubscribe: '1',
    FORCE_COLOR: '0',
  };
}

/** The rig's subnet in CIDR form, from head's address. */
export function subnet(): string {
  return hostIp('head').replace(/\.\d+$/, '.0/24');
}

const tracked = new Set<ChildProcess>();

/**
 * Start `cmd args` on a rig host (its own network, pid, UTS and mount namespaces; cwd kept, default the shared
 * directory). The returned child's pid is the machine-side `nsenter`: killing it SIGTERMs the command on the host.
 * Every child is tracked; {@link stopRigProcesses} kills those still running.
 */
export function runOnHost(host: string, cmd: string, args: readonly string[] = [], opts: SpawnOptions = {}): ChildProcess {
  const cwd = (opts.cwd as string | undefined) ?? RIG_SHARED;
  const child = spawn(rigScript('hosts.sh'), ['exec', host, cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...opts,
    cwd,
    env: { ...process.env, ...opts.env, PWD: cwd },
  });
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  return child;
}

/** Run a command on a rig host to completion (synchronously). */
export function runSyncOnHost(host: string, cmd: string, args: readonly string[] = [], timeoutMs = 30_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(rigScript('hosts.sh'), ['exec', host, cmd, ...args], {
    cwd: RIG_SHARED,
    env: { ...process.env, PWD: RIG_SHARED },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Collect a child's stdout and stderr and wait for its exit. */
export function collect(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr });
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Kill (SIGTERM, then SIGKILL) every {@link runOnHost} child still running, by pid, and wait for them. */
export async function stopRigProcesses(): Promise<void> {
  const live = [...tracked];
  for (const c of live) c.kill('SIGTERM');
  await Promise.all(
    live.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => c.kill('SIGKILL'), 5000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
        }),
    ),
  );
}

/**
 * Pids (as the host sees them) of processes on a rig host whose full command line matches `pattern` (pgrep -f
 * syntax). The host's own init and the pgrep itself are never listed. Use it to assert nothing is left on a host.
 */
export function pidsOnHost(host: string, pattern: string): number[] {
  const r = runSyncOnHost(host, 'pgrep', ['-f', pattern]);
  if (r.status !== 0 && r.status !== 1) throw new Error(`pgrep on ${host} failed (${r.status}): ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

/** Pids matching `pattern` on every rig host, keyed by host (only hosts with matches). */
export function pidsOnAllHosts(pattern: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const h of RIG_HOSTS) {
    const pids = pidsOnHost(h, pattern);
    if (pids.length > 0) out[h] = pids;
  }
  return out;
}

/**
 * Plug (`up`) or unplug (`down`) a host's cable: with it down, the host's packets are dropped. Returns when the cable
 * changed (ms since the epoch, as the script saw it): on a loaded machine the script itself can take seconds, so time
 * a fault from this, not from before the call.
 */
export function setLink(host: string, state: 'up' | 'down'): number {
  const r = spawnSync(rigScript('hosts.sh'), ['link', host, state], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`hosts.sh link ${host} ${state} failed: ${r.stderr}`);
  const at = / at (\d+(?:\.\d+)?)\s*$/.exec(r.stdout);
  return at ? Math.round(Number(at[1]) * 1000) : Date.now();
}
