/**
 * The ZeroMQ transport when a connection breaks at one end only, over real sockets on loopback: a TCP relay between a
 * dialling connection and its listener stands for a network path (a firewall, a NAT) that drops the dialler's side of
 * the connection while the listener's side stays open and silent. The dialler reconnects under the same identity; the
 * listener must then talk to it over the new connection (without ZeroMQ's `handover` it refused the new one and kept
 * sending into the old: nothing got through again, in either direction). And every connection has TCP keepalive, so
 * such a path sees traffic on idle connections and a vanished peer is found.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import { parseTcpEndpoint, tcpEndpoint } from '../../src/wire/address.js';
import { waitUntil } from '../support/cluster.js';
import { tcpRelay } from '../support/tcp-relay.js';

const transport = new ZeroMqTransport();

/** The kernel's timers of the established TCP connections from or to `port` (`ss -o`: `timer:(keepalive,…)`). */
function tcpTimers(port: number): string[] {
  const out = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${port} or dport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((line) => line.trim() !== '');
}

describe('the ZeroMQ transport: a connection broken at one end', () => {
  it('a dialler that reconnects under its identity is heard, and answered, over its new connection', { timeout: 30_000 }, async () => {
    const listener = await transport.listen('tcp://127.0.0.1:0');
    const listenPort = parseTcpEndpoint(listener.address)!.port;
    const path = await tcpRelay(listenPort);
    const identity = `engine-${randomUUID()}`;
    const atListener: string[] = [];
    const atDialler: string[] = [];
    listener.setMessageHandler(({ frames }) => atListener.push(frames[0]!.toString()));
    const connection = await transport.dial(tcpEndpoint('127.0.0.1', path.port), { identity });
    connection.setMessageHandler((frames) => atDialler.push(frames[0]!.toString()));
    try {
      connection.send([Buffer.from('before')]);
      await waitUntil(() => atListener.includes('before'), 10_000, 'the listener hears the dialler');
      listener.send(Buffer.from(identity), [Buffer.from('reply before')]);
      await waitUntil(() => atDialler.includes('reply before'), 10_000, 'the dialler hears the listener');

      // Both ends' sockets have keepalive on (the relay's own sockets do not: only ZeroMQ's are counted). `ss` shows one
      // timer per socket, and while a segment waits for its (delayed) ACK that is the retransmission timer, `on`: so
      // each end is read until its keepalive timer shows, for up to 5 s (a socket without keepalive never shows one).
      for (const [end, port] of [['dialler', path.port], ['listener', listenPort]] as const) {
        let timers: string[] = [];
        await waitUntil(() => (timers = tcpTimers(port)).some((line) => line.includes('keepalive')), 5000, `the ${end}'s connection has TCP keepalive`).catch(() => {});
        assert.ok(timers.some((line) => line.includes('keepalive')), `the ${end}'s connection has TCP keepalive: ${timers.join(' | ')}`);
      }

      path.cutDialSide();
      await waitUntil(() => path.connections() >= 2, 10_000, 'the dialler reconnects through the relay');
      // Sent until heard: a message the dialler sends before its new connection's handshake is done may wait, but
      // one sent after it must arrive.
      const again = setInterval(() => connection.send([Buffer.from('after')]), 100);
      try {
        await waitUntil(() => atListener.includes('after'), 10_000, 'the listener hears the reconnected dialler');
      } finally {
        clearInterval(again);
      }
      listener.send(Buffer.from(identity), [Buffer.from('reply after')]);
      await waitUntil(() => atDialler.includes('reply after'), 10_000, "the listener's reply takes the new connection");
    } finally {
      await connection.close();
      await listener.close();
      await path.close();
    }
  });
});
