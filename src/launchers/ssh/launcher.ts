/**
 * The `ssh` launcher: engines (or the controller) on other hosts over OpenSSH. One master connection per host
 * (ControlMaster, its socket in a private 0700 directory) carries every session; connection info goes through each
 * session's standard input, never a command line; a small remote wrapper reports the engine's pid and its real
 * exit code, and ends the engine's process tree when the session ends.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import debug from 'debug';
import { z } from 'zod';
import { defineLauncher, type EngineControl, type EngineRef, type ExitInfo, type Launcher, type LauncherContext, type LauncherState } from '../../core/launcher.js';
import { LauncherError } from '../../core/errors.js';
import { withClusterId } from '../../util/cluster-files.js';
import { tailOf } from '../../util/files.js';
import { addListener } from '../../util/listeners.js';
import { MARKER, MASTER_SCRIPT, parseProbe, parseSshHost, probeScript, remoteCommand, wrapperScript, type ProbeResult, type SshDestination } from './remote.js';

const log = debug('tsparallel:launcher:ssh');

/** What one host of `launchers.ssh.hosts` runs, in its long form. */
export const sshHostOptions = z.strictObject({
  /** How many engines at most on this host. */
  n: z.number().int().positive(),
  /** The engine command there (default: `launchers.ssh.command`, else this installation's `node …/tsengine.js`). */
  command: z.array(z.string().min(1)).min(1).optional(),
  /** Environment variables set there (not secret: they are part of the remote command). */
  env: z.record(z.string(), z.string()).default({}),
  /** Shell code run before the engine starts, e.g. `source ~/venv/bin/activate`; the engine then replaces that shell. */
  setup: z.string().optional(),
  /** The profile directory there (absolute): the engines' working directory, and where exit codes are recorded. */
  profileDir: z.string().startsWith('/', 'must be an absolute path').optional(),
});

/** One host of `launchers.ssh.hosts`, in its long form. */
export type SshHostOptions = z.infer<typeof sshHostOptions>;

/** Options of the ssh launcher (`launchers.ssh` in config). */
export const sshOptions = z.strictObject({
  /**
   * The hosts and how many engines each takes at most, in the order they are filled:
   * `{ 'node1': 2, 'user@node2:2222': { n: 3, setup: 'source ~/venv/bin/activate' } }`.
   */
  hosts: z.record(z.string().min(1), z.union([z.number().int().positive(), sshHostOptions])).default({}),
  /** The host the controller runs on, when `controller.launcher` is `ssh` (needs `sharedFilesystem`). */
  controllerHost: z.string().min(1).optional(),
  /** The ssh program (default `ssh`). */
  ssh: z.array(z.string().min(1)).min(1).default(['ssh']),
  /** More ssh arguments, before the destination: `['-o', 'ProxyJump=gateway']`. */
  sshArgs: z.array(z.string()).default([]),
  /** An ssh config file (`ssh -F FILE`): host aliases, users, ports, keys. */
  sshConfig: z.string().optional(),
  /** A private key file (`ssh -i FILE`, with IdentitiesOnly). */
  identityFile: z.string().optional(),
  /** The engine command on every host (default: this installation's `node …/tsengine.js`, which needs the same path there). */
  command: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Whether the hosts see this host's profile directory at the same path (NFS). Then it is their working
   * directory too, and the controller can run on `controllerHost`. Otherwise each host gets
   * `$HOME/.tsparallel/<profile folder>` resolved there (or its `profileDir`); connection info needs no file anyway.
   */
  sharedFilesystem: z.boolean().default(false),
  /** How long ssh may take to connect, in seconds. */
  connectTimeoutSeconds: z.number().int().positive().default(10),
  /** How long an engine gets to exit after SIGTERM before SIGKILL, in ms. */
  graceMs: z.number().int().nonnegative().default(5000),
});

/** Options of the ssh launcher, parsed. */
export type SshOptions = z.infer<typeof sshOptions>;

/** A host in use: where it is, what runs there, its master connection and what the probe found. */
interface SshHost {
  dest: SshDestination;
  spec: SshHostOptions;
  controlPath: string;
  master?: ChildProcess;
  /** Resolves once the master has exited. */
  masterExited?: Promise<number | null>;
  masterStderr: string;
  probe?: ProbeResult;
  workDir?: string;
}

/** One remote process: its local ssh session and what the wrapper reported. */
interface Session {
  host: SshHost;
  child: ChildProcess;
  remotePid?: number;
  remoteGroup?: number;
  /** The real exit code the wrapper reported. */
  remoteCode?: number;
  exited: Promise<ExitInfo>;
  started: Promise<void>;
}

