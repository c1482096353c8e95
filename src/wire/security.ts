/**
 * Wire security settings shared by every role: when the wire is encrypted with CURVE.
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';

/**
 * Whether ZeroMQ CURVE encrypts the wire: `true` always, `false` never (HMAC signing still applies), `'auto'` whenever
 * a role listens beyond loopback (where others on the network could read or replay the traffic).
 */
export type CurveSetting = boolean | 'auto';

/** Whether `ip` (an address a role binds; `*` for every interface) is reachable from this host only. */
export function isLoopbackIp(ip: string): boolean {
  const bare = ip.replace(/^\[|\]$/g, '');
  if (isIPv4(bare)) return bare.startsWith('127.');
  if (isIPv6(bare)) return bare === '::1' || /^::ffff:127\./i.test(bare);
  return bare === 'localhost';
}

/** Whether to encrypt, given the setting and the addresses the roles bind. */
export function wantsCurve(setting: CurveSetting, boundIps: readonly string[]): boolean {
  if (setting !== 'auto') return setting;
  return boundIps.some((ip) => !isLoopbackIp(ip));
}
