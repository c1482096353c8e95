/**
 * Test helpers: temporary profile roots, and process checks by pid.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A fresh directory for TSPARALLEL_DIR or profileDir; remove it with the returned function. */
export async function tempDir(prefix = 'tsparallel-test-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Whether a process with this pid exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie has exited but not been reaped: count it as gone.
    const stat = require_fs().readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.split(') ')[1]?.[0] !== 'Z';
  } catch {
    return true;
  }
}

function require_fs(): typeof import('node:fs') {
  return process.getBuiltinModule('node:fs');
}

/** Wait until `check()` is true, polling; fails with `message` after `timeoutMs`. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The repository's root (works from test/… under tsx and from dist/test/… when compiled). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!require_fs().existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('no package.json above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
  return dir;
}

/** The compiled package entry (dist/src/index.js), for child processes that import tsparallel. */
export function distEntry(): string {
  return path.join(repoRoot(), 'dist', 'src', 'index.js');
}

/** Heartbeat settings that make engine-death tests quick. */
export const FAST_HEARTBEAT = { heartbeatMs: 100, heartbeatTimeoutMs: 1500 } as const;

/** A cluster started for a test in its own temporary profile directory, with a connected client. */
export interface TestCluster {
  /** The temporary profile directory. */
  dir: string;
  /** The cluster. */
  cluster: import('../../src/index.js').Cluster;
  /** A client connected to it. */
  client: import('../../src/index.js').Client;
  /** Stop the cluster, check by pid that none of its processes survived, and remove the directory. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Start a cluster of `n` local engines in a fresh directory (no project config is read). */
export async function startTestCluster(n: number, options: import('../../src/index.js').ClusterOptions = {}): Promise<TestCluster> {
  const { createCluster } = await import('../../src/index.js');
  const tmp = await tempDir();
  const cluster = await createCluster({ n, profileDir: tmp.dir, projectDir: null, ...options });
  const client = await cluster.connect();
  const stop = async () => {
    const pids = cluster.pids;
    await cluster.stop();
    const survivors = pids.filter(isAlive);
    await tmp.remove();
    if (survivors.length) throw new Error(`processes survived stop(): ${survivors.join(', ')}`);
  };
  return { dir: tmp.dir, cluster, client, stop, [Symbol.asyncDispose]: stop };
}
