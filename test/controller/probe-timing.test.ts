/**
 * How the controller's heart listener probes engine connections (`probeTiming`): the heartbeat timeout split in two,
 * so that a silent connection is still closed within the timeout while libzmq probes (and pays for cancelling each
 * answer's timer, O(connections)) twice per heartbeat timeout instead of once per heartbeat. What a
 * stopped engine looks like under these settings is test/robust/sigstop's (a real cluster).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { probeTiming } from '../../src/controller/controller.js';

describe('probeTiming', () => {
  it('splits the default heartbeat timeout in halves', () => {
    assert.deepEqual(probeTiming(1000, 10_000), { everyMs: 5000, timeoutMs: 5000 });
  });

  it('closes a silent connection within the heartbeat timeout, never probing more often than the pings', () => {
    for (const heartbeatMs of [10, 50, 100, 1000, 3000]) {
      for (const factor of [2, 2.5, 3, 10, 100]) {
        const heartbeatTimeoutMs = Math.round(heartbeatMs * factor);
        const { everyMs, timeoutMs } = probeTiming(heartbeatMs, heartbeatTimeoutMs);
        const what = `heartbeatMs ${heartbeatMs}, heartbeatTimeoutMs ${heartbeatTimeoutMs}: every ${everyMs}, timeout ${timeoutMs}`;
        assert.ok(everyMs >= heartbeatMs, what);
        assert.ok(timeoutMs >= heartbeatMs, what);
        assert.ok(everyMs + timeoutMs <= heartbeatTimeoutMs, what);
        assert.ok(everyMs >= Math.floor(heartbeatTimeoutMs / 2), `${what}: at most two probes per timeout`);
      }
    }
  });

  it('a timeout under two heartbeats still probes once per heartbeat and waits a heartbeat for the answer', () => {
    // The configuration checks ask for a timeout above the heartbeat; the probe never runs faster than the pings.
    assert.deepEqual(probeTiming(1000, 1500), { everyMs: 1000, timeoutMs: 1000 });
  });
});
