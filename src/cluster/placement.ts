/**
 * Where a cluster's roles run, and what follows for addresses and connection info: the cluster's decisions for
 * clusters across hosts (the rules themselves are in `wire/address.ts`).
 * @module
 */
import type { ClusterConfig } from '../config/index.js';
import type { ConnectionInfo } from '../wire/connection.js';
import type { LauncherRegistry } from '../core/launcher.js';
import { isLoopbackHost, isWildcardHost, parseTcpEndpoint } from '../wire/address.js';
import { CONNECTION_INFO_ENV } from '../wire/connection-env.js';

/** Which of a cluster's launchers place roles on other hosts. */
export interface Placement {
  /** The controller's launcher does. */
  controllerRemote: boolean;
  /** The engines' launcher does. */
  enginesRemote: boolean;
}

/** Ask the registry whether the configured launchers place roles on other hosts. */
export function placementOf(config: ClusterConfig, registry: LauncherRegistry): Placement {
  return {
    controllerRemote: registry.get(config.controller.launcher).placesRemotely === true,
    enginesRemote: registry.get(config.engines.launcher).placesRemotely === true,
  };
}

/**
 * The address the controller binds. When any launcher places roles elsewhere and `controller.ip` was not configured,
 * the controller binds every interface; what it then advertises (`controller.location`, else its host's first
 * non-internal IPv4 address, else its name) is decided by the controller process where it runs. Local clusters keep
 * loopback.
 */
export function controllerBindIp(config: ClusterConfig, placement: Placement, ipConfigured: boolean): string {
  const remote = placement.controllerRemote || placement.enginesRemote;
  return remote && !ipConfigured ? '0.0.0.0' : config.controller.ip;
}

/**
 * Problems of a cross-host setup that can be seen before starting, each with its fix: roles on other hosts while the
 * controller advertises loopback. `configFile` names where to fix it, when known.
 */
export function crossHostProblems(config: ClusterConfig, placement: Placement, ipConfigured: boolean): string[] {
  if (!placement.controllerRemote && !placement.enginesRemote) return [];
  const { ip, location } = config.controller;
  const bindsLoopback = ipConfigured && isLoopbackHost(ip);
  const advertisesLoopback = location ? isLoopbackHost(location) : bindsLoopback;
  if (!advertisesLoopback) return [];
  const who = placement.enginesRemote ? `engines.launcher '${config.engines.launcher}'` : `controller.launcher '${config.controller.launcher}'`;
  return [
    `${who} places roles on other hosts, but the controller advertises a loopback address ` +
      `(${location ? `controller.location '${location}'` : `controller.ip '${ip}'`}), which only works when every role runs on this host. ` +
      `Fix: remove controller.ip${location ? ' and controller.location' : ''} (the controller then listens on every interface and advertises its ` +
      `host's address), or set controller.ip to '0.0.0.0' and controller.location to a name the other hosts can resolve.`,
  ];
}

/** Whether a connection file's advertised address is loopback (so it only works on the controller's host). */
export function advertisesLoopback(info: ConnectionInfo): boolean {
  const tcp = parseTcpEndpoint(info.address);
  return tcp !== undefined && (isLoopbackHost(tcp.host) || isWildcardHost(tcp.host));
}

/**
 * How engines get their connection info: engines placed on other hosts get it in {@link CONNECTION_INFO_ENV}
 * (no shared file system needed, and the key never on a command line); local engines get the file's path (so they
 * may start before the controller has written it). `info` is read only for remote engines.
 */
export async function engineConnection(
  enginesRemote: boolean,
  file: string,
  info: ConnectionInfo | (() => Promise<ConnectionInfo>),
): Promise<{ args: string[]; env: Record<string, string> }> {
  if (enginesRemote) return { args: [], env: { [CONNECTION_INFO_ENV]: JSON.stringify(typeof info === 'function' ? await info() : info) } };
  return { args: ['--connection-file', file], env: {} };
}
