/**
 * The piscina peer: a pool of worker threads in the client's process. It is the floor for per-task overhead on one
 * machine (no processes, no sockets), not a cluster: it has no per-worker namespace, so W5 does not apply.
 * @module
 */
import { Piscina } from 'piscina';
import { splitRange, waitForWorkers } from '../lib/pool-common.js';
import { workerThreadEntry } from '../lib/paths.js';
import type { EngineSession, EngineSystem } from '../lib/types.js';

const WORKER_FILE = workerThreadEntry(import.meta.url, '../workers/piscina-worker', ['noop', 'whoami', 'pow10']);

/** Worker threads via piscina 5, `minThreads = maxThreads = engines`. */
export const piscinaSystem: EngineSystem = {
  name: 'piscina',
  async unavailableReason() {
    return undefined;
  },
  async start(engines) {
    const pool = new Piscina({ filename: WORKER_FILE, minThreads: engines, maxThreads: engines, idleTimeout: 60_000 });
    let stopped = false;
    const session: EngineSession = {
      engineCount: engines,
      callNoop: () => pool.run(undefined, { name: 'noop' }),
      balancedNoops: (count) => Promise.all(Array.from({ length: count }, () => pool.run(undefined, { name: 'noop' }))),
      async mapPow10(length) {
        const parts = await Promise.all(splitRange(length, engines).map((xs) => pool.run(xs, { name: 'pow10' }) as Promise<number[]>));
        return parts.flat();
      },
      dataMissingReason: 'a worker pool has no per-worker namespace to push into or pull from',
      async stop() {
        if (stopped) return;
        stopped = true;
        await pool.destroy();
      },
    };
    try {
      await waitForWorkers(engines, () => pool.run(undefined, { name: 'whoami' }) as Promise<number>);
    } catch (error) {
      await session.stop();
      throw error;
    }
    return session;
  },
};
