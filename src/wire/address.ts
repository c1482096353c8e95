/**
 * Addresses across hosts: what a role binds, what it advertises to others, and whether an advertised endpoint can be
 * reached from here.
 *
 * - A role placed on this host binds loopback and advertises it.
 * - A controller placed on another host (by a launcher with `placesRemotely`) binds every interface unless
 *   `controller.ip` says otherwise, and advertises `controller.location`, else the first non-internal IPv4 address of
 *   the host it runs on, else that host's name ({@link advertisedHost}). The controller decides this where it runs.
 * - An engine whose controller is not on loopback binds the interface it reaches the controller on and advertises
 *   that address for direct requests ({@link localAddressToward}); with a loopback controller it keeps loopback.
 * - A client sends direct requests to an engine only when its endpoint answers a bounded TCP connect
 *   ({@link probeEndpoint}), and through the controller otherwise.
 * @module
 */
import { connect } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';

/** A `tcp://host:port` endpoint taken apart. */
export interface TcpEndpoint {
  /** The host part, without IPv6 brackets. */
  host: string;
  /** The port. */
  port: number;
}

/** Take a `tcp://host:port` endpoint apart, or `undefined` when it is not one (`inproc://…`, `ipc://…`). */
export function parseTcpEndpoint(endpoint: string): TcpEndpoint | undefined {
  const m = /^tcp:\/\/(?:\[([^\]]+)\]|([^:/]+)):(\d+)$/.exec(endpoint);
  if (!m) return undefined;
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

/** A `tcp://` endpoint from a host and a port (IPv6 addresses in brackets). */
export function tcpEndpoint(host: string, port: number | string): string {
  return `tcp://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Whether a host is a loopback address or name (127.0.0.0/8, ::1, `localhost`). */
export function isLoopbackHost(host: string): boolean {
  return /^127\./.test(host) || host === '::1' || host === 'localhost' || host === '::ffff:127.0.0.1';
}

/** Whether a bind address means every interface (`0.0.0.0`, `*`, `::`). */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || host === '*' || host === '::';
}

/** The first non-internal IPv4 address of this host, or `undefined` when it has none. */
export function firstExternalIPv4(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

/**
 * The host a role advertises for an endpoint bound at `bindHost`: `location` when given; for a wildcard bind, this
 * host's first non-internal IPv4 address, else its host name; otherwise the bound address itself.
 */
export function advertisedHost(bindHost: string, location?: string): string {
  if (location) return location;
  if (isWildcardHost(bindHost)) return firstExternalIPv4() ?? hostname();
  return bindHost;
}

/** The endpoint peers should dial for one bound at `bound` (`tcp://0.0.0.0:5555` → `tcp://10.1.2.3:5555`). */
export function advertisedEndpoint(bound: string, location?: string): string {
  const tcp = parseTcpEndpoint(bound);
  if (!tcp) return bound;
  return tcpEndpoint(advertisedHost(tcp.host, location), tcp.port);
}

/**
 * Whether a TCP connection to `endpoint` opens within `timeoutMs`. Never throws: refused, unreachable, unresolvable
 * and too slow all give `false`. Endpoints that are not `tcp://` give `true` (they need no network).
 */
export function probeEndpoint(endpoint: string, timeoutMs = 1000): Promise<boolean> {
  const tcp = parseTcpEndpoint(endpoint);
  if (!tcp) return Promise.resolve(true);
  return new Promise((resolve) => {
    const socket = connect({ host: tcp.host, port: tcp.port });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The local address this host uses to reach `endpoint` (the interface a TCP connection to it leaves from), or
 * `undefined` when it cannot be reached within `timeoutMs` or is not `tcp://`.
 */
export function localAddressToward(endpoint: string, timeoutMs = 5000): Promise<string | undefined> {
  const tcp = parseTcpEndpoint(endpoint);
  if (!tcp) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const socket = connect({ host: tcp.host, port: tcp.port });
    const done = (address: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(address);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    socket.once('connect', () => done(socket.localAddress?.replace(/^::ffff:/, '')));
    socket.once('error', () => done(undefined));
  });
}

/**
 * Where an engine listens for direct requests: loopback when its controller is on loopback (everything is on one
 * host), else the interface it reaches the controller on (so clients on other hosts can reach it), else every
 * interface.
 */
export async function engineDirectBind(controllerAddress: string): Promise<string> {
  const tcp = parseTcpEndpoint(controllerAddress);
  if (!tcp) return 'tcp://127.0.0.1:0';
  if (isLoopbackHost(tcp.host)) return tcpEndpoint(tcp.host.includes(':') ? '::1' : '127.0.0.1', 0);
  const local = await localAddressToward(controllerAddress);
  return tcpEndpoint(local ?? '0.0.0.0', 0);
}

/** How a client reaches one engine: straight to its direct endpoint, or through the controller. */
export type EngineRoute = 'direct' | 'controller';

/**
 * Choose the route to an engine. An engine without a direct endpoint, or whose endpoint is loopback on another host
 * (it would reach something else here), goes through the controller; any other `tcp://` endpoint is used when it
 * answers a bounded connect probe; a non-TCP endpoint (in-process) only on the same host.
 */
export async function chooseEngineRoute(
  engine: { hostname: string; direct?: string },
  options: { thisHost?: string; probeTimeoutMs?: number } = {},
): Promise<EngineRoute> {
  if (!engine.direct) return 'controller';
  const sameHost = engine.hostname === (options.thisHost ?? hostname());
  const tcp = parseTcpEndpoint(engine.direct);
  if (!tcp) return sameHost ? 'direct' : 'controller';
  if (!sameHost && isLoopbackHost(tcp.host)) return 'controller';
  return (await probeEndpoint(engine.direct, options.probeTimeoutMs)) ? 'direct' : 'controller';
}
