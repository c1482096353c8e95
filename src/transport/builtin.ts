/**
 * The built-in transports by name. A module of its own, so the role commands (`tsengine`, `tscontroller`) load the
 * transports without the composition root's launchers, config schema and dependency container: an engine process
 * starts in about half the CPU time that way (bench/RESULTS.md, "Start-up").
 * @module
 */
import { ConfigError } from '../core/errors.js';
import type { Transport, TransportFactory } from '../core/transport.js';
import { InProcessTransport } from './in-process.js';
import { ZeroMqTransport } from './zeromq.js';

/** The built-in transports by name: `zeromq` and `in-process`. */
export const defaultTransports: TransportFactory = {
  create(name: string): Transport {
    if (name === 'zeromq') return new ZeroMqTransport();
    if (name === 'in-process') return new InProcessTransport();
    throw new ConfigError(`unknown transport '${name}'; known transports: zeromq, in-process`);
  },
};
