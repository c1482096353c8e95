/**
 * Several tasks per signed message (wire protocol 1.1, src/wire/task-batch.ts) against real processes: a batch's bad
 * tasks are answered one by one while its good ones run; a batch that cannot be read is answered as a whole; an
 * engine's direct endpoint takes no batches; an engine killed while it holds the replies of a batch loses none of
 * its tasks (they run again, marked as retries); and roles of another protocol version are refused with a message
 * naming both versions, whichever side is older.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Router } from 'zeromq';
import { Client, ConfigError, ProtocolError, range } from '../../src/index.js';
import { Engine } from '../../src/engine/engine.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import { readConnectionFile, type ConnectionInfo } from '../../src/wire/connection.js';
import { Channels, PROTOCOL_VERSION, Session, type Message } from '../../src/wire/protocol.js';
import { serialize, deserialize } from '../../src/wire/serialize.js';
import { BATCH_REPLY, BATCH_REQUEST, packRequests, unpackReplies } from '../../src/wire/task-batch.js';
import { isAlive, startTestCluster, waitUntil } from '../support/cluster.js';
import { RawPeer } from '../support/raw-peer.js';

/** This build's protocol version, as a pattern (the refusals name it). */
const THIS_VERSION = PROTOCOL_VERSION.replace('.', '\\.');

/** Every reply a raw peer got, batches unpacked. */
const repliesOf = (peer: RawPeer): Message[] => peer.received.flatMap((m) => (m.header.msg_type === BATCH_REPLY && Array.isArray(m.content.replies) ? unpackReplies(m) : [m]));

/** A cluster of `n` engines, all registered, and a raw peer on its client endpoint; disposing closes both. */
async function clusterWithPeer(n: number) {
  const tc = await startTestCluster(n);
  await tc.client.waitForEngines(n);
  const peer = new RawPeer(tc.client.info.address, tc.client.info.key);
  return {
    client: tc.client,
    peer,
    async [Symbol.asyncDispose]() {
      peer.close();
      await tc[Symbol.asyncDispose]();
    },
  };
}

