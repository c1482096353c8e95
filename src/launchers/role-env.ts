/**
 * The environment of a role's process started on this host by a launcher, written once for the launchers that spawn
 * processes here (local, MPI).
 * @module
 */
import type { LauncherRole } from '../core/launcher.js';

/**
 * Variables a role never uses that Node pays for at every process start, so its processes start without them.
 *
 * `NODE_EXTRA_CA_CERTS`: Node reads the file and parses it with its own root certificates when a process boots, not
 * when TLS is first used: with a 144-certificate bundle that was 50 ms of CPU per start on the 2-core bench machine
 * (134 against 84 ms for `tsengine --help`). The controller makes no TLS connection (ZeroMQ, a plain-HTTP dashboard)
 * and runs no user code. Engines keep it: tasks may fetch over HTTPS through the CAs it names (the local launcher
 * narrows it to the CAs Node does not bundle: extra-ca.ts).
 */
const UNUSED_BY_ROLE: Readonly<Record<LauncherRole, readonly string[]>> = {
  controller: ['NODE_EXTRA_CA_CERTS'],
  engines: [],
};

/**
 * `base` (this process's environment) with the role's variables `env` added, less what the role does not use
 * (UNUSED_BY_ROLE).
 * @internal
 */
export function roleEnvironment(role: LauncherRole, env: Readonly<Record<string, string>>, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...base, ...env };
  for (const name of UNUSED_BY_ROLE[role]) delete result[name];
  return result;
}
