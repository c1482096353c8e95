/**
 * `tscluster doctor`: checks a profile for what breaks clusters across hosts, each problem with its fix: the profile
 * exists, its config loads and names known launchers, files holding the key are private, the controller's advertised
 * address is not loopback when launchers place roles elsewhere; with `--probe`, starts a controller and one engine
 * through the configured launchers and reports whether the engine reached the controller, from which host and
 * address, and how long it took.
 * @module
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { container as globalContainer } from 'tsyringe';
import { createCluster } from '../../cluster/cluster.js';
import { registerDefaults } from '../../cluster/defaults.js';
import { advertisesLoopback, controllerBindIp, crossHostProblems, placementOf, type Placement } from '../../cluster/placement.js';
import { loadConfig, type LoadedConfig } from '../../config/load.js';
import { missingProfile } from '../../config/profile-create.js';
import { describeProfile, profileFlag } from '../../config/profile.js';
import { readConnectionFile } from '../../wire/connection.js';
import { advertisedHost, firstExternalIPv4, isLoopbackHost, isWildcardHost } from '../../wire/address.js';
import { LAUNCHER_REGISTRY, LauncherRegistry } from '../../core/launcher.js';
import { checkSshHost } from '../../launchers/ssh/launcher.js';
import { detectMpiFlavor } from '../../launchers/mpi/launcher.js';
import { loadLauncherPlugins } from '../../cluster/plugins.js';
import { COMMON_USAGE, PROFILE_OPTIONS, PROFILE_USAGE, handleCommonOptions, parseCommandArgs, positiveIntArg, profileFromArgs, stringArg, type Command } from '../args.js';
import { Reporter } from '../progress.js';

const USAGE = `Usage: tscluster doctor [--profile NAME] [--probe]

Check a profile for what breaks clusters across hosts; each problem comes with its fix:
  - the profile exists (its directory; the config file is optional), its configuration loads, its launchers (and the
    names under 'launchers') are known
  - files holding the cluster's key (security/*.json, job files) are readable by you only (mode 0600)
  - the controller's advertised address is not loopback when a launcher places roles on other hosts
  - ssh launcher: every host answers ssh (key login) and runs Node >= 20; mpi launcher: mpiexec answers
With --probe, also start a controller and one engine through the configured launchers (a cluster of its own id,
stopped afterwards) and report whether the engine reached the controller, from which address, and how long it took.

Options:
${PROFILE_USAGE}
  --probe               start one engine through the configured launchers and report how it reached the controller
  --timeout-ms MS       how long the probe waits for the engine (default: engines.startTimeoutMs)
${COMMON_USAGE}

Exit code: 0 when no problem was found, 1 otherwise (2 for a usage error).`;

/** One finding of the doctor. */
export interface DoctorFinding {
  /** `ok`, or `problem` (then `fix` says what to do). */
  status: 'ok' | 'problem';
  /** What was checked and found. */
  message: string;
  /** What to do about a problem. */
  fix?: string;
}

/** `tscluster doctor`. */
export const doctorCommand: Command = {
  name: 'doctor',
  summary: "check a profile for cross-host problems (config, key file modes, advertised address; --probe: start one engine)",
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { ...PROFILE_OPTIONS, probe: { type: 'boolean' }, 'timeout-ms': { type: 'string' } }, USAGE);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const profile = profileFromArgs(values);
    const timeoutText = stringArg(values, 'timeout-ms');
    // Checked before anything runs, as `stop` does: a bad value is a usage error, not a failed probe.
    const timeoutMs = timeoutText === undefined ? undefined : positiveIntArg(timeoutText, '--timeout-ms');
    const out = new Reporter('tscluster doctor', stringArg(values, 'log-level'));
    const findings = await diagnose({
      profile: profile.name,
      profileDir: stringArg(values, 'profile-dir'),
      probe: values.probe === true,
      timeoutMs,
      onFinding: (f) => out.print(f.status === 'ok' ? `ok       ${f.message}` : `PROBLEM  ${f.message}\n         fix: ${f.fix}`),
    });
    const problems = findings.filter((f) => f.status === 'problem').length;
    out.print(problems ? `${problems} problem${problems > 1 ? 's' : ''} found` : 'no problem found');
    return problems ? 1 : 0;
  },
};

/** What {@link diagnose} checks. */
export interface DiagnoseOptions {
  /** The profile (default `default`). */
  profile?: string;
  /** The profile directory, instead of a name. */
  profileDir?: string;
  /** Start one engine through the configured launchers. */
  probe?: boolean;
  /** How long the probe waits for the engine, in ms. */
  timeoutMs?: number;
  /** Called with each finding as it is made. */
  onFinding?: (finding: DoctorFinding) => void;
}

