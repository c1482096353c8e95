/**
 * A blocked event loop is not its peers' silence. While a process's main thread is busy (a synchronous computation
 * in the client program, a long GC pause), heartbeat answers wait unread in its sockets, and when the loop runs
 * again its timers come before its I/O. A heartbeat check in that first timer must not declare the peers dead. Here
 * the whole runtime runs in one process over the in-process transport (whose hearts answer on the main thread), so
 * one synchronous stretch stalls the controller's, the engines' and the client's checks together.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client, type EngineChange } from '../../src/index.js';
import { InProcessTransport } from '../../src/testing/index.js';
import { Controller } from '../../src/controller/controller.js';
import { Engine } from '../../src/engine/engine.js';
import { IsolatedNamespace } from '../../src/engine/namespace.js';
import { SilenceClock } from '../../src/util/liveness.js';
import { tempDir } from '../support/cluster.js';

test('SilenceClock: on time it judges as of now, after a stall as of the previous tick', () => {
  const clock = new SilenceClock(100, 0);
  assert.equal(clock.tick(100), 100);
  assert.equal(clock.tick(250), 250, 'a tick late by less than an interval is on time');
  assert.equal(clock.tick(2250), 250, 'after a 2 s stall: as of the tick before it');
  assert.equal(clock.tick(2350), 2350, 'then as of now again');
});

test('an event loop blocked for 3 × the heartbeat timeout: no engine declared dead, no engine stops, the client keeps its controller', { timeout: 60_000 }, async () => {
  const transport = new InProcessTransport();
  const tmp = await tempDir();
  const heartbeatTimeoutMs = 500;
  const controller = await new Controller({ transport, securityDir: tmp.dir, clusterId: 'stall', heartbeatMs: 50, heartbeatTimeoutMs }).start();
  const engines = [
    await new Engine({ transport, info: controller.engineInfo, namespace: new IsolatedNamespace() }).start(),
    await new Engine({ transport, info: controller.engineInfo, namespace: new IsolatedNamespace() }).start(),
  ];
  const client = await Client.connect({ connectionInfo: controller.clientInfo, transport, heartbeatMs: 50, heartbeatTimeoutMs });
  try {
    const changes: EngineChange[] = [];
    client.onEngineChange((e) => changes.push(e));
    let engineStopped = false;
    for (const e of engines) void e.stopped.then(() => (engineStopped = true));
    await new Promise((r) => setTimeout(r, 300));
    const end = Date.now() + 3 * heartbeatTimeoutMs;
    while (Date.now() < end); // the stall: nothing is read, no timer runs
    await new Promise((r) => setTimeout(r, 4 * heartbeatTimeoutMs));
    assert.deepEqual(changes, [], 'no engine was declared dead');
    assert.equal(engineStopped, false, 'no engine stopped itself');
    assert.equal(client.controllerLost, false, 'the client did not declare its controller lost');
    assert.deepEqual(await client.view().apply(() => 'alive'), ['alive', 'alive']);
  } finally {
    await client.close();
    await Promise.all(engines.map((e) => e.stop()));
    await controller.stop();
    await tmp.remove();
  }
});
