/**
 * The walltime check shared by the batch launchers' end-to-end tests: engines of a job with a one-hour walltime know
 * when it ends, and the load balancer refuses a task longer than what is left.
 */
import assert from 'node:assert/strict';
import { TimeoutError, type Client } from '../../src/index.js';

/** Assert that `client`'s engines (of a job with a walltime of one hour) know their job's end and the balancer uses it. */
export async function assertOneHourWalltime(client: Client): Promise<void> {
  const ends = [...client.engines.values()].map((e) => e.jobEnd);
  assert.ok(ends.every((e) => e !== undefined && e > Date.now() + 3_000_000 && e <= Date.now() + 3_600_000), `job ends ${ends.join(', ')}`);
  const lview = client.loadBalancedView();
  assert.deepEqual(await lview.with({ timeoutMs: 60_000 }).map((x: number) => x * 2, [1, 2, 3]), [2, 4, 6]);
  await assert.rejects(lview.with({ timeoutMs: 2 * 3_600_000 }).apply((x: number) => x, 1), (e: unknown) => e instanceof TimeoutError && /walltime left/.test(e.message));
}
