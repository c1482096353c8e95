/**
 * One process may hold more than libzmq's default of 1,023 sockets per context: a client has a socket per engine
 * (its direct connections) and a `tsengine --count K` process three per engine, so a client of 1,000 engines, or K
 * above 340, ran out ("Too many open file descriptors", libzmq's own count). Checked with real sockets: 1,100
 * connections and 1,100 hearts dialled from this process, each heard by its listener.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Connection, Heart } from '../../src/core/transport.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import { waitUntil } from '../support/cluster.js';

const transport = new ZeroMqTransport();
const COUNT = 1100;
/** File descriptors the test needs: each socket has a mailbox, each connection an end on either side. */
const FDS_NEEDED = 12_000;

/** This process's limit on open files (Node raises it to the hard limit at start). */
function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
}

describe('many ZeroMQ sockets in one process', () => {
  it(`dials ${COUNT} connections and starts ${COUNT} hearts, past libzmq's default of 1,023 sockets a context`, { timeout: 120_000 }, async (t) => {
    const limit = openFilesLimit();
    if (limit < FDS_NEEDED) return t.skip(`this process may open ${limit} files and the test needs ~${FDS_NEEDED}; raise the hard limit (ulimit -Hn) to run it`);
    const listener = await transport.listen('tcp://127.0.0.1:0');
    const heartListener = await transport.listen('tcp://127.0.0.1:0', { heartbeatsOnly: true });
    const heard = new Set<string>();
    listener.setMessageHandler(({ identity }) => heard.add(identity.toString()));
    const connections: Connection[] = [];
    const hearts: Heart[] = [];
    try {
      for (let i = 0; i < COUNT; i++) {
        const c = await transport.dial(listener.address, { identity: `peer-${i}` });
        connections.push(c);
        c.send([Buffer.from('hello')]);
      }
      for (let i = 0; i < COUNT; i++) hearts.push(await transport.startHeart(heartListener.address, { identity: `heart-${i}` }));
      await waitUntil(() => heard.size === COUNT, 90_000, 'every connection heard');
      await Promise.all(hearts.map((h) => h.ready));
      assert.equal(heard.size, COUNT);
    } finally {
      await Promise.all([...connections.map((c) => c.close()), ...hearts.map((h) => h.close())]);
      await listener.close();
      await heartListener.close();
    }
  });
});