/** Run the doctor's checks on a profile; resolves with every finding (problems carry their fix). */
export async function diagnose(options: DiagnoseOptions): Promise<DoctorFinding[]> {
  const findings: DoctorFinding[] = [];
  const add = (f: DoctorFinding) => {
    findings.push(f);
    options.onFinding?.(f);
  };
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig({ profile: options.profile, profileDir: options.profileDir, projectDir: null });
  } catch (err) {
    add({ status: 'problem', message: `the configuration does not load: ${(err as Error).message}`, fix: 'correct the file and key named above' });
    return findings;
  }
  const { config, profile } = loaded;
  if (!loaded.profileExists) {
    // Without its directory, every later check would pass on defaults: a typo in the name would look like a sound profile.
    add(profile.byDir ? { status: 'problem', message: `no profile directory ${profile.dir}`, fix: `create it with \`tscluster profile create ${profileFlag(profile)}\`` } : await missingProfileFinding(profile.name));
    return findings;
  }
  add({ status: 'ok', message: `configuration of ${describeProfile(profile)} loads (${loaded.files.profile ?? 'no profile config file'})` });

  const registry = await launcherRegistry(loaded);
  let placement: Placement | undefined;
  try {
    placement = placementOf(config, registry);
    add({
      status: 'ok',
      message: `launchers: controller '${config.controller.launcher}'${placement.controllerRemote ? ' (other hosts)' : ' (this host)'}, engines '${config.engines.launcher}'${placement.enginesRemote ? ' (other hosts)' : ' (this host)'}`,
    });
  } catch (err) {
    add({ status: 'problem', message: (err as Error).message, fix: "name a known launcher, or list the plugin that adds it under 'plugins'" });
  }
  try {
    // The check createCluster makes: options under a name no launcher has are a typo, and would be ignored.
    registry.checkConfiguredNames(Object.keys(config.launchers));
  } catch (err) {
    add({ status: 'problem', message: (err as Error).message, fix: "correct the name under 'launchers', or list the plugin that adds that launcher under 'plugins'" });
  }

  for (const file of await keyFiles(profile.dir, profile.security)) {
    const mode = (await stat(file)).mode & 0o777;
    if (mode & 0o077) add({ status: 'problem', message: `${file} holds the cluster's key but has mode 0${mode.toString(8)}`, fix: `chmod 600 '${file}'` });
  }
  add({ status: 'ok', message: `checked the mode of the files holding keys in ${profile.dir}` });

  if (placement) {
    const ipConfigured = loaded.sources['controller.ip']?.kind !== 'default';
    const problems = crossHostProblems(config, placement, ipConfigured);
    for (const p of problems) {
      const [message, fix] = p.split(' Fix: ');
      add({ status: 'problem', message: message!, fix: fix ?? 'see tscluster doctor --help' });
    }
    if (placement.controllerRemote || placement.enginesRemote) {
      for (const file of (await readdir(profile.security).catch(() => [] as string[])).filter((f) => /^tsparallel.*-client\.json$/.test(f))) {
        const info = await readConnectionFile(path.join(profile.security, file)).catch(() => undefined);
        if (info && advertisesLoopback(info)) {
          add({ status: 'problem', message: `the running cluster's ${file} advertises ${info.address}, which other hosts cannot reach`, fix: "restart it without controller.ip (or with controller.ip '0.0.0.0' and controller.location set to a reachable name)" });
        }
      }
    }
    if (!problems.length) add({ status: 'ok', message: `advertised address: ${describeAdvertised(config, placement, ipConfigured)}` });
  }

  await launcherChecks(config, add);
  if (options.probe && placement) await probe(loaded, options.timeoutMs, add);
  return findings;
}


/** The problem of a profile name without a directory, in the words of `tscluster profile locate` (existing names, a close match). */
async function missingProfileFinding(name: string): Promise<DoctorFinding> {
  const { problem, fix } = await missingProfile(name);
  return { status: 'problem', message: problem, fix };
}

