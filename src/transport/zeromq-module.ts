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
import type * as ZeroMq from 'zeromq';

const requireHere = createRequire(import.meta.url);
const zeromq = requireHere('zeromq') as typeof ZeroMq;

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
