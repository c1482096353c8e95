/**
 * Capturing a cluster's traffic with tcpdump, to check what an eavesdropper on the network would read. Bounded three
 * ways: a capture filter on the cluster's own ports, a packet count (`-c`) and a time limit (`timeout`). The capture
 * site is a parameter, so the same scenario runs over loopback on this machine (`tcpdump -i lo`) or between two rig
 * hosts (the interface of a host's namespace, tcpdump run inside it through an `exec` prefix such as
 * `['ip', 'netns', 'exec', 'tsp-h1']`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { requireTool } from './requirements.js';
import { isAlive, waitUntil } from './cluster.js';

/** Where to capture: an interface, and the command prefix that runs tcpdump where that interface is. */
export interface CaptureSite {
  /** The interface (`lo` on this machine; a host's veth on the rig). */
  iface: string;
  /** A command prefix to run tcpdump in the right place (e.g. `['ip', 'netns', 'exec', 'tsp-h1']`); none here. */
  exec?: readonly string[];
}

/** Capturing on loopback on this machine. */
export const LOOPBACK_SITE: CaptureSite = { iface: 'lo' };

/**
 * Why a capture cannot run here (tcpdump missing, or not root), or false when it can.
 * @throws Error under CI (CI=true), where both must be present.
 */
export function captureSkipReason(): string | false {
  const tcpdump = spawnSync('tcpdump', ['--version'], { stdio: 'ignore' }).status === 0;
  const missing = requireTool('tcpdump', tcpdump, 'apt-get install tcpdump');
  if (missing) return missing;
  return requireTool('root (capturing packets needs CAP_NET_RAW)', process.getuid?.() === 0, 'run the tests as root, as .ci/run does');
}

/** A running capture. */
export interface Capture {
  /** Stop capturing (by the pid of the process started) and return the raw capture file's bytes. */
  stop(): Promise<Buffer>;
}

/**
 * Start tcpdump on `site`, for TCP traffic on `ports` only, writing to `dir/name.pcap`; resolves once it listens.
 * At most `maxPackets` packets and `maxSeconds` seconds, whatever happens to the test.
 */
export async function startCapture(
  site: CaptureSite,
  ports: readonly number[],
  dir: string,
  options: { name: string; maxPackets?: number; maxSeconds?: number; filter?: string },
): Promise<Capture> {
  const file = path.join(dir, `${options.name}.pcap`);
  // `filter` replaces the port filter (e.g. `tcp and net 10.77.7.0/24` on the rig's bridge, where the engines'
  // direct ports are not known before the capture starts).
  const filter = options.filter ?? `tcp and (${ports.map((p) => `port ${p}`).join(' or ')})`;
  const argv = [
    ...(site.exec ?? []),
    'timeout', '--signal=INT', String(options.maxSeconds ?? 60),
    'tcpdump', '--immediate-mode', '-i', site.iface, '-n', '-U', '-s', '0', '-c', String(options.maxPackets ?? 20_000), '-w', file, filter,
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let done = false;
  void exited.then(() => (done = true));
  await waitUntil(() => done || /listening on/.test(stderr), 10_000, `tcpdump to start listening (${argv.join(' ')})`);
  if (done) throw new Error(`tcpdump exited before it listened: ${stderr.trim()}`);
  return {
    async stop() {
      // Let the last packets reach the capture before it ends (--immediate-mode hands each packet over at once;
      // without it, packets wait in a kernel block that an interrupted tcpdump never writes).
      await new Promise((r) => setTimeout(r, 200));
      if (child.pid !== undefined && isAlive(child.pid)) child.kill('SIGINT');
      await exited;
      return readFile(file);
    },
  };
}

/** The TCP port of a ZeroMQ endpoint (`tcp://127.0.0.1:53012`). */
export function portOf(endpoint: string): number {
  const port = Number(/:(\d+)$/.exec(endpoint)?.[1]);
  if (!Number.isInteger(port)) throw new Error(`no port in ${endpoint}`);
  return port;
}
