/**
 * Wire security over real ZeroMQ sockets, with the controller, engines and client in this process (so the drop
 * counters can be read): CURVE keeps out peers without the server's key, and the signature layer (channel, time
 * window, history, signed buffers) drops replayed and tampered messages even where the wire is not encrypted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { curveKeyPair } from 'zeromq';
import { Client, ConfigError, range, TimeoutError } from '../../src/index.js';
import { ZeroMqTransport, type Connection, type Transport } from "../../src/launchers/index.js";
import type { DialOptions } from "../../src/core/transport.js";;
import { InProcessTransport } from '../../src/testing/index.js';
import { Controller } from '../../src/controller/controller.js';
import { Engine } from '../../src/engine/engine.js';
import { IsolatedNamespace } from '../../src/engine/namespace.js';
import { Channels, Session } from '../../src/wire/protocol.js';
import { tempDir, waitUntil } from '../support/cluster.js';

/** A ZeroMQ transport that records every message its connections send: what a capture on the wire would hold. */
class RecordingTransport implements Transport {
  readonly name = 'zeromq';
  readonly sent: { address: string; frames: Buffer[] }[] = [];
  readonly #inner = new ZeroMqTransport();
  listen(address: string, options?: Parameters<Transport['listen']>[1]) {
    return this.#inner.listen(address, options);
  }
  async dial(address: string, options: DialOptions): Promise<Connection> {
    const conn = await this.#inner.dial(address, options);
    return {
      send: (frames) => {
        this.sent.push({ address, frames: frames.map((f) => Buffer.from(f)) });
        conn.send(frames);
      },
      setMessageHandler: (h) => conn.setMessageHandler(h),
      close: () => conn.close(),
      get handshakeError() {
        return conn.handshakeError;
      },
    };
  }
  startHeart(address: string, options: DialOptions) {
    return this.#inner.startHeart(address, options);
  }
  newCurveKeyPair() {
    return this.#inner.newCurveKeyPair();
  }
}

/** Dial `address` as an outsider, send `frames`, and collect what comes back within `waitMs`. */
async function sendAndListen(address: string, frames: Buffer[], options: Partial<DialOptions> = {}, waitMs = 600): Promise<Buffer[][]> {
  const conn = await new ZeroMqTransport().dial(address, { identity: `outsider-${Math.random()}`, ...options });
  const got: Buffer[][] = [];
  conn.setMessageHandler((f) => got.push(f));
  conn.send(frames);
  await new Promise((r) => setTimeout(r, waitMs));
  await conn.close();
  return got;
}

async function startRoles(transport: Transport, options: { curve: boolean; replayWindowMs?: number }) {
  const tmp = await tempDir();
  const controller = await new Controller({ transport, securityDir: tmp.dir, clusterId: 'wire', heartbeatMs: 100, heartbeatTimeoutMs: 1000, ...options }).start();
  const engines = [
    await new Engine({ transport, info: controller.engineInfo, namespace: new IsolatedNamespace() }).start(),
    await new Engine({ transport, info: controller.engineInfo, namespace: new IsolatedNamespace() }).start(),
  ];
  const client = await Client.connect({ connectionInfo: controller.clientInfo, transport });
  const stop = async () => {
    await client.close();
    await Promise.all(engines.map((e) => e.stop()));
    await controller.stop();
    await tmp.remove();
  };
  return { controller, engines, client, stop };
}

