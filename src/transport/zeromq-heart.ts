/**
 * The worker thread behind a ZeroMQ engine heart: it echoes every ping the controller sends, whatever the engine's
 * main thread is doing, and tells the main thread a ping arrived. Started by `ZeroMqTransport.startHeart`.
 * @module
 * @internal
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Dealer } from 'zeromq';

const { address, identity } = workerData as { address: string; identity: string };
const socket = new Dealer({ routingId: identity, linger: 0 });
socket.connect(address);
let closed = false;
parentPort!.on('message', (msg) => {
  if (msg === 'close') {
    closed = true;
    socket.close();
    parentPort!.close();
  }
});
try {
  for await (const frames of socket) {
    await socket.send(frames);
    parentPort!.postMessage('ping');
  }
} catch (err) {
  if (!closed) throw err;
}
