/**
 * The worker process of the workerpool peer: registers the same tasks as the piscina worker (no-op, identity probe,
 * the seed's `x => x ** 10` over a chunk) with workerpool, which runs it as a child process.
 * @module
 */
import workerpool from 'workerpool';

workerpool.worker({
  noop: () => null,
  whoami: () => process.pid,
  pow10: (xs: readonly number[]) => xs.map((x) => x ** 10),
});