/** Checks of the launchers that reach other hosts: every ssh host answers and runs Node >= 20; mpiexec is there. */
async function launcherChecks(config: LoadedConfig['config'], add: (f: DoctorFinding) => void): Promise<void> {
  const used = new Set([config.controller.launcher, config.engines.launcher]);
  if (used.has('ssh')) {
    const options = (config.launchers.ssh ?? {}) as { hosts?: Record<string, unknown>; controllerHost?: string };
    const hosts = new Set([...(config.engines.launcher === 'ssh' ? Object.keys(options.hosts ?? {}) : []), ...(config.controller.launcher === 'ssh' && options.controllerHost ? [options.controllerHost] : [])]);
    if (!hosts.size) add({ status: 'problem', message: 'the ssh launcher is used but names no host', fix: "list hosts under launchers.ssh.hosts (and launchers.ssh.controllerHost for the controller)" });
    for (const host of hosts) {
      try {
        const found = await checkSshHost(config.launchers.ssh, host);
        add({ status: 'ok', message: `ssh host '${host}' answers (host name ${found.hostname}), Node ${found.node} there` });
      } catch (err) {
        add({ status: 'problem', message: (err as Error).message, fix: 'check that `ssh` reaches it with a key (no password), with the same options as launchers.ssh (sshConfig, identityFile, sshArgs), and that Node >= 20 is on its PATH or set by its setup' });
      }
    }
  }
  if (used.has('mpi')) {
    const command = ((config.launchers.mpi ?? {}) as { command?: string[] }).command ?? ['mpiexec'];
    const flavor = await detectMpiFlavor(command);
    if (flavor) add({ status: 'ok', message: `${command.join(' ')} is ${flavor === 'openmpi' ? 'Open MPI' : flavor === 'mpich' ? 'MPICH (Hydra)' : 'srun'}` });
    else add({ status: 'problem', message: `\`${command.join(' ')} --version\` does not answer as Open MPI, MPICH or srun`, fix: "install an MPI (Debian: openmpi-bin or mpich), or set launchers.mpi.command (and launchers.mpi.flavor when it is another MPI)" });
  }
}

/**
 * What engines will dial to reach the controller, and why. The rule is the controller's own ({@link advertisedHost} on
 * the address {@link controllerBindIp} gives it), applied here when the controller runs on this host, so the doctor
 * and the controller cannot disagree; a controller placed on another host applies it there.
 */
function describeAdvertised(config: LoadedConfig['config'], placement: Placement, ipConfigured: boolean): string {
  const { ip, location } = config.controller;
  if (location) return `${location} (controller.location)`;
  const bindIp = controllerBindIp(config, placement, ipConfigured);
  if (!isWildcardHost(bindIp)) return `${bindIp} (${isLoopbackHost(bindIp) ? 'loopback: everything runs on this host' : 'controller.ip'})`;
  const why = `${ipConfigured ? `controller.ip ${ip}` : 'controller.ip not set, roles on other hosts'}: all interfaces`;
  if (placement.controllerRemote) return `the first non-internal IPv4 address of the controller's host, else its name (${why}; decided on the host the controller runs on)`;
  const host = advertisedHost(bindIp);
  return `${host} (${why}, this host's ${host === firstExternalIPv4() ? 'first external address' : 'name: it has no external IPv4 address'})`;
}

async function launcherRegistry(loaded: LoadedConfig): Promise<LauncherRegistry> {
  const container = registerDefaults(globalContainer.createChildContainer());
  const inherited = container.resolve<LauncherRegistry>(LAUNCHER_REGISTRY);
  if (!loaded.config.plugins.length) return inherited;
  const registry = new LauncherRegistry();
  for (const name of inherited.names()) registry.register(inherited.get(name));
  const source = loaded.sources.plugins;
  const baseDir = source && (source.kind === 'profile' || source.kind === 'project') ? path.dirname(source.file) : process.cwd();
  await loadLauncherPlugins(loaded.config.plugins, { baseDir, registry });
  return registry;
}

/** Files that may hold the key: connection and cluster files in `security/`, job files in the profile directory. */
async function keyFiles(profileDir: string, securityDir: string): Promise<string[]> {
  const inSecurity = (await readdir(securityDir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).map((f) => path.join(securityDir, f));
  const jobFiles = (await readdir(profileDir).catch(() => [] as string[])).filter((f) => f.endsWith('_job.xml')).map((f) => path.join(profileDir, f));
  return [...inSecurity, ...jobFiles];
}

/** Start a controller and one engine with the profile's launchers; report how the engine reached the controller. */
async function probe(loaded: LoadedConfig, timeoutMs: number | undefined, add: (f: DoctorFinding) => void): Promise<void> {
  const started = Date.now();
  const clusterId = `doctor-${process.pid}`;
  try {
    const cluster = await createCluster({
      profileDir: loaded.profile.dir,
      projectDir: null,
      clusterId,
      n: 1,
      engines: { startTimeoutMs: timeoutMs ?? loaded.config.engines.startTimeoutMs },
    });
    const elapsedMs = Date.now() - started;
    try {
      const client = await cluster.connect();
      const engine = [...client.engines.values()][0]!;
      add({
        status: 'ok',
        message: `probe: an engine (pid ${engine.pid}) on host '${engine.hostname}' (direct endpoint ${engine.direct ?? 'none'}) reached the controller at ${client.info.address} ${elapsedMs} ms after the start`,
      });
    } finally {
      await cluster.stop();
    }
  } catch (err) {
    add({
      status: 'problem',
      message: `probe: no engine reached the controller within ${Date.now() - started} ms: ${(err as Error).message}`,
      fix: "see the engine's log (the profile's log/ or the launcher's logDirectory); when engines run elsewhere, check that the advertised address resolves and is reachable from their hosts (no firewall between them)",
    });
  }
}
