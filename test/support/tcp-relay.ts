/**
 * A TCP relay on loopback, standing for a network path between a dialler and a listener that can misbehave the way
 * real paths do: drop one side of every connection (a firewall or NAT forgetting it), swallow what is on the way
 * (a path that goes dark), or reset every connection. New connections are relayed normally whatever happened.
 */
import net from 'node:net';

/** A relay to `127.0.0.1:port`; see the module's description. */
export async function tcpRelay(port: number) {
  let pairs: { down: net.Socket; up: net.Socket }[] = [];
  let relayed = 0;
  let dark = false;
  const server = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    // Not pipe(): a dark path must be able to swallow bytes already read.
    down.on('data', (chunk) => void (dark || up.write(chunk)));
    up.on('data', (chunk) => void (dark || down.write(chunk)));
    // A side that goes is the relay's business only: the other side stays as it is unless the relay ends it.
    down.on('error', () => {});
    up.on('error', () => {});
    pairs.push({ down, up });
    relayed++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Connections relayed so far, all told. */
    connections: () => relayed,
    /** Drop the dialler's side of every connection so far; the listener's side stays open and silent. */
    cutDialSide() {
      for (const { down, up } of pairs) {
        down.removeAllListeners('data');
        up.removeAllListeners('data');
        down.destroy();
      }
    },
    /** From now on, swallow what either side sends on the connections so far (`reset()` ends them). */
    goDark() {
      dark = true;
    },
    /** Reset both sides of every connection so far; new ones are relayed normally again. */
    reset() {
      for (const { down, up } of pairs) {
        down.resetAndDestroy();
        up.resetAndDestroy();
      }
      pairs = [];
      dark = false;
    },
    async close() {
      for (const { down, up } of pairs) {
        down.destroy();
        up.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
