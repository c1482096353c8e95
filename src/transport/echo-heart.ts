/**
 * A heart that answers pings on the thread that reads its connection, for transports and engines that have no
 * thread of their own to give it: the in-process transport (its engines share the host's thread anyway) and
 * `tsengine --count K` (K hearts in one process; a worker thread each would cost K threads).
 * @module
 * @internal
 */
import type { Connection, Heart } from '../core/transport.js';
import { heartStatsFrame } from '../wire/heart-stats.js';

/**
 * Answer every message on `connection` (the controller's pings) with its frames followed by this process's resource
 * sample (see `src/wire/heart-stats.ts`). Closing the heart closes the connection.
 * @internal
 */
export function echoHeart(connection: Connection): Heart {
  const heart = { lastPingAt: 0, ready: Promise.resolve(), close: () => connection.close() };
  connection.setMessageHandler((frames) => {
    heart.lastPingAt = Date.now();
    connection.send([...frames, heartStatsFrame()]);
  });
  return heart;
}