/** How many processes one host gets (see {@link SshLauncher.plan}). */
export interface SshPlacement {
  /** The host, as `launchers.ssh.hosts` names it. */
  host: string;
  /** How many processes it gets. */
  count: number;
}

/** One remote process of an ssh launcher (see {@link SshLauncher.remote}). */
export interface SshRemoteProcess {
  /** The host, as `launchers.ssh.hosts` names it. */
  host: string;
  /** Its pid there, once the wrapper reported it. */
  pid?: number;
  /** Its exit code, once it ended. */
  code?: number;
}

/** Starts engines (or the controller) on other hosts over ssh. */
export class SshLauncher implements Launcher {
  readonly name = 'ssh';
  #state: LauncherState = 'idle';
  readonly #hosts = new Map<string, SshHost>();
  readonly #sessions: Session[] = [];
  readonly #exitHandlers: ((info: ExitInfo) => void)[] = [];
  #controlDir?: string;
  #seq = 0;

  constructor(
    private readonly context: LauncherContext,
    private readonly options: SshOptions,
  ) {}

  get state(): LauncherState {
    return this.#state;
  }
  /** The local ssh processes: master connections and sessions (ending a session ends its remote process). */
  get pids(): number[] {
    const masters = [...this.#hosts.values()].flatMap((h) => (h.master?.pid ? [h.master.pid] : []));
    return [...masters, ...this.#sessions.flatMap((s) => (s.child.pid ? [s.child.pid] : []))];
  }
  get jobIds(): string[] {
    return [];
  }
  /** The remote processes: host, pid there and the exit code once known. */
  get remote(): SshRemoteProcess[] {
    return this.#sessions.map((s) => ({ host: s.host.dest.name, pid: s.remotePid, code: s.remoteCode }));
  }

  /** Which hosts the `n` processes go to, filling the hosts in order up to each one's `n`. */
  plan(): SshPlacement[] {
    const { role, n } = this.context;
    if (role === 'controller') {
      const host = this.options.controllerHost;
      if (!host) throw new LauncherError(`controller.launcher is 'ssh' but launchers.ssh.controllerHost is not set: name the host the controller runs on`);
      if (!this.options.sharedFilesystem) {
        throw new LauncherError(
          `a controller on ssh host '${host}' writes the connection files into the profile directory, which this host must see: ` +
            `set launchers.ssh.sharedFilesystem to true (a shared file system), or run the controller here (controller.launcher 'local')`,
        );
      }
      return [{ host, count: 1 }];
    }
    const plan: SshPlacement[] = [];
    let left = n;
    for (const [host, spec] of Object.entries(this.options.hosts)) {
      if (left <= 0) break;
      const count = Math.min(left, typeof spec === 'number' ? spec : spec.n);
      plan.push({ host, count });
      left -= count;
    }
    if (left > 0) {
      const capacity = n - left;
      throw new LauncherError(
        `${n} engines were asked for, but launchers.ssh.hosts take at most ${capacity}` +
          `${capacity ? ` (${plan.map((p) => `${p.host}: ${p.count}`).join(', ')})` : ' (no hosts are configured)'}: add hosts or raise their n`,
      );
    }
    return plan;
  }

  async start(): Promise<void> {
    if (this.context.detached) {
      throw new LauncherError(`the ssh launcher keeps one ssh session per remote process, so it cannot start a detached cluster: use \`tscluster start --daemonize\` instead`);
    }
    this.#state = 'starting';
    const plan = this.plan();
    this.#controlDir ??= await mkdtemp(path.join(tmpdir(), 'tsp-ssh-'));
    // mkdtemp makes the directory 0700: nobody else can reach the master sockets.
    await Promise.all(plan.map(({ host }) => this.#connect(host)));
    const starts: Promise<Session>[] = [];
    for (const { host, count } of plan) for (let i = 0; i < count; i++) starts.push(this.#startOne(this.#hosts.get(host)!, []));
    await Promise.all(starts);
    this.#state = 'running';
  }

  /** The ssh arguments every connection to `host` shares. */
  #sshArgs(host: SshHost): string[] {
    return [...sshBaseArgs(this.options, host.dest), '-o', `ControlPath=${host.controlPath}`];
  }

  /** Open the host's master connection and probe it (home, Node version, host name), once. */
  async #connect(name: string): Promise<SshHost> {
    const existing = this.#hosts.get(name);
    if (existing?.probe) return existing;
    const raw = this.context.role === 'controller' ? this.options.hosts[name] ?? 1 : this.options.hosts[name]!;
    const spec: SshHostOptions = typeof raw === 'number' ? { n: raw, env: {} } : raw;
    const host: SshHost = { dest: parseSshHost(name), spec, controlPath: path.join(this.#controlDir!, String(this.#hosts.size)), masterStderr: '' };
    this.#hosts.set(name, host);
    const [program, ...pre] = this.options.ssh;
    // Not `-N`: a master whose standard input closes when this process is gone (see MASTER_SCRIPT).
    const master = spawn(program!, [...pre, ...this.#sshArgs(host), '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-T', host.dest.destination, remoteCommand(MASTER_SCRIPT)], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    master.stdin!.on('error', () => {});
    host.master = master;
    master.stderr!.on('data', (d: Buffer) => (host.masterStderr += d.toString()));
    const masterExit = (host.masterExited = new Promise<number | null>((resolve) => master.once('exit', (code) => resolve(code))));
    master.once('error', (err) => (host.masterStderr += err.message));
    // Ready once `ssh -O check` answers through the socket; failed when the master exits first.
    for (;;) {
      const exited = await Promise.race([masterExit, new Promise<undefined>((r) => setTimeout(r, 100, undefined))]);
      if (exited !== undefined) {
        throw new LauncherError(`cannot connect to ssh host '${name}' (${host.dest.destination}${host.dest.port ? ' port ' + host.dest.port : ''}): ${host.masterStderr.trim() || `ssh exited with code ${exited}`}`, {
          exitCode: exited,
          stderrTail: host.masterStderr,
        });
      }
      if ((await this.#exec(host, ['-O', 'check'])).code === 0) break;
    }
    log('master connection to %s is up (pid %d)', name, master.pid);
    const node = this.#nodeProgram(host);
    const probe = await this.#exec(host, ['-T', host.dest.destination, remoteCommand(probeScript(spec.setup, node))]);
    host.probe = parseProbe(name, node, probe);
    const workDir = spec.profileDir ?? (this.options.sharedFilesystem ? this.context.profileDir : path.posix.join(host.probe.home, '.tsparallel', path.basename(this.context.profileDir)));
    if (!workDir.startsWith('/')) {
      throw new LauncherError(`the profile directory on ssh host '${name}' resolved to '${workDir}', which is not absolute: set launchers.ssh.hosts['${name}'].profileDir`);
    }
    host.workDir = workDir;
    log('%s: Node %s, host name %s, profile directory %s', name, host.probe.node, host.probe.hostname, workDir);
    return host;
  }

  /** The node program a host runs: its command's first word when that is node, else `node` on its PATH. */
  #nodeProgram(host: SshHost): string {
    const first = this.#command(host)[0]!;
    return /^node(js)?(\.exe)?$/.test(path.basename(first)) ? first : 'node';
  }

  #command(host: SshHost): string[] {
    return [...(host.spec.command ?? this.options.command ?? this.context.program)];
  }

  /** Run ssh once through the host's master connection and collect its output. */
  #exec(host: SshHost, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const [program, ...pre] = this.options.ssh;
    return new Promise((resolve) => {
      const child = spawn(program!, [...pre, ...this.#sshArgs(host), '-o', 'ControlMaster=no', ...(args[0] === '-O' ? [...args, host.dest.destination] : args)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', (err) => resolve({ code: null, stdout, stderr: stderr + err.message }));
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Start one process on `host` through its master connection; resolves once the wrapper reported its pid. */
  async #startOne(host: SshHost, extraArgs: readonly string[]): Promise<Session> {
    const { role, args, env, profileDir, clusterId } = this.context;
    const tag = `${role === 'controller' ? 'controller' : 'engine'}-${process.pid}-${Date.now()}-${this.#seq++}`;
    const secretNames = Object.keys(env);
    for (const [k, v] of Object.entries(env)) {
      if (v.includes('\n')) throw new LauncherError(`the ssh launcher passes ${k} on one line of standard input, but its value holds a line break`);
    }
    const script = wrapperScript({
      secretEnv: secretNames,
      env: host.spec.env,
      setup: host.spec.setup,
      command: [...this.#command(host), ...args, ...extraArgs],
      workDir: host.workDir!,
      exitFile: path.posix.join(host.workDir!, 'log', `${withClusterId('ssh', clusterId)}-${tag}.exit`),
      graceSeconds: this.options.graceMs / 1000,
    });
    const logFile = path.join(profileDir, 'log', `${withClusterId('ssh', clusterId)}-${host.dest.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${tag}.log`);
    const fd = openSync(logFile, 'a');
    const [program, ...pre] = this.options.ssh;
    let child: ChildProcess;
    try {
      child = spawn(program!, [...pre, ...this.#sshArgs(host), '-o', 'ControlMaster=no', '-T', host.dest.destination, remoteCommand(script)], {
        stdio: ['pipe', 'pipe', fd],
      });
    } finally {
      closeSync(fd);
    }
    // The secrets go on the session's standard input; it then stays open: closing it stops the remote process.
    child.stdin!.on('error', () => {});
    child.stdin!.write(secretNames.map((k) => env[k] + '\n').join(''));
    let resolveStarted!: () => void;
    let rejectStarted!: (err: Error) => void;
    const started = new Promise<void>((res, rej) => ((resolveStarted = res), (rejectStarted = rej)));
    const session: Session = { host, child, started, exited: undefined as unknown as Promise<ExitInfo> };
    let buffered = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        const [marker, a, b] = line.split(' ');
        if (marker === MARKER.started) {
          session.remotePid = Number(a);
          session.remoteGroup = Number(b);
          resolveStarted();
        } else if (marker === MARKER.exit) session.remoteCode = Number(a);
      }
    });
    session.exited = new Promise<ExitInfo>((resolve) => {
      child.once('error', (err) => rejectStarted(new LauncherError(`cannot run ${program}: ${err.message}`, { cause: err })));
      child.once('close', async (code, signal) => {
        const stderrTail = await tailOf(logFile);
        const where = `${host.dest.name}:${session.remotePid ?? '?'}`;
        let info: ExitInfo;
        if (session.remoteCode !== undefined) {
          // The wrapper's `$?`: 128+N means signal N ended the process.
          const c = session.remoteCode;
          info = c > 128 && c < 160 ? { id: where, code: null, signal: signalName(c - 128), stderrTail } : { id: where, code: c, signal: null, stderrTail };
        } else {
          info = { id: where, code, signal, stderrTail: stderrTail || `ssh to '${host.dest.name}' ended (code ${code}) before the remote process reported its exit code` };
        }
        rejectStarted(new LauncherError(`the ${role} on ssh host '${host.dest.name}' ended before it started: ${info.stderrTail ?? ''}`, { exitCode: info.code, stderrTail: info.stderrTail }));
        log('%s ended (code %s, signal %s)', where, info.code, info.signal);
        resolve(info);
        [...this.#exitHandlers].forEach((h) => h(info));
      });
    });
    this.#sessions.push(session);
    await started;
    log('%s started on %s: remote pid %d', role, host.dest.name, session.remotePid);
    return session;
  }

  /**
   * End one session: close its standard input (the wrapper then sends SIGTERM, and SIGKILL after the grace
   * period); if the remote has not answered after that, kill its process group through the master connection,
   * then the local ssh.
   */
  async #stopSession(session: Session, graceMs: number): Promise<void> {
    if (session.child.exitCode !== null || session.child.signalCode !== null) return void (await session.exited);
    session.child.stdin!.end();
    const timer = setTimeout(async () => {
      if (session.remoteGroup) await this.#exec(session.host, ['-T', session.host.dest.destination, `kill -KILL -${session.remoteGroup} ${session.remotePid ?? ''} 2>/dev/null`]);
      session.child.kill('SIGKILL');
    }, graceMs + 5000);
    await session.exited;
    clearTimeout(timer);
  }

  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    const graceMs = options.graceMs ?? this.options.graceMs;
    await Promise.all(this.#sessions.map((s) => this.#stopSession(s, graceMs)));
    for (const host of this.#hosts.values()) {
      if (host.master && host.master.exitCode === null && host.master.signalCode === null) {
        host.master.stdin!.end();
        await this.#exec(host, ['-O', 'exit']);
        if (host.master.exitCode === null && host.master.signalCode === null) host.master.kill('SIGTERM');
      }
      await host.masterExited;
    }
    if (this.#controlDir) await rm(this.#controlDir, { recursive: true, force: true });
  }

  async signal(signal: NodeJS.Signals): Promise<void> {
    await Promise.all(this.#sessions.filter((s) => s.child.exitCode === null && s.remotePid).map((s) => this.#signalRemote(s, signal)));
  }

  async #signalRemote(session: Session, signal: NodeJS.Signals): Promise<void> {
    const result = await this.#exec(session.host, ['-T', session.host.dest.destination, `kill -${signal.replace(/^SIG/, '')} ${session.remotePid}`]);
    if (result.code !== 0) {
      throw new LauncherError(`cannot send ${signal} to pid ${session.remotePid} on ssh host '${session.host.dest.name}': ${result.stderr.trim() || `exit ${result.code}`}`);
    }
  }

  onExit(handler: (info: ExitInfo) => void): () => void {
    return addListener(this.#exitHandlers, handler);
  }

  /** One remote engine, found by its pid and host name as it registered. */
  readonly engineControl: EngineControl = {
    owns: (engine) => this.#find(engine) !== undefined,
    signal: (engine, signal) => this.#signalRemote(this.#get(engine), signal),
    stop: (engine, options = {}) => this.#stopSession(this.#get(engine), options.graceMs ?? this.options.graceMs),
    startReplacement: async (engine) => {
      const host = this.#get(engine, true).host;
      await this.#startOne(host, ['--engine-id', String(engine.id)]);
    },
  };

  #find(engine: EngineRef, ended = false): Session | undefined {
    if (this.context.role !== 'engines') return undefined;
    return [...this.#sessions].reverse().find(
      (s) => s.remotePid === engine.pid && s.host.probe?.hostname === engine.hostname && (ended || s.child.exitCode === null),
    );
  }

  #get(engine: EngineRef, ended = false): Session {
    const session = this.#find(engine, ended);
    if (!session) throw new LauncherError(`engine ${engine.id} (pid ${engine.pid} on ${engine.hostname}) is not one the ssh launcher runs`);
    return session;
  }
}

/** The ssh arguments every connection to `dest` takes from the options: batch mode, timeout, config file, key, port. */
function sshBaseArgs(o: SshOptions, dest: SshDestination): string[] {
  return [
    '-o', 'BatchMode=yes',
    '-o', `ConnectTimeout=${o.connectTimeoutSeconds}`,
    ...(o.sshConfig ? ['-F', o.sshConfig] : []),
    ...(o.identityFile ? ['-i', o.identityFile, '-o', 'IdentitiesOnly=yes'] : []),
    ...(dest.port ? ['-p', String(dest.port)] : []),
    ...o.sshArgs,
  ];
}

/**
 * Check one host of `launchers.ssh` the way the launcher would use it (one ssh login, the host's setup, its node):
 * resolves with its Node version and host name (what `tscluster doctor` reports).
 * @throws LauncherError naming the host and ssh's message when it cannot be reached, or the Node version when it is
 *   older than 20.
 */
export async function checkSshHost(rawOptions: unknown, name: string): Promise<ProbeResult> {
  const options = sshOptions.parse(rawOptions ?? {});
  const dest = parseSshHost(name);
  const raw = options.hosts[name] ?? 1;
  const spec: SshHostOptions = typeof raw === 'number' ? { n: raw, env: {} } : raw;
  const first = (spec.command ?? options.command)?.[0] ?? process.execPath;
  const node = /^node(js)?(\.exe)?$/.test(path.basename(first)) ? first : 'node';
  const [program, ...pre] = options.ssh;
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(program!, [...pre, ...sshBaseArgs(options, dest), '-T', dest.destination, remoteCommand(probeScript(spec.setup, node))], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => resolve({ code: null, stdout, stderr: stderr + err.message }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  if (result.code === 255 || (result.code === null && !result.stdout)) {
    throw new LauncherError(`cannot connect to ssh host '${name}': ${result.stderr.trim() || `ssh exited with code ${result.code}`}`, { exitCode: result.code, stderrTail: result.stderr });
  }
  return parseProbe(name, node, result);
}

/** The name of signal number `n` (`9` → `SIGKILL`), or `SIG<n>` when unknown. */
function signalName(n: number): string {
  const known: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 10: 'SIGUSR1', 11: 'SIGSEGV', 12: 'SIGUSR2', 13: 'SIGPIPE', 14: 'SIGALRM', 15: 'SIGTERM' };
  return known[n] ?? `SIG${n}`;
}

/** The `ssh` launcher plugin. */
export const sshLauncher = defineLauncher({
  name: 'ssh',
  description: 'engines (or the controller) on other hosts over OpenSSH, one master connection per host',
  options: sshOptions,
  placesRemotely: true,
  create: (context, options) => new SshLauncher(context, options),
});

