/**
 * A host application picks implementations by registering them in the DI container it hands to createCluster.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { container } from 'tsyringe';
import { createCluster, range } from '../../src/index.js';
import {
  builtinLaunchers, defineLauncher, LAUNCHER_REGISTRY, LauncherRegistry, localLauncher, TRANSPORT,
  ZeroMqTransport, type Connection, type LauncherContext, type Transport,
} from '../../src/launchers/index.js';
import { isAlive, tempDir } from '../support/cluster.js';

/** A transport that counts what the host process sends through it. */
class CountingTransport implements Transport {
  readonly name = 'zeromq';
  sent = 0;
  readonly #inner = new ZeroMqTransport();
  listen(address: string) {
    return this.#inner.listen(address);
  }
  async dial(address: string, options: { identity: string }): Promise<Connection> {
    const conn = await this.#inner.dial(address, options);
    return { ...conn, send: (frames) => (this.sent++, conn.send(frames)), setMessageHandler: (h) => conn.setMessageHandler(h), close: () => conn.close() };
  }
  startHeart(address: string, options: { identity: string }) {
    return this.#inner.startHeart(address, options);
  }
}

describe('host overrides through the DI container', () => {
  it('uses a Transport and a launcher registry the host registered', async () => {
    const tmp = await tempDir();
    const host = container.createChildContainer();
    const transport = new CountingTransport();
    host.register(TRANSPORT, { useValue: transport });
    const started: LauncherContext['role'][] = [];
    const registry = new LauncherRegistry();
    for (const plugin of builtinLaunchers) registry.register(plugin);
    // The host's own 'local': the built-in one, recording what it starts.
    registry.register(defineLauncher({
      name: 'local',
      create: (context, options) => {
        started.push(context.role);
        return localLauncher.create(context, localLauncher.options!.parse(options ?? {}));
      },
    }));
    host.register(LAUNCHER_REGISTRY, { useValue: registry });

    const cluster = await createCluster({ n: 2, profileDir: tmp.dir, projectDir: null, container: host });
    try {
      const client = await cluster.connect();
      assert.deepEqual(await client.view().map((x: number) => x * 2, range(4)), [0, 2, 4, 6]);
      assert.deepEqual(started, ['controller', 'engines'], 'the host’s launcher started both parts');
      assert.ok(transport.sent > 0, 'the host’s transport carried the client’s messages');
    } finally {
      const pids = cluster.pids;
      await cluster.stop();
      assert.deepEqual(pids.filter(isAlive), []);
      await tmp.remove();
    }
  });
});
