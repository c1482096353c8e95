/**
 * A heart that answers pings on the thread that reads its connection: every transport's heart (the ZeroMQ one over a
 * connection whose liveness libzmq itself probes, see `ListenOptions.probe`).
 * @module
 * @internal
 */
import type { Connection, Heart } from '../core/transport.js';
import { heartStatsFrame } from '../wire/heart-stats.js';

/**
 * Answer every message on `connection` (the controller's pings) with its frames followed by this process's resource
 * sample (see `src/wire/heart-stats.ts`). Closing the heart closes the connection. `ready`: when the connection is up
 * (the transport's handshake), for {@link Heart.ready}; at once by default.
 * @internal
 */
export function echoHeart(connection: Connection, ready: Promise<void> = Promise.resolve()): Heart {
  const heart = { lastPingAt: 0, ready, close: () => connection.close() };
  connection.setMessageHandler((frames) => {
    heart.lastPingAt = Date.now();
    connection.send([...frames, heartStatsFrame()]);
  });
  return heart;
}