describe('CURVE on every socket', () => {
  const transport = new ZeroMqTransport();
  let roles: Awaited<ReturnType<typeof startRoles>>;
  before(async () => (roles = await startRoles(transport, { curve: true })));
  after(() => roles.stop());

  it('runs tasks through the controller and through encrypted direct endpoints', async () => {
    const { controller, client } = roles;
    assert.match(controller.clientInfo.curveServerKey ?? '', /^.{40}$/);
    assert.equal(controller.engineInfo.curveServerKey, controller.clientInfo.curveServerKey);
    assert.ok(!JSON.stringify(controller.clientInfo).includes('secret'), 'no secret key in a connection file');
    for (const id of client.ids) assert.match(client.engines.get(id)!.directKey ?? '', /^.{40}$/, 'each direct endpoint has its own key');
    assert.deepEqual(await client.loadBalancedView().map((x: number) => x * 2, range(6)), [0, 2, 4, 6, 8, 10]);
    await client.view(1).push({ secret: 'kept' });
    assert.equal(await client.view(1).pull('secret'), 'kept');
  });

  it('keeps encrypted heartbeats going: engines outlive several heartbeat timeouts', async () => {
    const { controller, engines } = roles;
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(controller.engines.size, 2, 'the controller still hears both hearts');
    assert.deepEqual(await roles.client.view().apply(() => 'alive'), ['alive', 'alive'], 'and both engines still listen to it');
    assert.equal(engines.length, 2);
  });

  it('a plain (unencrypted) socket cannot talk to the controller or an engine, even with a validly signed message', async () => {
    const { controller, client } = roles;
    const session = new Session(controller.clientInfo.key);
    const connect = () => session.encode(session.message('connect_request', {}), Channels.clientToCluster);
    assert.deepEqual(await sendAndListen(controller.clientInfo.address, connect()), [], 'no answer without CURVE');
    const answered = await sendAndListen(controller.clientInfo.address, connect(), { curveServerKey: controller.clientInfo.curveServerKey });
    assert.equal(answered.length, 1, 'the same request with the server key is answered (the test can fail)');
    const direct = client.engines.get(0)!;
    const execute = () => session.encode(session.message('execute_request', { code: '1' }, { metadata: { target: 0 } }), Channels.clientToEngine(0));
    assert.deepEqual(await sendAndListen(direct.direct!, execute()), [], 'no answer from the direct endpoint without CURVE');
    assert.equal((await sendAndListen(direct.direct!, execute(), { curveServerKey: direct.directKey })).length, 1);
  });

  it('a client or engine with the wrong server key gets nothing through, and a timeout that says why', async () => {
    const { controller } = roles;
    const wrong = curveKeyPair().publicKey;
    const session = new Session(controller.clientInfo.key);
    const frames = session.encode(session.message('connect_request', {}), Channels.clientToCluster);
    assert.deepEqual(await sendAndListen(controller.clientInfo.address, frames, { curveServerKey: wrong }), []);
    await assert.rejects(
      Client.connect({ connectionInfo: { ...controller.clientInfo, curveServerKey: wrong }, transport, timeoutMs: 1500 }),
      (err: unknown) => err instanceof TimeoutError && /CURVE\) handshake failed/.test(err.message) && /curveServerKey/.test(err.message),
    );
    // A connection file without the key (written before CURVE was turned on): the handshake itself says so.
    const { curveServerKey: _dropped, ...plainInfo } = controller.clientInfo;
    await assert.rejects(
      Client.connect({ connectionInfo: plainInfo, transport, timeoutMs: 1500 }),
      (err: unknown) => err instanceof TimeoutError && /requires CURVE encryption/.test(err.message),
    );
    const before = controller.engines.size;
    await assert.rejects(
      new Engine({ transport, info: { ...controller.engineInfo, curveServerKey: wrong }, namespace: new IsolatedNamespace(), registrationTimeoutMs: 1500 }).start(),
      (err: unknown) => err instanceof TimeoutError && /secure handshake failed/.test(err.message) && /curveServerKey/.test(err.message),
    );
    assert.equal(controller.engines.size, before, 'no engine registered with the wrong key');
  });

  it("refuses curve: true on a transport that cannot encrypt, and 'auto' on loopback stays plain", async () => {
    const tmp = await tempDir();
    try {
      await assert.rejects(
        new Controller({ transport: new InProcessTransport(), securityDir: tmp.dir, clusterId: 'x', heartbeatMs: 100, heartbeatTimeoutMs: 1000, curve: true }).start(),
        (err: unknown) => err instanceof ConfigError && /security\.curve is true/.test(err.message),
      );
      const plain = await new Controller({ transport, securityDir: tmp.dir, clusterId: 'y', heartbeatMs: 100, heartbeatTimeoutMs: 1000, curve: 'auto' }).start();
      assert.equal(plain.clientInfo.curveServerKey, undefined);
      await plain.stop();
    } finally {
      await tmp.remove();
    }
  });
});

