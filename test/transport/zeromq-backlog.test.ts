/**
 * A ZeroMQ listener lets many connections wait to be accepted (ZMQ_BACKLOG): with libzmq's default of 100, hundreds
 * of engines connecting at once overflowed it, the kernel dropped the rest, and their retries came seconds later (the
 * W8 bench saw ~180 overflows per 1,000-engine start, and engines that gave up registering under load). Checked on
 * real sockets: the listening socket's backlog as the kernel reports it (`ss`), and 1,000 peers connecting at once,
 * every one heard, with no listen overflow counted by the kernel meanwhile.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Dealer } from 'zeromq';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import { waitUntil } from '../support/cluster.js';

const transport = new ZeroMqTransport();

/** The kernel's count of connections dropped because a listen queue was full (all sockets of this network namespace). */
function listenOverflows(): number {
  const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const names = lines.find((l) => l.startsWith('TcpExt:'))!.split(/\s+/);
  const values = lines.filter((l) => l.startsWith('TcpExt:'))[1]!.split(/\s+/);
  return Number(values[names.indexOf('ListenOverflows')]);
}

/** The backlog of the socket listening on `port`, as `ss` reports it (Send-Q of a listening socket), or undefined without `ss`. */
function backlogOf(port: number): number | undefined {
  let out: string;
  try {
    out = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' });
  } catch {
    return undefined;
  }
  const fields = out.trim().split(/\s+/);
  return Number(fields[2]);
}

describe('ZeroMQ listeners and many connections at once', () => {
  it('listen with a backlog of thousands (as far as net.core.somaxconn allows), the heartbeat endpoint too', async (t) => {
    const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
    for (const options of [{}, { heartbeatsOnly: true }]) {
      const listener = await transport.listen('tcp://127.0.0.1:0', options);
      try {
        const backlog = backlogOf(Number(/:(\d+)$/.exec(listener.address)![1]));
        if (backlog === undefined) return t.skip('`ss` (iproute2) is not installed, so the backlog cannot be read');
        assert.equal(backlog, Math.min(4096, somaxconn), `backlog of a listener with ${JSON.stringify(options)}`);
      } finally {
        await listener.close();
      }
    }
  });

  it('hears 1,000 peers that connect at once, with no connection dropped by a full listen queue', { timeout: 60_000 }, async () => {
    const listener = await transport.listen('tcp://127.0.0.1:0');
    const heard = new Set<string>();
    listener.setMessageHandler(({ identity }) => heard.add(identity.toString()));
    const peers: Dealer[] = [];
    const before = listenOverflows();
    try {
      for (let i = 0; i < 1000; i++) {
        const peer = new Dealer({ routingId: `peer-${i}`, linger: 0 });
        peer.connect(listener.address);
        peers.push(peer);
      }
      await Promise.all(peers.map((p) => p.send('hello')));
      await waitUntil(() => heard.size === 1000, 50_000, 'every peer heard');
      assert.equal(listenOverflows() - before, 0, 'connections dropped because the listen queue was full');
    } finally {
      for (const p of peers) p.close();
      await listener.close();
    }
  });
});
