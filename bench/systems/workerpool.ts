/**
 * The workerpool peer: a pool of child processes (workerType 'process', so the workers are processes like our
 * engines, talking over Node's IPC channel). A floor for per-task overhead across processes on one machine; it has no
 * per-worker namespace, so W5 does not apply.
 * @module
 */
import workerpool from 'workerpool';
import { splitRange, waitForWorkers } from '../lib/pool-common.js';
import { siblingModule } from '../lib/paths.js';
import type { EngineSession, EngineSystem } from '../lib/types.js';

const WORKER_FILE = siblingModule(import.meta.url, '../workers/workerpool-worker');

/** Child processes via workerpool 10, `minWorkers = maxWorkers = engines`. */
export const workerpoolSystem: EngineSystem = {
  name: 'workerpool',
  async unavailableReason() {
    return undefined;
  },
  async start(engines) {
    const pool = workerpool.pool(WORKER_FILE, {
      minWorkers: engines,
      maxWorkers: engines,
      workerType: 'process',
      // The workers run our TypeScript worker under tsx when the harness does (execArgv carries `--import tsx`).
      forkOpts: { execArgv: process.execArgv },
    });
    let stopped = false;
    const exec = (method: string, params: unknown[] = []) => Promise.resolve(pool.exec(method, params));
    const session: EngineSession = {
      engineCount: engines,
      callNoop: () => exec('noop'),
      balancedNoops: (count) => Promise.all(Array.from({ length: count }, () => exec('noop'))),
      async mapPow10(length) {
        const parts = await Promise.all(splitRange(length, engines).map((xs) => exec('pow10', [xs]) as Promise<number[]>));
        return parts.flat();
      },
      dataMissingReason: 'a worker pool has no per-worker namespace to push into or pull from',
      async stop() {
        if (stopped) return;
        stopped = true;
        await pool.terminate();
      },
    };
    try {
      await waitForWorkers(engines, () => exec('whoami') as Promise<number>);
    } catch (error) {
      await session.stop();
      throw error;
    }
    return session;
  },
};
