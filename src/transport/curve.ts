/**
 * ZeroMQ CURVE for the ZeroMQ transport: socket options for a CURVE server (a listener) and client (a dialling
 * connection or heart), and a watch over a socket's handshakes that turns a key mismatch into a message a user can act
 * on. CURVE (RFC 26, CurveZMQ) encrypts every frame with Curve25519 + XSalsa20-Poly1305 and authenticates the server:
 * a client that does not know the listener's public key, or a listener that does not hold the matching secret key,
 * completes no handshake and exchanges no message. Clients use a fresh key pair per connection; who may talk is still
 * decided by the HMAC signature of every message (the key in the connection file), not by client keys.
 * @internal
 * @module
 */
import debug from 'debug';
import { capability, curveKeyPair, type Socket } from './zeromq-module.js';
import { TransportError } from '../core/errors.js';
import type { CurveKeyPair } from '../core/transport.js';

const log = debug('tsparallel:transport:curve');

/** A fresh CURVE key pair. @throws TransportError when this build of libzmq has no CURVE (built without libsodium). */
export function newCurveKeyPair(): CurveKeyPair {
  if (!capability.curve) {
    throw new TransportError('this build of libzmq has no CURVE support, so the wire cannot be encrypted; install a zeromq build with CURVE (the prebuilt zeromq@6 binaries have it), or set security.curve: false on a trusted network');
  }
  return curveKeyPair();
}

/** A CURVE key as ZeroMQ writes it: 40 characters of Z85 (32 bytes). */
const Z85_KEY = /^[0-9a-zA-Z.\-:+=^!/*?&<>()[\]{}@%$#]{40}$/;

/**
 * A CURVE key pair read back from a file (the controller's keys file, for a restore), checked: two keys of 40 Z85
 * characters. Returns `undefined` for anything else; the keys themselves are never part of an error or a log line.
 */
export function parseCurveKeyPair(value: unknown): CurveKeyPair | undefined {
  const pair = value as Partial<CurveKeyPair> | null;
  if (typeof pair?.publicKey !== 'string' || typeof pair.secretKey !== 'string') return undefined;
  if (!Z85_KEY.test(pair.publicKey) || !Z85_KEY.test(pair.secretKey)) return undefined;
  return { publicKey: pair.publicKey, secretKey: pair.secretKey };
}

/** Socket options making a listener a CURVE server with `keys` (none without keys). */
export function curveServerOptions(keys: CurveKeyPair | undefined) {
  return keys ? { curveServer: true, curveSecretKey: keys.secretKey, curvePublicKey: keys.publicKey } : {};
}

/** Socket options making a dialling socket a CURVE client of the server with this public key (none without one). */
export function curveClientOptions(serverKey: string | undefined) {
  if (!serverKey) return {};
  const own = newCurveKeyPair();
  return { curveServerKey: serverKey, curvePublicKey: own.publicKey, curveSecretKey: own.secretKey };
}

/** Explain a failed handshake, from libzmq's error code. */
function explain(code: string | undefined, message: string, encrypted: boolean): string {
  if (code === 'ERR_ZMTP_MECHANISM_MISMATCH') {
    return encrypted
      ? 'the other side does not use CURVE (security.curve differs between the two ends)'
      : 'the other side requires CURVE encryption; connect with its current connection file, which holds its curveServerKey';
  }
  if (code === 'ERR_ZMTP_CRYPTOGRAPHIC') return 'the peer did not prove it holds the expected CURVE key';
  // A CURVE client with the wrong server key sees the server hang up during the handshake.
  if (encrypted) return `the listener closed the handshake (${message}): its CURVE key does not match curveServerKey in the connection file (an old connection file?)`;
  return message;
}

/**
 * Watches a socket's events: the socket's one reader of them (ZeroMQ allows a single receive on its event observer).
 * For a dialling socket, {@link error} says why the last handshake failed while none has succeeded since; for a
 * listener, failed handshakes are counted and logged (who tried, and why), since nobody else would see them, and
 * disconnections go to the handler set with {@link setDisconnectHandler}. It ends when its socket closes, and has no
 * close of its own on purpose: closing a socket's observer while the socket lives leaves libzmq's I/O thread (shared
 * by every socket of the process) blocked on the socket's next event, so that no socket reconnects any more.
 */
export class HandshakeWatch {
  /** Handshakes that failed so far. */
  failures = 0;
  #error?: string;
  #disconnect: () => void = () => {};
  #reconnect: () => void = () => {};
  /** A handshake has succeeded on this socket (so a later one after a disconnect is a reconnection). */
  #wasUp = false;
  /** A connection closed since the last handshake. */
  #down = false;
  #handshaken!: () => void;
  /** Settles at the socket's first successful handshake (never, on a socket that has none). */
  readonly firstHandshake = new Promise<void>((resolve) => (this.#handshaken = resolve));

  constructor(
    private readonly socket: Socket,
    private readonly where: string,
    private readonly encrypted: boolean,
  ) {
    void this.#watch();
  }

  /** Why the last handshake failed, while no handshake has succeeded since. */
  get error(): string | undefined {
    return this.#error;
  }

  /** Set the one handler called when a peer's connection closes (ZeroMQ does not say which peer). */
  setDisconnectHandler(handler: () => void): void {
    this.#disconnect = handler;
  }

  /**
   * Set the one handler called when a handshake succeeds after a connection closed, on a socket that had one
   * before: on a dialling socket (one peer), its connection dropped and ZeroMQ made a new one.
   */
  setReconnectHandler(handler: () => void): void {
    this.#reconnect = handler;
  }

  async #watch(): Promise<void> {
    try {
      for await (const event of this.socket.events) {
        if (event.type === 'disconnect') {
          this.#down = true;
          this.#disconnect();
        } else if (event.type === 'handshake') {
          this.#error = undefined;
          const reconnected = this.#wasUp && this.#down;
          this.#wasUp = true;
          this.#handshaken();
          this.#down = false;
          if (reconnected) this.#reconnect();
        } else if (event.type.startsWith('handshake:error')) {
          this.failures++;
          const err = (event as { error?: Error & { code?: string } }).error;
          this.#error = explain(err?.code, err?.message ?? event.type, this.encrypted);
          log('handshake failed on %s (%s): %s', this.where, (event as { address?: string }).address ?? '', this.#error);
        }
      }
    } catch (err) {
      log('event watch on %s ended: %s', this.where, (err as Error).message);
    }
  }
}
