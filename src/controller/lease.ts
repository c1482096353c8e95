/**
 * The owner lease, controller side: how a controller on any host knows that the cluster which started it still lives,
 * without watching a process id (a pid names nothing on another host).
 *
 * The design, in three steps:
 * 1. A controller started with `--lease-ms L` (every controller a non-detached `Cluster` places on another host)
 *    expects an owner.
 * 2. The owner (the process holding the `Cluster` object) sends one signed `owner_lease_request` on the client
 *    endpoint, naming the routing identity of its *owner heart*: a connection that echoes pings, as an engine's
 *    heart does.
 * 3. The controller pings that heart every L/4 on the client endpoint; each echo renews the lease. When neither the
 *    request (within L of the controller's start) nor an echo (within L of the last one) arrives, the owner is gone:
 *    the controller stops itself and tells its engines to exit. Engines that miss that message see their
 *    controller's pings stop and exit after `heartbeatTimeoutMs`.
 *
 * Detached clusters (`detached: true`) start their controller without a lease. A controller the local launcher starts
 * on this host watches its owner's pid instead (`--parent-pid`): exact there, and immune to an owner whose main
 * thread is busy for longer than the lease.
 * @module
 */
import debug from 'debug';
import { SilenceClock } from '../util/liveness.js';

const log = debug('tsparallel:controller');

/** The signed message an owner sends to claim the lease; its content is {@link OwnerLeaseClaim}. */
export const OWNER_LEASE_REQUEST = 'owner_lease_request';
/** The controller's answer to {@link OWNER_LEASE_REQUEST}: `{ status: 'ok', leaseMs }`. */
export const OWNER_LEASE_REPLY = 'owner_lease_reply';
/** The one frame the controller pings the owner heart with (the heart echoes it unchanged). */
export const OWNER_PING = 'tsparallel-owner-ping';

/** The content of an {@link OWNER_LEASE_REQUEST}. */
export interface OwnerLeaseClaim {
  /** The routing identity of the owner's heart, which echoes the controller's pings. */
  heart: string;
}

/** What an {@link OwnerLeaseWatch} needs from its controller. */
export interface OwnerLeaseHost {
  /** Send frames to a peer of the client endpoint. */
  send(identity: Buffer, frames: Buffer[]): void;
  /** The owner is gone: stop the controller and its engines. */
  expired(reason: string): void;
}

/** Watches the owner's lease for a controller. See the module's documentation for the design. */
export class OwnerLeaseWatch {
  #heart?: Buffer;
  #last = Date.now();
  #timer?: NodeJS.Timeout;
  #clock?: SilenceClock;

  constructor(
    /** How long the owner may be silent, in ms. */
    readonly leaseMs: number,
    private readonly host: OwnerLeaseHost,
  ) {}

  /** Start the clock: the owner must claim the lease within `leaseMs`. */
  start(): void {
    this.#last = Date.now();
    const everyMs = Math.max(25, Math.floor(this.leaseMs / 4));
    this.#clock = new SilenceClock(everyMs);
    this.#timer = setInterval(() => this.#check(), everyMs);
    this.#timer.unref();
  }

  /** The owner claimed the lease (a signed request): its heart is pinged from now on. */
  claim(claim: OwnerLeaseClaim): void {
    this.#heart = Buffer.from(claim.heart);
    this.#last = Date.now();
    log('owner lease claimed by heart %s (lease %d ms)', claim.heart, this.leaseMs);
    this.host.send(this.#heart, [Buffer.from(OWNER_PING)]);
  }

  /** Whether these frames are the owner heart's echo (then the lease is renewed and they need no other handling). */
  isEcho(identity: Buffer, frames: readonly Buffer[]): boolean {
    if (!this.#heart || !identity.equals(this.#heart) || frames.length !== 1 || frames[0]!.toString() !== OWNER_PING) return false;
    this.#last = Date.now();
    return true;
  }

  /** Stop watching. Closing twice is harmless. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #check(): void {
    const silentMs = this.#clock!.tick() - this.#last;
    if (silentMs > this.leaseMs) {
      this.close();
      const reason = this.#heart ? `the cluster's owner has not answered for ${silentMs} ms` : `no owner claimed the lease within ${this.leaseMs} ms`;
      log('%s: stopping (lease %d ms)', reason, this.leaseMs);
      this.host.expired(reason);
      return;
    }
    if (this.#heart) this.host.send(this.#heart, [Buffer.from(OWNER_PING)]);
  }
}