describe('replay and tampering, on an unencrypted wire (the signature layer alone)', () => {
  const transport = new RecordingTransport();
  let roles: Awaited<ReturnType<typeof startRoles>>;
  before(async () => (roles = await startRoles(transport, { curve: false, replayWindowMs: 1500 })));
  after(() => roles.stop());

  /** The last message the client sent of this type to this address. */
  const captured = (type: string, address: string) => {
    const m = [...transport.sent].reverse().find((s) => s.address === address && Session.peekHeader(s.frames)?.msg_type === type);
    assert.ok(m, `captured a ${type} to ${address}`);
    return m.frames;
  };

  it("a request captured on an engine's direct endpoint is dropped by the controller, and by the engine again", async () => {
    const { controller, engines, client } = roles;
    await client.view(0).execute('globalThis.n = (globalThis.n ?? 0) + 1');
    const frames = captured('execute_request', client.engines.get(0)!.direct!);
    const misrouted = controller.dropped.misrouted;
    assert.deepEqual(await sendAndListen(controller.clientInfo.address, frames), []);
    assert.equal(controller.dropped.misrouted, misrouted + 1);
    const replayed = engines[0]!.dropped.replayed;
    assert.deepEqual(await sendAndListen(client.engines.get(0)!.direct!, frames), []);
    assert.equal(engines[0]!.dropped.replayed, replayed + 1);
    const misroutedOnOther = engines[1]!.dropped.misrouted;
    await sendAndListen(client.engines.get(1)!.direct!, frames);
    assert.equal(engines[1]!.dropped.misrouted, misroutedOnOther + 1, 'nor can it be replayed to another engine');
    assert.deepEqual(await client.view([0, 1]).apply(() => (globalThis as { n?: number }).n), [1, undefined], 'the code ran once');
  });

  it('a captured message replayed after the time window is dropped and counted', async () => {
    const { controller, engines, client } = roles;
    await client.loadBalancedView().apply(() => ((globalThis as { m?: number }).m = ((globalThis as { m?: number }).m ?? 0) + 1));
    const toController = captured('apply_request', controller.clientInfo.address);
    await client.view(1).execute('globalThis.k = (globalThis.k ?? 0) + 1');
    const toEngine = captured('execute_request', client.engines.get(1)!.direct!);
    await new Promise((r) => setTimeout(r, 1700));
    const expired = controller.dropped.expired;
    const engineExpired = engines[1]!.dropped.expired;
    assert.deepEqual(await sendAndListen(controller.clientInfo.address, toController), []);
    assert.deepEqual(await sendAndListen(client.engines.get(1)!.direct!, toEngine), []);
    assert.equal(controller.dropped.expired, expired + 1);
    assert.equal(engines[1]!.dropped.expired, engineExpired + 1);
    const ms = (await client.view().apply(() => (globalThis as { m?: number }).m ?? 0)) as number[];
    assert.equal(ms.reduce((a, b) => a + b, 0), 1, 'the balanced task ran once');
    assert.equal(await client.view(1).pull('k'), 1);
  });

  it('a message whose buffer was changed in transit is dropped by the engine and by the controller', async () => {
    const { controller, engines, client } = roles;
    await client.view(0).push({ data: new Float64Array(1000).fill(1) });
    const frames = captured('apply_request', client.engines.get(0)!.direct!).map((f) => Buffer.from(f));
    const last = frames.at(-1)!;
    last[last.length - 1] ^= 0xff;
    const bad = engines[0]!.dropped.badSignature;
    assert.deepEqual(await sendAndListen(client.engines.get(0)!.direct!, frames), []);
    assert.equal(engines[0]!.dropped.badSignature, bad + 1);
    const badAtController = controller.dropped.badSignature;
    await sendAndListen(controller.clientInfo.address, frames);
    assert.equal(controller.dropped.badSignature, badAtController + 1);
    await waitUntil(async () => ((await client.view(0).pull('data')) as Float64Array)[999] === 1, 2000, 'the pushed data is intact');
  });
});
