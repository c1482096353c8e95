/**
 * What the ssh launcher runs on a remote host: shell quoting, host specs, the engine wrapper script and the
 * pre-flight probe. Pure functions, so they are tested without ssh.
 * @module
 */
import path from 'node:path';
import { LauncherError } from '../../core/errors.js';

/** Quote one word for a POSIX shell (single quotes; a quote inside becomes `'\''`). */
export function shQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** An ssh destination parsed from a `launchers.ssh.hosts` key: `node1`, `user@node2`, `user@node2:2222`, `[::1]:22`. */
export interface SshDestination {
  /** The key as written in config (how errors name the host). */
  name: string;
  /** What ssh gets as its destination: `user@host` or `host`. */
  destination: string;
  /** The port, when the key names one. */
  port?: number;
}

/** Parse a host key of `launchers.ssh.hosts`. @throws LauncherError for a bad port. */
export function parseSshHost(key: string): SshDestination {
  const bracketed = /^(?:([^@]+)@)?\[([^\]]+)\](?::(\d+))?$/.exec(key);
  if (bracketed) {
    const [, user, host, port] = bracketed;
    return { name: key, destination: user ? `${user}@${host}` : host!, port: port ? portOf(key, port) : undefined };
  }
  const match = /^(.*?)(?::(\d+))?$/.exec(key)!;
  const [, dest, port] = match;
  if (!dest || /\s/.test(dest)) throw new LauncherError(`launchers.ssh.hosts: '${key}' is not an ssh host (write 'host', 'user@host' or 'user@host:port')`);
  return { name: key, destination: dest, port: port ? portOf(key, port) : undefined };
}

function portOf(key: string, text: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new LauncherError(`launchers.ssh.hosts: '${key}' has a bad port ${text}`);
  return port;
}

/** The marker lines the wrapper writes on its standard output. */
export const MARKER = { started: 'TSPARALLEL_STARTED', exit: 'TSPARALLEL_EXIT' } as const;

/** What the engine wrapper needs. */
export interface WrapperSpec {
  /** Names of the variables whose values come on standard input, one line each, in this order (never on a command line). */
  secretEnv: readonly string[];
  /** Variables set from config (not secret), e.g. the host's `env`. */
  env: Readonly<Record<string, string>>;
  /** Shell code run before the command (`source ~/venv/bin/activate`), in the same shell the command replaces. */
  setup?: string;
  /** The command to start: it replaces the setup shell (`exec`), so its pid is the one reported. */
  command: readonly string[];
  /** The remote working directory (absolute); created when missing. */
  workDir: string;
  /** Where the wrapper records the exit code (absolute file path on the remote). */
  exitFile: string;
  /** Seconds between SIGTERM and SIGKILL when the session ends. */
  graceSeconds: number;
}

/**
 * The remote command of one engine (or controller) session: a POSIX sh script that
 * 1. reads the secret variables from standard input (so they never show in a process list),
 * 2. starts `setup; exec COMMAND` in a subshell (the pid it reports is the command's, its output goes to stderr),
 * 3. reports `TSPARALLEL_STARTED <pid> <process group>` on stdout,
 * 4. watches standard input: when it ends (the launcher stops the engine, or the ssh client is gone), sends the
 *    command SIGTERM, then SIGKILL after the grace period,
 * 5. waits, writes the real exit code to `exitFile` and as `TSPARALLEL_EXIT <code>` on stdout, and kills what is
 *    left of its process group (whatever the command started).
 */
