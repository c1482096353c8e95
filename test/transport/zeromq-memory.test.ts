/**
 * The ZeroMQ transport does not keep a received message alive once its handler is done with it: a client that pulled
 * 100 MB from each of 2 engines kept 200 MB resident after dropping the result, because each receive loop held its
 * last message until the next one came (bench W5, `rss_after_pull_ratio`). Measured through V8's external memory,
 * where ZeroMQ's zero-copy buffers are counted until their finalizer frees them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ZeroMqTransport } from '../../src/launchers/index.js';

const BIG = 64 * 1024 * 1024;

function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** Collect garbage until external memory is below `bytes`, for at most `timeoutMs`; returns the last reading. */
async function externalFallsBelow(bytes: number, timeoutMs = 10_000): Promise<number> {
  const gc = collector();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    gc();
    await new Promise((r) => setTimeout(r, 100));
    const now = process.memoryUsage().external;
    if (now < bytes || Date.now() > deadline) return now;
  }
}

describe('ZeroMQ transport memory', () => {
  it('frees a large received message once its handler returns, on a dialled connection and on a listener', async () => {
    const transport = new ZeroMqTransport();
    const listener = await transport.listen('tcp://127.0.0.1:0');
    const connection = await transport.dial(listener.address, { identity: 'memory-test' });
    try {
      const baseline = process.memoryUsage().external;
      // The connection dials first, so the listener learns its identity and can send to it.
      const atListener = new Promise<number>((resolve) => listener.setMessageHandler(({ frames }) => resolve(frames.reduce((n, f) => n + f.length, 0))));
      connection.send([Buffer.alloc(BIG, 1)]);
      assert.equal(await atListener, BIG);
      const atConnection = new Promise<number>((resolve) => connection.setMessageHandler((frames) => resolve(frames.reduce((n, f) => n + f.length, 0))));
      listener.send(Buffer.from('memory-test'), [Buffer.alloc(BIG, 2)]);
      assert.equal(await atConnection, BIG);
      // Both sockets are now idle with no further message coming: nothing may hold the 2 × 64 MB received.
      const after = await externalFallsBelow(baseline + BIG / 2);
      assert.ok(after < baseline + BIG / 2, `external memory is ${Math.round((after - baseline) / 1e6)} MB above where it started after both messages were handled`);
    } finally {
      await connection.close();
      await listener.close();
    }
  });
});
