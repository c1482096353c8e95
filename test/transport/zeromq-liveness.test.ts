/**
 * The ZeroMQ transport's liveness properties, over real sockets on loopback:
 * - the heart is ready once its handshake is done, records each ping it answers, and keeps answering after its
 *   listener goes and comes back, as do the process's other
 *   sockets (they share libzmq's I/O thread: a socket observer closed early once left that thread blocked at the next
 *   disconnect, and no engine came back to a restarted controller);
 * - a listener's send to a peer that reads nothing neither delays its sends to other peers nor loses a message.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { Dealer } from 'zeromq';
import { unpackBatch } from '../../src/transport/batch.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import { waitUntil } from '../support/cluster.js';

const transport = new ZeroMqTransport();

/** A listener that echoes nothing and pings every peer it has heard from, every 20 ms, and counts the echoes. */
async function pinger(address = 'tcp://127.0.0.1:0') {
  const listener = await transport.listen(address);
  const peers = new Map<string, Buffer>();
  let echoes = 0;
  listener.setMessageHandler(({ identity }) => {
    peers.set(identity.toString(), identity);
    echoes++;
  });
  return { listener, peers, echoes: () => echoes };
}

describe('the ZeroMQ transport: liveness', () => {
  it('a heart is ready after its handshake, records the pings it answers, and answers again after its listener comes back; a connection of the same process reconnects too', { timeout: 30_000 }, async () => {
    const identity = `heart-${randomUUID()}`;
    let p = await pinger();
    const address = p.listener.address;
    const heart = await transport.startHeart(address, { identity });
    const other = await transport.dial(address, { identity: `conn-${randomUUID()}` });
    try {
      await heart.ready;
      assert.equal(heart.lastPingAt, 0, 'no ping yet');
      const ping = () => p.listener.send(Buffer.from(identity), [Buffer.from('ping')]);
      const before = Date.now();
      // Pinged until it echoes, as a controller does: the heart being ready (its side of the handshake done) does
      // not mean the listener has its routing id yet, and a ping sent before that is dropped as unroutable (one
      // ping alone made this test fail once in a full run).
      const first = setInterval(ping, 50);
      try {
        ping();
        await waitUntil(() => p.echoes() >= 1, 5000, 'the heart echoes a ping');
      } finally {
        clearInterval(first);
      }
      assert.ok(heart.lastPingAt >= before && heart.lastPingAt <= Date.now(), `the ping's time is recorded: ${heart.lastPingAt}`);

      // The listener goes (a controller killed) and comes back at the same address (restored).
      await p.listener.close();
      await new Promise((r) => setTimeout(r, 300));
      p = await pinger(address);
      other.send([Buffer.from('hello again')]);
      await waitUntil(() => p.peers.size >= 1, 10_000, 'the other connection reaches the new listener');
      const again = Date.now();
      const timer = setInterval(ping, 50);
      try {
        await waitUntil(() => heart.lastPingAt >= again, 10_000, 'the heart answers the new listener');
      } finally {
        clearInterval(timer);
      }
    } finally {
      await heart.close();
      await other.close();
      await p.listener.close();
    }
  });

  it('a send to a peer that reads nothing does not hold up sends to other peers, and loses nothing', { timeout: 60_000 }, async () => {
    const listener = await transport.listen('tcp://127.0.0.1:0');
    const slow = new Dealer({ routingId: 'slow', linger: 0, receiveHighWaterMark: 1 });
    const fast = await transport.dial(listener.address, { identity: 'fast' });
    const seen = new Set<string>();
    listener.setMessageHandler(({ identity }) => seen.add(identity.toString()));
    let fastGot = 0;
    fast.setMessageHandler(() => fastGot++);
    try {
      slow.connect(listener.address);
      await slow.send('hello');
      fast.send([Buffer.from('hello')]);
      await waitUntil(() => seen.size === 2, 10_000, 'both peers connected');
      // 50 MB the slow peer does not read: its pipe and socket buffers fill; the listener's queue must not wait.
      const chunk = Buffer.alloc(100_000, 7);
      const n = 500;
      for (let i = 0; i < n; i++) listener.send(Buffer.from('slow'), [Buffer.from(String(i)), chunk]);
      const sentAt = Date.now();
      listener.send(Buffer.from('fast'), [Buffer.from('to the fast peer')]);
      await waitUntil(() => fastGot === 1, 10_000, 'the fast peer gets its message');
      const fastMs = Date.now() - sentAt;
      assert.ok(fastMs < 2000, `the fast peer was served in ${fastMs} ms, not after the slow peer's backlog`);
      // The slow peer, reading at last, gets every message, in order (some of them batched).
      let next = 0;
      while (next < n) {
        for (const [index, body] of unpackBatch(await slow.receive())) {
          assert.equal(index!.toString(), String(next++));
          assert.equal(body!.length, chunk.length);
        }
      }
    } finally {
      slow.close();
      await fast.close();
      await listener.close();
    }
  });
});
