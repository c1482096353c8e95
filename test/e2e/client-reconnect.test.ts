/**
 * A client whose connection to the controller drops and comes back: what was on the way either side is lost, and
 * ZeroMQ says nothing of it. The client asks the controller again: a reply lost on the way comes again (the
 * controller keeps delivered replies for a while), a request lost on the way fails with an error that names it, and
 * an engine that went away meanwhile is known to be gone. Real processes and sockets: the client dials the controller
 * through a TCP relay on loopback that swallows what is on the way and then resets the connection, as a network path
 * that goes dark and comes back does. Also: results fetched by id from another client (`getResult`, `keepResult`).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { Client, TransportError, TsParallelError, type EngineChange } from '../../src/index.js';
import type { ConnectionInfo } from '../../src/wire/connection.js';
import { parseTcpEndpoint, tcpEndpoint } from '../../src/wire/address.js';
import { isAlive, startTestCluster } from '../support/cluster.js';
import { tcpRelay } from '../support/tcp-relay.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What a promise settles to (its value, or its error), or `still waiting` after `ms`. */
const within = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then((v) => v, (err: unknown) => err), sleep(ms).then(() => 'still waiting')]);

test('a client whose connection dropped and came back gets the replies lost on the way, and is told of lost requests and engines', { timeout: 90_000 }, async (t) => {
  const tc = await startTestCluster(2);
  const info = JSON.parse(await readFile(tc.cluster.clientConnectionFile, 'utf8')) as ConnectionInfo;
  const relay = await tcpRelay(parseTcpEndpoint(info.address)!.port);
  let client: Client | undefined;
  t.after(async () => {
    await client?.close();
    await tc.stop().catch(() => {});
    await relay.close();
  });
  // Not direct: every request and reply goes through the relay.
  client = await Client.connect({ connectionInfo: { ...info, address: tcpEndpoint('127.0.0.1', relay.port) }, direct: false });
  await client.waitForEngines(2, { timeoutMs: 30_000 });
  const changes: EngineChange[] = [];
  client.onEngineChange((c) => changes.push(c));
  const lb = client.loadBalancedView([0]);
  assert.equal(await lb.apply(() => 'through the relay'), 'through the relay');

  // A task that reaches its engine, and whose reply comes while the path is dark.
  const replyLost = lb.apply(() => new Promise((r) => setTimeout(() => r('answered while the path was dark'), 600)));
  await sleep(200);
  relay.goDark();
  // A request that vanishes on the way.
  const requestLost = client.view(0).apply(() => 'never reaches the controller');
  // An engine that dies while nobody can tell the client.
  const doomed = client.engines.get(1)!;
  process.kill(doomed.pid, 'SIGKILL');
  const stillThere = await (async () => {
    for (let i = 0; i < 100 && isAlive(doomed.pid); i++) await sleep(50);
    return isAlive(doomed.pid);
  })();
  assert.equal(stillThere, false, 'the engine process is gone');
  // Long enough for the reply to be swallowed and for the controller to declare engine 1 dead.
  await sleep(2500);
  assert.deepEqual(client.ids, [0, 1], 'the client cannot know yet');
  relay.reset();

  assert.equal(await within(replyLost, 20_000), 'answered while the path was dark');
  const lost = await within(requestLost, 20_000);
  assert.ok(lost instanceof TransportError, `the lost request failed with a TransportError, not: ${String(lost)}`);
  assert.match(lost.message, /was lost on the way to the controller .*submit it again/);
  for (let i = 0; i < 100 && client.ids.length > 1; i++) await sleep(50);
  assert.deepEqual(client.ids, [0], 'the engine that went away is gone from the list');
  assert.match(changes.find((c) => c.type === 'unregistered' && c.id === 1)?.reason ?? '', /connection to the controller was down/);
  assert.ok(relay.connections() >= 2, 'the client had reconnected through the relay');
  assert.equal(client.controllerLost, false);
  assert.equal(await lb.apply(() => 6 * 7), 42, 'and it goes on');
});

test('getResult fetches results by id from any client: kept ones until purged, with clear errors for the others', { timeout: 60_000 }, async (t) => {
  const tc = await startTestCluster(1);
  let other: Client | undefined;
  t.after(async () => {
    await other?.close();
    await tc.stop();
  });
  const lb = tc.client.loadBalancedView();
  const kept = tc.client.loadBalancedView(undefined, { keepResult: true }).map((x: number) => x * 10, [1, 2, 3]);
  assert.deepEqual(await kept, [10, 20, 30]);
  const slow = lb.apply(() => new Promise((r) => setTimeout(() => r('slow'), 500)));

  other = await tc.cluster.connect();
  assert.deepEqual(await other.getResult(kept.msgIds), [[10], [20], [30]], "each task's value (a map's task: its chunk's)");
  assert.deepEqual(await other.getResult(slow.msgIds), ['slow'], 'a task not over yet: the reply comes when it ends');
  assert.equal(await slow, 'slow', 'and its own client still gets it');
  // A task this client still waits for, sent straight to the engine (the controller learns of it when it ends).
  const direct = tc.client.view(0).apply(() => new Promise((r) => setTimeout(() => r('direct'), 300)));
  assert.deepEqual(await tc.client.getResult(direct.msgIds), ['direct']);

  assert.throws(() => other!.getResult('not-an-array' as never), /msgIds must be an array of task ids/);
  assert.equal(await tc.client.purgeResults(kept.msgIds), 3);
  const purged = await within(other.getResult([kept.msgIds[0]!]), 10_000);
  assert.ok(purged instanceof TsParallelError && /unknown to the controller/.test(purged.message), String(purged));
});
