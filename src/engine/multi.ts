/**
 * Several engines in one process (`tsengine --count K`), for scale tests only: each engine is a full engine (its own
 * registration, id, routing identity, heartbeat and namespace), but they share one Node process, so K engines cost
 * one process start instead of K. Each gets an isolated namespace (its own V8 context) and a heart of its own (every
 * heart answers on the main thread; the K hearts' connections share the process's heartbeat I/O thread), and listens
 * on no direct endpoint (clients reach it through the controller).
 *
 * Not for real work: the engines of one process share its CPU and event loop, so a long synchronous task blocks all
 * of them (and their heartbeats). The bench's W8 workload (1,000 engines on one machine) is what it is for.
 * @module
 */
import type { ConnectionInfo } from '../wire/connection.js';
import type { Transport } from '../core/transport.js';
import type { RunningRole } from '../core/launcher.js';
import { shareHeartSamples } from '../wire/heart-stats.js';
import { Engine } from './engine.js';
import { IsolatedNamespace } from './namespace.js';

/** How long one resource sample serves the hearts of a process's engines, in ms (see `shareHeartSamples`). */
const HEART_SAMPLE_SHARE_MS = 100;

/** How {@link startEngines} sets up its engines. */
export interface MultiEngineOptions {
  /** How many engines. */
  count: number;
  /** The engine connection file's content. */
  info: ConnectionInfo;
  /** The transport named in it. */
  transport: Transport;
  /** How long each engine waits for the controller to accept it, in ms. */
  registrationTimeoutMs?: number;
}

/**
 * Start `count` engines in this process, all registering at once. Resolves once every one is registered; when one
 * fails to register, the others are stopped and the error is thrown.
 */
export async function startEngines(options: MultiEngineOptions): Promise<RunningRole & { engines: Engine[] }> {
  const { transport } = options;
  // The controller pings every engine at once: one resource sample serves the answers of this process's engines.
  shareHeartSamples(HEART_SAMPLE_SHARE_MS);
  const engines = Array.from(
    { length: options.count },
    () =>
      new Engine({
        transport,
        info: options.info,
        namespace: new IsolatedNamespace(),
        registrationTimeoutMs: options.registrationTimeoutMs,
        directAddress: false,
      }),
  );
  const started = await Promise.allSettled(engines.map((e) => e.start()));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await Promise.all(engines.map((e) => e.stop(0, { unregister: false })));
    throw failed.reason;
  }
  // The process ends when the last engine has stopped (each stops on the controller's shutdown or its silence).
  const exited = Promise.all(engines.map((e) => e.stopped)).then((codes) => Math.max(0, ...codes));
  return { engines, exited, stop: async () => void (await Promise.all(engines.map((e) => e.stop(0)))) };
}
