/**
 * An engine whose connection to the controller drops and comes back while a request to it is on the way: the
 * request is lost (nobody can tell), so without more the task would wait for ever. The engine says it reconnected
 * (a registration naming the controller it had), and that controller treats it as dead: the task fails with EngineDiedError
 * naming why, the engine is told to shut down and exits, and the other engine goes on. Real processes and sockets:
 * the second engine is a `tsengine` whose connection file sends its main connection through a TCP relay on
 * loopback (its heartbeats go straight to the controller), and the relay swallows what is on the way, then resets
 * the connection, as a network path that goes dark and comes back does.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { EngineDiedError, type EngineChange } from '../../src/index.js';
import type { ConnectionInfo } from '../../src/wire/connection.js';
import { parseTcpEndpoint, tcpEndpoint } from '../../src/wire/address.js';
import { isAlive, repoRoot, startTestCluster } from '../support/cluster.js';
import { tcpRelay } from '../support/tcp-relay.js';

test('an engine whose connection dropped with a request on the way is stopped, and the task fails instead of waiting for ever', { timeout: 90_000 }, async (t) => {
  const tc = await startTestCluster(1);
  const info = JSON.parse(await readFile(tc.cluster.engineConnectionFile, 'utf8')) as ConnectionInfo;
  const relay = await tcpRelay(parseTcpEndpoint(info.address)!.port);
  const relayedFile = path.join(tc.dir, 'engine-via-relay.json');
  await writeFile(relayedFile, JSON.stringify({ ...info, address: tcpEndpoint('127.0.0.1', relay.port) }), { mode: 0o600 });
  const engine = spawn(process.execPath, [path.join(repoRoot(), 'dist', 'src', 'cli', 'tsengine.js'), '--connection-file', relayedFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  engine.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => engine.once('exit', (code) => resolve(code)));
  t.after(async () => {
    if (isAlive(engine.pid!)) engine.kill('SIGKILL');
    await tc.stop().catch(() => {});
    await relay.close();
  });
  const { client } = tc;
  await client.waitForEngines(2, { timeoutMs: 30_000 });
  const relayed = [...client.engines.values()].find((e) => e.pid === engine.pid)!;
  assert.ok(relayed, 'the relayed engine registered');
  const changes: EngineChange[] = [];
  client.onEngineChange((c) => changes.push(c));
  const balanced = client.loadBalancedView([relayed.id]);
  assert.equal(await balanced.apply(() => 'through the relay'), 'through the relay');

  relay.goDark();
  const lost = balanced.apply(() => 'never seen').then(
    () => undefined,
    (err: unknown) => err,
  );
  // Give the request time to leave the controller and vanish in the relay, then let the path come back.
  await new Promise((r) => setTimeout(r, 500));
  relay.reset();
  const outcome = await Promise.race([lost, new Promise((r) => setTimeout(() => r('still waiting'), 20_000))]);
  assert.ok(outcome instanceof EngineDiedError, `the task failed with EngineDiedError, not: ${String(outcome)}`);
  assert.equal(outcome.engineId, relayed.id);
  assert.match(outcome.message, /connection to the controller dropped and came back/);
  assert.match(changes.find((c) => c.type === 'unregistered' && c.id === relayed.id)?.reason ?? '', /dropped and came back/, 'clients are told why');

  assert.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r('running'), 20_000))]), 0, `the engine was told to shut down and did: ${stderr}`);
  assert.ok(relay.connections() >= 2, 'the engine had reconnected through the relay');
  assert.deepEqual(client.ids, [0]);
  assert.equal(await client.view(0).apply(() => 6 * 7), 42, 'the other engine goes on');
});
