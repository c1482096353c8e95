/**
 * The control channel of a running `tscluster start`: a local socket (a Unix domain socket in the profile's
 * `security/`, a named pipe on Windows) on which other `tscluster` commands ask it to do things only it can do,
 * because it holds the cluster's launchers: `tscluster engines -n N` asks it to start more engines, so they are
 * stopped (and their batch jobs cancelled) with the rest of the cluster.
 *
 * The protocol is one JSON object per line. The client sends one request; the server answers with any number of
 * `{ "progress": … }` lines and one final `{ "ok": true, … }` or `{ "ok": false, "error": … }` line.
 * Only the user can reach the socket: `security/` is private to the user (mode 0700).
 * @module
 */
import { mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import debug from 'debug';
import { TimeoutError, TransportError, TsParallelError } from '../core/errors.js';
import { controlAddress } from '../cluster/running.js';

export { controlAddress };

const log = debug('tsparallel:cli:control');


/** A request to a running `tscluster start`. */
export type ControlRequest = { op: 'add-engines'; n: number } | { op: 'status' };

/** One line of a reply. */
export type ControlReply =
  | { progress: { registered: number; total: number } }
  | { ok: true; [key: string]: unknown }
  | { ok: false; error: string; name?: string };


/** Make sure the folder of a fallback socket exists, belongs to this user and is private. */
function preparePrivateDir(address: string): void {
  const dir = path.dirname(address);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (process.getuid && st.uid !== process.getuid()) {
    throw new TsParallelError(`${dir} belongs to another user; cannot put the control socket there. Use a shorter profile directory`);
  }
}

/** A request handler: returns the final reply's fields; may report progress on the way. */
export type ControlHandler = (request: ControlRequest, progress: (p: { registered: number; total: number }) => void) => Promise<Record<string, unknown>>;

/**
 * Listen on `address` for control requests. A leftover socket file of a dead process is replaced.
 * Close the returned server to stop (that removes the socket file).
 */
export async function serveControl(address: string, handler: ControlHandler): Promise<Server> {
  if (process.platform !== 'win32') {
    // The preferred socket sits in the profile's private security/; the fallback's folder must be made private.
    if (!path.basename(address).startsWith('tscluster')) preparePrivateDir(address);
    try {
      unlinkSync(address);
    } catch {
      // not there: nothing to replace
    }
  }
  const server = createServer((socket) => handleConnection(socket, handler));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  log('control socket listening on %s', address);
  return server;
}

function handleConnection(socket: Socket, handler: ControlHandler): void {
  let buffer = '';
  let handled = false;
  socket.setEncoding('utf8');
  socket.on('error', (err) => log('control connection error: %s', err.message));
  socket.on('data', (chunk: string) => {
    buffer += chunk;
    const newline = buffer.indexOf('\n');
    if (newline < 0 || handled) return;
    handled = true;
    const send = (reply: ControlReply) => {
      if (!socket.destroyed) socket.write(JSON.stringify(reply) + '\n');
    };
    let request: ControlRequest;
    try {
      request = JSON.parse(buffer.slice(0, newline)) as ControlRequest;
    } catch {
      send({ ok: false, error: 'the request is not valid JSON' });
      socket.end();
      return;
    }
    log('control request %o', request);
    handler(request, (p) => send({ progress: p })).then(
      (fields) => send({ ok: true, ...fields }),
      (err: unknown) => send({ ok: false, error: err instanceof Error ? err.message : String(err), name: err instanceof Error ? err.name : undefined }),
    ).finally(() => socket.end());
  });
}

/**
 * Send one request to a running `tscluster start` and wait for its final reply.
 * @throws TransportError when nothing listens at `address` (the cluster was not started by `tscluster start`, or
 *   that process is gone).
 * @throws TimeoutError when no final reply comes within `timeoutMs`.
 * @throws TsParallelError with the server's message when it answers with an error.
 */
export function requestControl(
  address: string,
  request: ControlRequest,
  options: { timeoutMs: number; onProgress?: (p: { registered: number; total: number }) => void },
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(address);
    let buffer = '';
    let settled = false;
    const finish = (err: Error | undefined, value?: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(
      () => finish(new TimeoutError(`no answer from the cluster's control socket ${address} within ${options.timeoutMs} ms`, options.timeoutMs)),
      options.timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('error', (cause) => finish(new TransportError(`cannot reach the control socket ${address}: ${cause.message}`, { cause })));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const reply = JSON.parse(buffer.slice(0, newline)) as ControlReply;
        buffer = buffer.slice(newline + 1);
        if ('progress' in reply) options.onProgress?.(reply.progress as { registered: number; total: number });
        else if (reply.ok) finish(undefined, reply);
        else finish(new TsParallelError(`${reply.name ? reply.name + ': ' : ''}${reply.error}`));
      }
    });
    socket.on('close', () => finish(new TransportError(`the control socket ${address} closed without an answer (did the cluster stop?)`)));
  });
}
