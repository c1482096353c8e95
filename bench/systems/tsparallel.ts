/**
 * Our system, driven only through the public API (`src/index.ts`), the way a user's program would: `createCluster`
 * with local engine processes over ZeroMQ on 127.0.0.1, `cluster.connect()`, a single-engine view for W2, the
 * all-engines view for W4/W5, and the load-balanced view for W3/W6.
 * @module
 */
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { createCluster, range } from '../../src/index.js';
import type { EngineSession, EngineSystem } from '../lib/types.js';

/** Engines on this 2-core machine start slowly when there are 16 of them: give them more than the default minute. */
const ENGINE_START_TIMEOUT_MS = 300_000;

/** tsparallel: a controller and N engine processes started by `createCluster`. */
export const tsparallelSystem: EngineSystem = {
  name: 'tsparallel',
  async unavailableReason() {
    return undefined;
  },
  async start(engines, plan) {
    const profileDir = await mkdtemp(path.join(plan.tmpDir, 'tsparallel-'));
    const cluster = await createCluster({
      n: engines,
      profileDir,
      projectDir: null,
      engines: { startTimeoutMs: ENGINE_START_TIMEOUT_MS },
    });
    try {
      const client = await cluster.connect();
      await client.waitForEngines(engines, { timeoutMs: ENGINE_START_TIMEOUT_MS });
      const one = client.view(client.ids[0]!);
      const all = client.view();
      const balanced = client.loadBalancedView();
      const session: EngineSession = {
        engineCount: client.ids.length,
        callNoop: () => one.apply(() => null),
        balancedNoops: (count) => balanced.map((_x: number) => null, range(count), { chunksize: 1 }),
        mapPow10: (length) => all.map((x: number) => x ** 10, range(length)),
        async push(name, data) {
          await all.push({ [name]: data });
        },
        pull: (name) => all.pull<Float64Array>(name),
        async scatter(name, data) {
          await all.scatter(name, data);
        },
        gather: (name) => all.gather<Float64Array>(name),
        async stop() {
          // Closes the clients too; harmless when called twice.
          await cluster.stop();
        },
      };
      return session;
    } catch (error) {
      await cluster.stop();
      throw error;
    }
  },
};
