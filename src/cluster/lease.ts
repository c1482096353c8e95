/**
 * The owner lease, owner side: the process that starts a cluster holds a session with its controller, so that a
 * controller on another host (and so its engines) goes away when that process is gone. The design is described in
 * `controller/lease.ts`; this is the half that runs in the `Cluster`'s process.
 * @module
 */
import debug from 'debug';
import { randomUUID } from 'node:crypto';
import type { ConnectionInfo } from '../wire/connection.js';
import { TimeoutError } from '../core/errors.js';
import { Channels, Session } from '../wire/protocol.js';
import type { Connection, Transport } from '../core/transport.js';
import { OWNER_LEASE_REPLY, OWNER_LEASE_REQUEST, type OwnerLeaseClaim } from '../controller/lease.js';

const log = debug('tsparallel:cluster');

/**
 * The owner's session with its controller: a heart that echoes the controller's owner pings. Closing it, or this
 * process ending, lets the lease run out. The heart runs on the main thread (a worker thread holding a ZeroMQ socket
 * aborts the process when it calls `process.exit()`), so a main thread blocked for longer than the lease ends the
 * cluster: the lease time (`controller.leaseMs`, default 30 s) is sized for that.
 * @example
 * ```ts
 * const owner = await OwnerSession.open(transport, clientInfo);
 * // … the cluster lives …
 * await owner.close();
 * ```
 */
export class OwnerSession {
  #closed = false;

  private constructor(
    private readonly heart: Connection,
    /** The lease time the controller confirmed, in ms. */
    readonly leaseMs: number,
  ) {}

  /**
   * Claim the lease of the controller in `info` (a client connection file's content) and keep it.
   * @throws TimeoutError when the controller does not confirm within `timeoutMs` (default 10000).
   */
  static async open(transport: Transport, info: ConnectionInfo, options: { timeoutMs?: number } = {}): Promise<OwnerSession> {
    const heartIdentity = `owner-heart-${process.pid}-${randomUUID()}`;
    const heart = await transport.dial(info.address, { identity: heartIdentity, curveServerKey: info.curveServerKey });
    heart.setMessageHandler((frames) => heart.send(frames));
    const session = new Session(info.key, { replayWindowMs: info.replayWindowMs });
    const connection = await transport.dial(info.address, { identity: `owner-${process.pid}-${randomUUID()}`, curveServerKey: info.curveServerKey });
    const timeoutMs = options.timeoutMs ?? 10_000;
    try {
      const request = session.message(OWNER_LEASE_REQUEST, { heart: heartIdentity } satisfies OwnerLeaseClaim);
      const reply = await new Promise<{ status: string; leaseMs?: number }>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new TimeoutError(`the controller at ${info.address} did not confirm the owner lease within ${timeoutMs} ms; is it running?`, timeoutMs)),
          timeoutMs,
        );
        connection.setMessageHandler((frames) => {
          const msg = session.decode(frames, [Channels.controllerToClient]);
          if (msg?.header.msg_type === OWNER_LEASE_REPLY && msg.parent.msg_id === request.header.msg_id) {
            clearTimeout(timer);
            resolve(msg.content as { status: string; leaseMs?: number });
          }
        });
        connection.send(session.encode(request, Channels.clientToCluster));
      });
      log('owner lease: %s (%d ms)', reply.status, reply.leaseMs ?? 0);
      return new OwnerSession(heart, reply.leaseMs ?? 0);
    } catch (err) {
      await heart.close();
      throw err;
    } finally {
      await connection.close();
    }
  }

  /** Stop answering the controller: it stops after its lease time. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.heart.close();
  }
}