export function wrapperScript(spec: WrapperSpec): string {
  for (const name of [...spec.secretEnv, ...Object.keys(spec.env)]) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new LauncherError(`'${name}' is not a valid environment variable name`);
  }
  const lines = [
    'umask 077',
    'exec 3<&0',
    ...spec.secretEnv.map((name) => `IFS= read -r ${name} || exit 96; export ${name}`),
    ...Object.entries(spec.env).map(([k, v]) => `${k}=${shQuote(v)}; export ${k}`),
    `mkdir -p ${shQuote(spec.workDir)} ${shQuote(path.posix.dirname(spec.exitFile))} && cd ${shQuote(spec.workDir)} || exit 97`,
    `( ${spec.setup ? `${spec.setup}\n` : ''}exec ${spec.command.map(shQuote).join(' ')} </dev/null 1>&2 3<&- ) &`,
    'pid=$!',
    `echo "${MARKER.started} $pid $$"`,
    // An asynchronous list reads /dev/null unless told otherwise: the watcher gets the session's stdin as fd 3.
    `( while IFS= read -r _l; do :; done; kill -TERM $pid 2>/dev/null; i=0; ` +
      `while kill -0 $pid 2>/dev/null && [ $i -lt ${Math.max(1, Math.ceil(spec.graceSeconds * 10))} ]; do sleep 0.1; i=$((i+1)); done; ` +
      `kill -KILL $pid 2>/dev/null ) <&3 3<&- &`,
    'wmon=$!',
    'wait $pid; code=$?',
    `echo $code > ${shQuote(spec.exitFile)} 2>/dev/null`,
    `echo "${MARKER.exit} $code"`,
    'kill -KILL $wmon 2>/dev/null',
    // Whatever the command left behind in this session's process group goes with it.
    `trap '' TERM; kill -TERM -$$ 2>/dev/null; exit $code`,
  ];
  return lines.join('\n');
}

/**
 * The remote command of a host's master connection: it waits until the launcher's end of the connection's standard
 * input closes. While the launcher runs, that is never; when its process dies (even by SIGKILL), its end closes,
 * this command ends, and ssh exits once the last session through the master is over. So no master connection
 * outlives the process that opened it, as one with `ssh -N` would. Its comment names it on the remote's process list.
 */
export const MASTER_SCRIPT = 'while read -r _; do :; done # tsparallel-ssh-master';

/** The one argument ssh sends as the remote command: the script run by `/bin/sh`, whatever the login shell. */
export function remoteCommand(script: string): string {
  return `exec /bin/sh -c ${shQuote(script)}`;
}

/** The probe run once per host before engines start: its home directory, Node version and host name. */
export function probeScript(setup: string | undefined, node: string): string {
  return [
    `printf 'HOME=%s\\n' "$HOME"`,
    ...(setup ? [setup] : []),
    `${shQuote(node)} -e ${shQuote(`process.stdout.write('NODE=' + process.versions.node + '\\nHOST=' + require('os').hostname() + '\\n')`)}`,
  ].join('\n');
}

/** What the probe found on a host. */
export interface ProbeResult {
  /** `$HOME` there. */
  home: string;
  /** Node's version there (`20.11.1`). */
  node: string;
  /** The host's name, as engines there report it. */
  hostname: string;
}

/**
 * Parse the probe's output.
 * @throws LauncherError naming the host when Node is missing or older than 20.
 */
export function parseProbe(host: string, node: string, output: { code: number | null; stdout: string; stderr: string }): ProbeResult {
  const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(output.stdout)?.[1]?.trim();
  const version = value('NODE');
  if (!version) {
    throw new LauncherError(
      `host '${host}' has no usable Node.js: \`${node}\` failed (exit ${output.code}): ${output.stderr.trim() || '(no message)'}; ` +
        `install Node >= 20 there, or set its command (launchers.ssh.hosts['${host}'].command) or setup (e.g. 'source ~/.nvm/nvm.sh')`,
      { exitCode: output.code, stderrTail: output.stderr },
    );
  }
  const major = Number(version.split('.')[0]);
  if (!(major >= 20)) {
    throw new LauncherError(
      `host '${host}' runs Node ${version} (\`${node}\`), but tsparallel engines need Node >= 20: install it there, or point ` +
        `launchers.ssh.hosts['${host}'].command or setup at a newer one`,
    );
  }
  return { home: value('HOME') ?? '', node: version, hostname: value('HOST') ?? '' };
}
