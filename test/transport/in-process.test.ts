/**
 * The whole runtime in one process over the in-process transport: controller, engines with isolated namespaces,
 * client. Same semantics as ZeroMQ.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, range, RemoteError } from '../../src/index.js';
import { InProcessTransport } from '../../src/testing/index.js';
import { Controller } from '../../src/controller/controller.js';
import { Engine } from '../../src/engine/engine.js';
import { IsolatedNamespace } from '../../src/engine/namespace.js';
import { Channels, Session } from '../../src/wire/protocol.js';
import { tempDir } from '../support/cluster.js';

describe('the in-process transport', () => {
  const transport = new InProcessTransport();
  let controller: Controller;
  let engines: Engine[];
  let client: Client;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    tmp = await tempDir();
    controller = await new Controller({ transport, securityDir: tmp.dir, clusterId: 'inproc', heartbeatMs: 100, heartbeatTimeoutMs: 2000 }).start();
    engines = [];
    for (let i = 0; i < 3; i++) engines.push(await new Engine({ transport, info: controller.engineInfo, namespace: new IsolatedNamespace() }).start());
    client = await Client.connect({ connectionInfo: controller.clientInfo, transport });
  });
  after(async () => {
    await client.close();
    await Promise.all(engines.map((e) => e.stop()));
    await controller.stop();
    await tmp.remove();
  });

  it('registers engines and maps in order', async () => {
    assert.deepEqual(client.ids, [0, 1, 2]);
    assert.deepEqual(await client.view().map((x: number) => x ** 10, range(15)), range(15).map((x) => x ** 10));
  });

  it('gives each engine its own namespace', async () => {
    await client.view(0).push({ who: 'zero' });
    await client.view(1).push({ who: 'one' });
    assert.deepEqual(await client.view([0, 1]).pull('who'), ['zero', 'one']);
    await assert.rejects(client.view(2).pull('who'), (e: unknown) => e instanceof RemoteError && e.remoteName === 'ReferenceError');
    assert.equal((globalThis as Record<string, unknown>).who, undefined, 'the host process namespace is untouched');
  });

  it('captures console output per engine and round-trips typed arrays', async () => {
    const ar = client.view().apply((a: Float64Array) => {
      console.log('sum', a.reduce((s, x) => s + x, 0));
      return a.map((x) => x * 2);
    }, new Float64Array([1, 2, 3]));
    const out = (await ar) as Float64Array[];
    assert.deepEqual(ar.stdout, ['sum 6\n', 'sum 6\n', 'sum 6\n']);
    assert.ok(out.every((v) => v instanceof Float64Array && v[2] === 6));
  });

  it('copies frames: an engine changing pushed data does not change the client’s', async () => {
    const data = new Float64Array(100_000).fill(1);
    await client.view(0).push({ data });
    await client.view(0).execute('data.fill(7)');
    assert.equal(data[0], 1);
    assert.equal(((await client.view(0).pull('data')) as Float64Array)[0], 7);
  });

  it('drops and counts messages signed with the wrong key', async () => {
    const before = controller.dropped.badSignature;
    const rogue = await transport.dial(controller.clientInfo.address, { identity: 'rogue' });
    const session = new Session('0'.repeat(64));
    rogue.send(session.encode(session.message('connect_request', {}), Channels.clientToCluster));
    rogue.send(session.encode(session.message('shutdown_request', {}), Channels.clientToCluster));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(controller.dropped.badSignature, before + 2);
    assert.deepEqual(client.ids, [0, 1, 2], 'the shutdown request was not obeyed');
    await rogue.close();
  });
});
