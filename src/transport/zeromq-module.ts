/**
 * The zeromq package, loaded with `require`: the one place this library loads it. zeromq is CommonJS, and an ES
 * `import` of a CommonJS package makes Node resolve its exports map and parse its source for named exports before
 * running it; `require` only runs it. Measured on the 2-core bench machine, in fresh processes (5 each): 21-25 ms of
 * CPU to import it, 11-14 ms to require it. Every controller, engine and client process pays this once at start, and
 * 16 engines starting together share two cores.
 * @internal
 * @module
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import type * as ZeroMq from 'zeromq';

const requireHere = createRequire(import.meta.url);
const zeromq = requireHere('zeromq') as typeof ZeroMq;

/**
 * Two I/O threads in the process's default context (one on a single-CPU machine), set before any socket of ours
 * exists. libzmq gives each connection to the least busy I/O thread, and that thread does all of the connection's
 * framing, copying and (with CURVE) encryption; with one thread a client's connections to several engines take
 * turns on it, and bulk transfers to them (push, scatter, pull, gather) are bound by that one core. Measured on the
 * 2-core bench machine (W5, 2 engines, 100 MB each; bench/RESULTS.md, optimisation 14): with CURVE about 1.5 x the
 * MB/s for push and scatter and 1.2-1.3 x for pull and gather; without it pull 1.1-1.25 x, the others within their
 * spread. W2, W3 and W6 did not move beyond their spread; an idle engine has one more thread and the same resident
 * memory. A process that made zeromq sockets before loading this keeps the context it started (libzmq reads the
 * setting once).
 */
try {
  zeromq.context.ioThreads = Math.min(2, availableParallelism());
} catch {
  // The context has started already: it keeps its threads.
}

/**
 * Up to 16,384 sockets per context, not libzmq's default of 1,023: a client talks to each engine over a socket of
 * its own (direct connections), and a `tsengine --count K` process has three per engine, so 1,000 engines in a
 * client, or K above 340, ran out ("Too many open file descriptors", from libzmq's count, whatever the process's
 * file limit). Not libzmq's most (ZMQ_SOCKET_LIMIT, 65,535 on Linux): its table of that many sockets cost each
 * process ~1.5 MB more resident memory for its two contexts, against none measurable at 16,384. Set before any
 * socket, like the I/O threads; a context made later takes it from {@link MAX_SOCKETS}.
 */
export const MAX_SOCKETS = Math.min(16_384, zeromq.context.maxSocketsLimit);
try {
  zeromq.context.maxSockets = MAX_SOCKETS;
} catch {
  // The context has started already: it keeps its limit.
}

/** zeromq's `Context`. */
export const Context = zeromq.Context;
/** A zeromq context. */
export type Context = ZeroMq.Context;
/** zeromq's `Dealer` socket. */
export const Dealer = zeromq.Dealer;
/** A zeromq DEALER socket. */
export type Dealer = ZeroMq.Dealer;
/** zeromq's `Router` socket. */
export const Router = zeromq.Router;
/** A zeromq ROUTER socket. */
export type Router = ZeroMq.Router;
/** Any zeromq socket. */
export type Socket = ZeroMq.Socket;
/** What this build of libzmq supports (CURVE among it). */
export const capability = zeromq.capability;
/** A fresh CURVE key pair, Z85-encoded. */
export const curveKeyPair = zeromq.curveKeyPair;
