/**
 * Addresses across hosts: what a role advertises, which route a client takes to an engine, and the cluster's
 * placement decisions. Real sockets on loopback (a listening server, a port nobody listens on).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { describe, it, before, after } from 'node:test';
import {
  advertisedEndpoint,
  chooseEngineRoute,
  engineDirectBind,
  firstExternalIPv4,
  isLoopbackHost,
  localAddressToward,
  parseTcpEndpoint,
  probeEndpoint,
} from '../../src/wire/address.js';
import { CONNECTION_INFO_ENV, connectionInfoFromEnv } from '../../src/wire/connection-env.js';
import { controllerBindIp, crossHostProblems, engineConnection } from '../../src/cluster/placement.js';
import { defaultConfig } from '../../src/config/index.js';
import { toControllerArgs } from '../../src/controller/main.js';
import type { ConnectionInfo } from '../../src/wire/connection.js';
import { ConfigError } from '../../src/core/errors.js';

/** A port that was free a moment ago: bound, then closed. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

describe('addresses', () => {
  let server: Server;
  let live: string;
  let dead: string;
  before(async () => {
    server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    live = `tcp://127.0.0.1:${(server.address() as { port: number }).port}`;
    dead = `tcp://127.0.0.1:${await deadPort()}`;
  });
  after(() => new Promise((r) => server.close(r)));

  it('takes tcp endpoints apart, IPv6 included, and leaves others alone', () => {
    assert.deepEqual(parseTcpEndpoint('tcp://10.77.0.2:5555'), { host: '10.77.0.2', port: 5555 });
    assert.deepEqual(parseTcpEndpoint('tcp://[::1]:7'), { host: '::1', port: 7 });
    assert.equal(parseTcpEndpoint('inproc://controller-1'), undefined);
    assert.ok(isLoopbackHost('127.0.0.1') && isLoopbackHost('127.3.4.5') && isLoopbackHost('::1') && !isLoopbackHost('10.77.0.2'));
  });

  it('advertises location when given, a reachable address for a wildcard bind, and a concrete bind as is', () => {
    assert.equal(advertisedEndpoint('tcp://0.0.0.0:5000', 'head.cluster'), 'tcp://head.cluster:5000');
    assert.equal(advertisedEndpoint('tcp://127.0.0.1:5000'), 'tcp://127.0.0.1:5000');
    const wildcard = parseTcpEndpoint(advertisedEndpoint('tcp://0.0.0.0:5000'))!;
    assert.equal(wildcard.port, 5000);
    assert.equal(wildcard.host, firstExternalIPv4() ?? hostname());
    assert.ok(!isLoopbackHost(wildcard.host), 'a wildcard bind is never advertised as loopback');
  });

  it('probes: a listening port answers, a closed one does not, and neither throws', async () => {
    assert.equal(await probeEndpoint(live, 2000), true);
    assert.equal(await probeEndpoint(dead, 2000), false);
    assert.equal(await probeEndpoint('inproc://x'), true);
  });

  it('finds the local address toward a controller, and engines keep loopback beside a loopback controller', async () => {
    assert.equal(await localAddressToward(live), '127.0.0.1');
    assert.equal(await localAddressToward(dead), undefined);
    assert.equal(await engineDirectBind('tcp://127.0.0.1:5555'), 'tcp://127.0.0.1:0');
    assert.equal(await engineDirectBind('inproc://c'), 'tcp://127.0.0.1:0');
  });

  it('routes to an engine directly only when its endpoint can be reached from here', async () => {
    const here = hostname();
    assert.equal(await chooseEngineRoute({ hostname: here, direct: live }), 'direct');
    assert.equal(await chooseEngineRoute({ hostname: here, direct: dead }), 'controller', 'same host, nobody listening');
    // Loopback of another host is somebody else here: never dialled, even though this port answers.
    assert.equal(await chooseEngineRoute({ hostname: 'node1', direct: live }, { thisHost: here }), 'controller');
    assert.equal(await chooseEngineRoute({ hostname: here }), 'controller', 'no direct endpoint');
    assert.equal(await chooseEngineRoute({ hostname: here, direct: 'inproc://e' }), 'direct');
    assert.equal(await chooseEngineRoute({ hostname: 'node1', direct: 'inproc://e' }), 'controller');
  });
});

describe('placement', () => {
  const local = { controllerRemote: false, enginesRemote: false };
  const remoteEngines = { controllerRemote: false, enginesRemote: true };

  it('binds every interface for remote launchers unless controller.ip was configured; local clusters keep loopback', () => {
    const config = defaultConfig();
    assert.equal(controllerBindIp(config, local, false), '127.0.0.1');
    assert.equal(controllerBindIp(config, remoteEngines, false), '0.0.0.0');
    assert.equal(controllerBindIp(config, remoteEngines, true), '127.0.0.1');
    assert.equal(controllerBindIp(config, { controllerRemote: true, enginesRemote: false }, false), '0.0.0.0');
    config.controller.location = 'head';
    const args = toControllerArgs({ profileDir: '/p', clusterId: '', controller: { ...config.controller, ip: '0.0.0.0' }, security: config.security, leaseMs: 5000 });
    assert.deepEqual(args.slice(args.indexOf('--ip'), args.indexOf('--ip') + 4), ['--ip', '0.0.0.0', '--location', 'head']);
    assert.deepEqual(args.slice(-2), ['--lease-ms', '5000']);
  });

  it('warns, with the fix, when roles are remote but the advertised address is loopback', () => {
    const config = defaultConfig();
    assert.deepEqual(crossHostProblems(config, local, true), []);
    assert.deepEqual(crossHostProblems(config, remoteEngines, false), [], 'the default becomes a wildcard bind');
    const [problem] = crossHostProblems(config, remoteEngines, true);
    assert.match(problem!, /advertises a loopback address .*controller\.ip '127\.0\.0\.1'.*Fix: remove controller\.ip/);
    config.controller.location = 'localhost';
    assert.match(crossHostProblems(config, remoteEngines, false)[0]!, /controller\.location 'localhost'/);
  });

  it('gives remote engines their connection info in the environment and local ones the file path', async () => {
    const info = { version: 1, role: 'engine', transport: 'zeromq', key: 'k'.repeat(64), address: 'tcp://10.77.0.2:1' } as ConnectionInfo;
    assert.deepEqual(await engineConnection(false, '/p/security/e.json', info), { args: ['--connection-file', '/p/security/e.json'], env: {} });
    // Local engines may start before the file exists: its content is not read for them.
    const unread = () => Promise.reject(new Error('read the connection file for a local engine'));
    assert.deepEqual(await engineConnection(false, '/p/security/e.json', unread), { args: ['--connection-file', '/p/security/e.json'], env: {} });
    assert.deepEqual((await engineConnection(true, '/p/security/e.json', async () => info)).env, (await engineConnection(true, '/p/security/e.json', info)).env);
    const remote = await engineConnection(true, '/p/security/e.json', info);
    assert.deepEqual(remote.args, []);
    assert.deepEqual(connectionInfoFromEnv(remote.env), info);
    assert.equal(connectionInfoFromEnv({}), undefined);
    assert.throws(() => connectionInfoFromEnv({ [CONNECTION_INFO_ENV]: '{"key":"x"}' }), (e: unknown) => e instanceof ConfigError && /no 'transport'/.test(e.message));
    assert.throws(() => connectionInfoFromEnv({ [CONNECTION_INFO_ENV]: 'not json' }), ConfigError);
  });
});