describe('batches on a real cluster', () => {
  test('a batch\'s bad tasks are answered one by one while its good ones run; an unreadable batch is answered whole', { timeout: 60_000 }, async () => {
    await using cp = await clusterWithPeer(2);
    const { client, peer } = cp;
    const fn = { fn: { source: '(x) => x * 10' } };
    const balanced = { balanced: true };
    const task = (id: string, content: Record<string, unknown>, metadata: Record<string, unknown>, x: number) => ({ header: { msg_id: id, msg_type: 'map_request' }, content, metadata, buffers: serialize([x]) });
    const { content, buffers } = packRequests([
      task('good-1', fn, balanced, 1), task('bad-fn', { fn: 7 }, balanced, 2), task('not-balanced', fn, {}, 3),
      task('bad-flags', fn, { balanced: true, retries: -1 }, 4), task('good-2', fn, balanced, 5),
    ] as unknown as Message[]);
    await peer.send(BATCH_REQUEST, content, { buffers });
    const unreadable = await peer.send(BATCH_REQUEST, { contents: [fn], metadata: [balanced], tasks: [{ id: 'x', type: 'map_request', content: 3, metadata: 0, buffers: [] }] }, { buffers: [Buffer.alloc(0)] });
    await waitUntil(() => repliesOf(peer).length >= 6, 20_000, 'every task and the unreadable batch answered').catch((e) => {
      throw new Error(`${e.message}: got ${JSON.stringify(repliesOf(peer).map((r) => [r.header.msg_type, r.parent.msg_id, r.content]))}`);
    });
    const by = new Map(repliesOf(peer).map((r) => [r.parent.msg_id, r]));
    for (const [id, x] of [['good-1', 1], ['good-2', 5]] as const) {
      assert.equal(by.get(id)!.content.status, 'ok', id);
      assert.deepEqual(deserialize(by.get(id)!.buffers), [x * 10]);
    }
    for (const [id, why] of [['bad-fn', /content.fn must be/], ['not-balanced', /load-balanced tasks only/], ['bad-flags', /metadata.retries must be/]] as const) {
      const error = by.get(id)!.content.error as { name: string; message: string };
      assert.equal(error.name, 'ProtocolError', id);
      assert.match(error.message, why);
    }
    const whole = by.get(unreadable)!;
    assert.equal(whole.header.msg_type, BATCH_REPLY);
    assert.equal(whole.content.status, 'error');
    assert.match((whole.content.error as { message: string }).message, /tasks\[0\].content must index content.contents/);
    // A task id already taken is refused, and the cluster still works.
    const again = packRequests([task('good-1', fn, balanced, 9)] as unknown as Message[]);
    await peer.send(BATCH_REQUEST, again.content, { buffers: again.buffers });
    await waitUntil(() => repliesOf(peer).some((r) => r.parent.msg_id === 'good-1' && r.content.status === 'error'), 10_000, 'the taken id refused');
    assert.deepEqual(await client.loadBalancedView().map((x: number) => x + 1, range(100)), range(1, 101));
    assert.ok((await client.queueStatus() as { dropped: { invalid: number } }).dropped.invalid >= 5);
  });

  test('an engine\'s direct endpoint refuses batches: only the controller sends them', { timeout: 60_000 }, async () => {
    await using tc = await startTestCluster(1);
    const { client } = tc;
    await client.waitForEngines(1);
    const engine = [...client.engines.values()][0]!;
    assert.ok(engine.direct);
    const peer = new RawPeer(engine.direct, client.info.key, Channels.clientToEngine(engine.id));
    try {
      const { content, buffers } = packRequests([{ header: { msg_id: 'd1', msg_type: 'apply_request' }, content: { fn: { source: '() => 1' } }, metadata: {}, buffers: serialize([]) }] as unknown as Message[]);
      const id = await peer.send(BATCH_REQUEST, content, { buffers });
      await waitUntil(() => peer.received.some((m) => m.parent.msg_id === id), 10_000, 'the batch answered');
      const reply = peer.received.find((m) => m.parent.msg_id === id)!;
      assert.equal(reply.content.status, 'error');
      assert.match((reply.content.error as { message: string }).message, /from the controller only/);
      assert.equal(await client.view(engine.id).apply(() => 2), 2, 'the endpoint still works');
    } finally {
      peer.close();
    }
  });

  test('a reply that travels alone says how long its task ran (the controller paces the engine by it)', { timeout: 60_000 }, async () => {
    await using cp = await clusterWithPeer(1);
    const { peer } = cp;
    const source = '() => { const end = performance.now() + 20; while (performance.now() < end); return 1; }';
    const id = await peer.send('apply_request', { fn: { source } }, { metadata: { balanced: true }, buffers: serialize([]) });
    await waitUntil(() => peer.received.some((m) => m.parent.msg_id === id), 10_000, 'the task answered');
    const reply = peer.received.find((m) => m.parent.msg_id === id)!;
    assert.equal(reply.header.msg_type, 'apply_reply');
    assert.equal(reply.content.status, 'ok');
    const { ranMs } = reply.metadata as { ranMs?: number };
    assert.ok(typeof ranMs === 'number' && ranMs >= 20 && ranMs < 60_000, `metadata.ranMs: ${ranMs}`);
  });

  test('an engine killed while it holds the replies of a batch loses no task: they run again, marked as retries', { timeout: 90_000 }, async () => {
    await using tc = await startTestCluster(2, { controller: { heartbeatMs: 1000, heartbeatTimeoutMs: 60_000 } });
    const { client } = tc;
    await client.waitForEngines(2);
    // 32 tasks, 16 on each engine (least load alternates): the quick ones' replies wait behind each engine's last
    // task, which keeps it busy; engine 0 is killed meanwhile.
    const slow = (x: number) => {
      if (x >= 30) {
        const end = Date.now() + 3000;
        while (Date.now() < end);
      }
      return x * 2;
    };
    const ar = client.loadBalancedView(undefined, { retries: 1 }).map(slow, range(32));
    await waitUntil(async () => (await client.taskRecords({ state: 'running' })).length === 32, 10_000, 'every task on an engine');
    await new Promise((r) => setTimeout(r, 1000));
    const victim = client.engines.get(0)!;
    // The tasks still running there as the controller sees it (the first one's reply left at once: nothing was queued behind it yet).
    const onVictim = (await client.taskRecords({ engineId: 0, state: 'running' })).map((r) => r.msgId);
    assert.ok(onVictim.length > 0);
    process.kill(victim.pid, 'SIGKILL');
    await waitUntil(() => !isAlive(victim.pid), 5000, 'the engine exits');
    assert.deepEqual(await ar.get({ timeoutMs: 60_000 }), range(32).map((x) => x * 2));
    const retried = ar.metadata.filter((m) => m.retries === 1).map((m) => m.msgId);
    assert.deepEqual(new Set(retried), new Set(onVictim), 'exactly the killed engine\'s tasks ran again, and say so');
    assert.ok(ar.metadata.every((m) => m.engineId === 1 || m.retries === undefined));
    const records = await client.taskRecords({ msgIds: ar.msgIds });
    assert.equal(records.length, 32);
    assert.ok(records.every((r) => r.state === 'completed'));
  });
});

