/**
 * An engine whose controller does not answer fails its registration with a TimeoutError that says what to check,
 * naming the heartbeat endpoint when even that never answered (the heart connects before the engine registers).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { TimeoutError } from '../../src/index.js';
import { Engine } from '../../src/engine/engine.js';
import { IsolatedNamespace } from '../../src/engine/namespace.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import type { ConnectionInfo } from '../../src/wire/connection.js';

/** A loopback port nothing listens on (bound, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

test('no controller on either port: TimeoutError asking whether it runs, naming the heartbeat endpoint that never answered', { timeout: 30_000 }, async () => {
  const [enginePort, heartPort] = [await freePort(), await freePort()];
  const info: ConnectionInfo = {
    version: 1, role: 'engine', transport: 'zeromq', clusterId: 'none', key: 'k'.repeat(32), signatureScheme: 'hmac-sha256',
    address: `tcp://127.0.0.1:${enginePort}`, heartbeatAddress: `tcp://127.0.0.1:${heartPort}`, heartbeatMs: 100, heartbeatTimeoutMs: 1000,
    controller: { pid: 1, hostname: 'nowhere' }, created: new Date().toISOString(),
  };
  const engine = new Engine({ transport: new ZeroMqTransport(), info, namespace: new IsolatedNamespace(), registrationTimeoutMs: 1000, directAddress: false });
  await assert.rejects(engine.start(), (err: unknown) => {
    assert.ok(err instanceof TimeoutError, `a TimeoutError, not ${String(err)}`);
    assert.match(err.message, /did not accept this engine in 1000 ms: is it running, and is the connection file current\?/);
    assert.match(err.message, new RegExp(`heartbeat endpoint tcp://127\\.0\\.0\\.1:${heartPort} never answered`));
    return true;
  });
});
