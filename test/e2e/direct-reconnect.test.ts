/**
 * A client whose direct connection to an engine (requests sent straight to it, not through the controller) drops and
 * comes back: what was on the way either side is lost, and ZeroMQ says nothing of it. The client asks the engine
 * again: a reply lost on the way comes again (the engine keeps its recent direct replies), a request that never
 * reached the engine fails with an error that names it, and a task still running is answered as usual. Real sockets:
 * the engine (in this process, over the ZeroMQ transport) advertises a TCP relay on loopback as its direct endpoint;
 * the relay swallows what is on the way and then resets the connection, as a network path that goes dark and comes
 * back does. The controller and the client's connection to it are not relayed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { test } from 'node:test';
import { TransportError } from '../../src/index.js';
import { Engine } from '../../src/engine/engine.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import type { ConnectionInfo } from '../../src/wire/connection.js';
import { tcpEndpoint } from '../../src/wire/address.js';
import { startTestCluster, waitUntil } from '../support/cluster.js';
import { tcpRelay } from '../support/tcp-relay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What a promise settles to (its value, or its error), or `still waiting` after `ms`. */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then((v) => v, (err: unknown) => err), sleep(ms).then(() => 'still waiting')]);

/** A TCP port free on loopback now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('a client whose direct connection to an engine dropped and came back gets the replies lost on the way, and is told of lost requests', { timeout: 90_000 }, async (t) => {
  const tc = await startTestCluster(1);
  const info = JSON.parse(await readFile(tc.cluster.engineConnectionFile, 'utf8')) as ConnectionInfo;
  const port = await freePort();
  const relay = await tcpRelay(port);
  const engine = await new Engine({
    transport: new ZeroMqTransport(),
    info,
    directAddress: tcpEndpoint('127.0.0.1', port),
    directAdvertised: tcpEndpoint('127.0.0.1', relay.port),
  }).start();
  t.after(async () => {
    await engine.stop();
    await tc.stop().catch(() => {});
    await relay.close();
  });
  const { client } = tc;
  await waitUntil(() => client.ids.includes(engine.id), 30_000, 'the client knows the engine');
  const view = client.view(engine.id);
  assert.equal(await view.apply(() => 'straight to the engine'), 'straight to the engine');
  // The client's reachability probe and its connection, both through the relay.
  const connectedBefore = relay.connections();
  assert.ok(connectedBefore >= 1, 'the client reached the engine through the relay (its direct endpoint)');

  // A task whose reply comes while the path is dark, and one still waiting its turn or running when the path comes
  // back (an engine runs one request at a time).
  const replyLost = view.apply(() => new Promise((r) => setTimeout(() => r('answered while the path was dark'), 400)));
  const running = view.apply(() => new Promise((r) => setTimeout(() => r('answered after the path came back'), 2500)));
  await sleep(200);
  relay.goDark();
  // A request that vanishes on the way.
  const requestLost = view.apply(() => 'never reaches the engine');
  await sleep(1000);
  relay.reset();

  assert.equal(await within(replyLost, 20_000), 'answered while the path was dark');
  const lost = await within(requestLost, 20_000);
  assert.ok(lost instanceof TransportError, `the lost request failed with a TransportError, not: ${String(lost)}`);
  assert.match(lost.message, /lost on the direct connection to engine \d+ .*run it again/);
  assert.equal(await within(running, 20_000), 'answered after the path came back');
  assert.ok(relay.connections() > connectedBefore, 'the client had reconnected through the relay');
  assert.ok(client.ids.includes(engine.id), 'the engine was not taken for dead');
  assert.equal(await view.apply(() => 6 * 7), 42, 'and it goes on');
});