describe('roles of another protocol version are refused, naming both versions', () => {
  test('the controller refuses an engine and a client of version 1.0', { timeout: 60_000 }, async () => {
    await using tc = await startTestCluster(1);
    const engineInfo = await readConnectionFile(tc.cluster.engineConnectionFile);
    const oldEngine = new RawPeer(engineInfo.address, engineInfo.key, Channels.engineToCluster);
    const oldClient = new RawPeer(tc.client.info.address, tc.client.info.key);
    try {
      const registration = await oldEngine.send('registration_request', { pid: 1, hostname: 'old' }, { version: '1.0' });
      const connect = await oldClient.send('connect_request', {}, { version: '1.0' });
      await waitUntil(() => oldEngine.received.some((m) => m.parent.msg_id === registration) && oldClient.received.some((m) => m.parent.msg_id === connect), 10_000, 'both answered');
      const refusal = oldEngine.received.find((m) => m.parent.msg_id === registration)!;
      assert.equal(refusal.content.status, 'error');
      assert.match(refusal.content.error as string, new RegExp(`this engine speaks wire protocol 1\\.0, this process ${THIS_VERSION}: run the same tsparallel version`));
      const refused = oldClient.received.find((m) => m.parent.msg_id === connect)!;
      assert.equal(refused.content.status, 'error');
      assert.match((refused.content.error as { message: string }).message, /this client speaks wire protocol 1\.0/);
      assert.equal(tc.client.ids.length, 1, 'the old engine was not registered');
    } finally {
      oldEngine.close();
      oldClient.close();
    }
  });

  test('an engine and a client refuse a controller of version 1.0', { timeout: 60_000 }, async () => {
    // A stand-in for an old controller: a raw socket that answers registrations and connects as version 1.0 did.
    const key = 'k'.repeat(64);
    const session = new Session(key);
    const router = new Router({ linger: 0 });
    await router.bind('tcp://127.0.0.1:0');
    const address = router.lastEndpoint!;
    void (async () => {
      try {
        for await (const [identity, ...frames] of router) {
          const msg = session.decode(frames, [Channels.engineToCluster, Channels.clientToCluster]);
          if (!msg) continue;
          const type = msg.header.msg_type === 'registration_request' ? 'registration_reply' : msg.header.msg_type === 'connect_request' ? 'connect_reply' : undefined;
          if (!type) continue;
          const reply = session.message(type, type === 'registration_reply' ? { status: 'ok', id: 0 } : { engines: [] }, { parent: msg.header });
          reply.header.version = '1.0';
          const channel = type === 'registration_reply' ? Channels.controllerToEngine : Channels.controllerToClient;
          await router.send([identity!, ...session.encode(reply, channel)]);
        }
      } catch {
        /* closed */
      }
    })();
    const info: ConnectionInfo = {
      version: 1, transport: 'zeromq', clusterId: '', key, signatureScheme: 'hmac-sha256', role: 'engine', address,
      controller: { pid: process.pid, hostname: 'localhost' }, created: new Date().toISOString(),
    };
    try {
      const engine = new Engine({ transport: new ZeroMqTransport(), info, directAddress: false, registrationTimeoutMs: 10_000 });
      await assert.rejects(engine.start(), (e: Error) => e instanceof ConfigError && new RegExp(`the controller speaks wire protocol 1\\.0, this process ${THIS_VERSION}`).test(e.message));
      await assert.rejects(
        Client.connect({ connectionInfo: { ...info, role: 'client' }, transport: new ZeroMqTransport(), timeoutMs: 10_000 }),
        (e: Error) => e instanceof ProtocolError && /the controller speaks wire protocol 1\.0/.test(e.message),
      );
    } finally {
      router.close();
    }
  });
});
