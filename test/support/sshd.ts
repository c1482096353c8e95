/**
 * A real OpenSSH server for tests, on 127.0.0.1 and a free port, owned by the test: generated host and client keys
 * in a temporary directory, a generated sshd_config (key login only, no PAM, PidFile in that directory), and an ssh
 * config file with host aliases (`node1`, `node2`, …) that all reach it, with strict host key checking against a
 * generated known_hosts. sshd runs in the foreground (`-D`) as the test's child and is stopped by its pid.
 *
 * The ssh launcher's tests take an {@link SshTarget}: this server, or the rig's hosts in network namespaces.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { requireTool } from './requirements.js';

/** Where ssh tests run their engines: host aliases and the ssh config file that defines them. */
export interface SshTarget {
  /** Host aliases defined in {@link sshConfig}, e.g. `['node1', 'node2']`. */
  hosts: string[];
  /** The ssh config file (`ssh -F`). */
  sshConfig: string;
  /** An alias in that config that points at a port where nothing listens (for the refused-host test), when there is one. */
  refusedHost?: string;
  /** Stop what the target started (sshd by pid) and remove its files. */
  close(): Promise<void>;
}

/** The sshd binary, where Debian puts it. */
export const SSHD = '/usr/sbin/sshd';

/** The skip reason when sshd or ssh-keygen is missing (an error under CI=true). */
export function sshdSkip(): string | false {
  const present = existsSync(SSHD) && commandExists('ssh') && commandExists('ssh-keygen');
  return requireTool('sshd', present, 'apt-get install openssh-server openssh-client');
}

function commandExists(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Start sshd on 127.0.0.1 with a generated configuration, and write an ssh config where each of `aliases`
 * reaches it. Resolves once a login works.
 */
export async function startTestSshd(aliases: readonly string[] = ['node1', 'node2']): Promise<SshTarget & { pid: number; port: number; dir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tsp-sshd-'));
  const keygen = (file: string, comment: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file]);
  keygen(path.join(dir, 'host_ed25519'), 'tsparallel-test-host');
  keygen(path.join(dir, 'id_ed25519'), 'tsparallel-test-client');
  await writeFile(path.join(dir, 'authorized_keys'), await readFile(path.join(dir, 'id_ed25519.pub')), { mode: 0o600 });
  const hostKey = (await readFile(path.join(dir, 'host_ed25519.pub'), 'utf8')).split(' ').slice(0, 2).join(' ');
  await writeFile(path.join(dir, 'known_hosts'), `tsparallel-test-sshd ${hostKey}\n`);
  // sshd's privilege separation directory (Debian's default; absent until the package's service first runs).
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const port = await freePort();
  const user = userInfo().username;
  await writeFile(
    path.join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${path.join(dir, 'host_ed25519')}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'UseDNS no',
      'StrictModes no',
      'PrintMotd no',
      'X11Forwarding no',
      'MaxSessions 100',
      'MaxStartups 100:30:200',
      `AllowUsers ${user}`,
      '',
    ].join('\n'),
  );
  const refusedPort = await freePort();
  const hostBlock = (names: string, p: number) => [
    `Host ${names}`,
    '  HostName 127.0.0.1',
    `  Port ${p}`,
    `  User ${user}`,
    `  IdentityFile ${path.join(dir, 'id_ed25519')}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${path.join(dir, 'known_hosts')}`,
    '  GlobalKnownHostsFile /dev/null',
    '  HostKeyAlias tsparallel-test-sshd',
    '  StrictHostKeyChecking yes',
    '  BatchMode yes',
    '  LogLevel ERROR',
  ];
  await writeFile(path.join(dir, 'ssh_config'), [...hostBlock(aliases.join(' '), port), ...hostBlock('refused', refusedPort), ''].join('\n'));

  const sshd: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', path.join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => sshd.once('exit', () => resolve()));
  const close = async () => {
    if (sshd.exitCode === null && sshd.signalCode === null) {
      // Sessions still open are served by sshd's children, which outlive the listener: end them first, by pid.
      for (const pid of childrenOf(sshd.pid!)) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
      sshd.kill('SIGTERM');
      const timer = setTimeout(() => sshd.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (sshd.exitCode !== null) {
      await close();
      throw new Error(`sshd exited at once: ${log}`);
    }
    try {
      execFileSync('ssh', ['-F', path.join(dir, 'ssh_config'), aliases[0]!, 'true'], { stdio: 'pipe', timeout: 10_000 });
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await close();
        throw new Error(`ssh to the test sshd does not work: ${(err as { stderr?: Buffer }).stderr?.toString() ?? err}\nsshd said: ${log}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { hosts: [...aliases], sshConfig: path.join(dir, 'ssh_config'), refusedHost: 'refused', close, pid: sshd.pid!, port, dir };
}

/** The pids of a process's children (Linux /proc). */
function childrenOf(pid: number): number[] {
  try {
    const text = execFileSync('cat', [`/proc/${pid}/task/${pid}/children`]).toString().trim();
    return text ? text.split(/\s+/).map(Number) : [];
  } catch {
    return [];
  }
}
