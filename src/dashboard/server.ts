/**
 * The dashboard's HTTP server: one port for the page, its JSON data, its live updates (server-sent events) and
 * Prometheus `/metrics`, so one `ssh -L` tunnel from a laptop is enough. Bound to 127.0.0.1 by default.
 *
 * Every route needs the token derived from the profile's key ({@link dashboardToken}): the URL's `?token=` once (it
 * is then kept in an HttpOnly cookie and removed from the address bar), or an `Authorization: Bearer` header (for
 * Prometheus). The chart library (uPlot) is served from node_modules: the page works without internet.
 * @module
 */
import debug from 'debug';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { TransportError } from '../core/errors.js';
import type { StatsCursor, StatsSnapshot } from '../wire/stats.js';
import { APP_CSS, APP_JS, PAGE_HTML } from './page.js';

const log = debug('tsparallel:dashboard');

/** Where the dashboard gets what it shows: the controller's collector in-process, or `stats_request` from outside. */
export interface StatsSource {
  /** A snapshot, with only the task events newer than `since`. */
  snapshot(since?: StatsCursor): Promise<StatsSnapshot>;
  /** The Prometheus metrics, as text. */
  metrics(): Promise<string>;
}

/** How a dashboard server is set up. */
export interface DashboardOptions {
  /** What to show. */
  source: StatsSource;
  /** The token every request must carry (see {@link dashboardToken}). */
  token: string;
  /** The port (default 0: any free port). */
  port?: number;
  /** The address to bind (default `127.0.0.1`: only this host, reachable from a laptop through `ssh -L`). */
  host?: string;
  /** How often live updates are sent, in ms (default 1000). */
  updateMs?: number;
}

/** What to do about a listen error: the host is the problem for a name that does not resolve or an address this machine lacks. */
function listenFix(host: string, code: string | undefined): string {
  const allowed = 'e.g. 127.0.0.1 (this machine only; from a laptop through ssh -L) or 0.0.0.0 (every interface) (--host, or controller.dashboard.host)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `'${host}' is neither an IP address nor a host name that resolves; give an address of this machine, ${allowed}`;
  if (code === 'EADDRNOTAVAIL') return `${host} is not an address of this machine; give one it has, ${allowed}`;
  if (code === 'EADDRINUSE' || code === 'EACCES') return 'choose another port (--port, or controller.dashboard.port)';
  return 'check the address and the port (--host and --port, or controller.dashboard)';
}

/**
 * The dashboard token of a cluster: derived from its HMAC key (so it changes with every cluster start and gives
 * nothing that signs messages), 32 hex characters.
 */
export function dashboardToken(key: string): string {
  return createHmac('sha256', key).update('tsparallel-dashboard').digest('hex').slice(0, 32);
}

const COOKIE = 'tsparallel_dashboard';

/** A running dashboard server. Close it with {@link DashboardServer.close} (or `await using`). */
export class DashboardServer {
  /** The URL to open, with the token (`http://127.0.0.1:PORT/?token=…`). */
  url = '';
  /** The port it listens on. */
  port = 0;
  readonly #server: Server;
  readonly #streams = new Set<ServerResponse>();
  #closed = false;

  /** Use {@link startDashboard}. @internal */
  constructor(private readonly options: DashboardOptions) {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((err: Error) => {
        log('request %s failed: %s', req.url, err.message);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`dashboard error: ${err.message}\n`);
      });
    });
  }

  /**
   * Listen. @throws TransportError when the address cannot be bound: the host is not an address of this machine (or
   * does not resolve), or the port is in use or not allowed.
   */
  async listen(): Promise<this> {
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new TransportError(`the dashboard cannot listen on ${host}:${this.options.port ?? 0} (${err.code ?? err.message}); ${listenFix(host, err.code)}`, { cause: err })),
      );
      this.#server.listen(this.options.port ?? 0, host, resolve);
    });
    this.port = (this.#server.address() as AddressInfo).port;
    const shown = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
    this.url = `http://${shown}:${this.port}/?token=${this.options.token}`;
    log('dashboard on %s:%d', host, this.port);
    return this;
  }

  /** Stop listening and end the live streams. Closing twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const res of this.#streams) res.end();
    this.#streams.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Same as {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET\n');
    const given = url.searchParams.get('token');
    if (given !== null && this.#matches(given)) {
      // Keep the token in a cookie and take it out of the address bar (and the browser's history).
      url.searchParams.delete('token');
      res.writeHead(303, {
        location: url.pathname + (url.search || ''),
        'set-cookie': `${COOKIE}=${this.options.token}; HttpOnly; SameSite=Strict; Path=/`,
        'cache-control': 'no-store',
      });
      return void res.end();
    }
    if (!this.#authorized(req)) {
      return send(res, 401, 'text/plain', 'This dashboard needs its token: open the URL printed by `tscluster dashboard` (or by the controller), which ends in ?token=…\n');
    }
    switch (url.pathname) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', PAGE_HTML);
      case '/app.js':
        return send(res, 200, 'text/javascript; charset=utf-8', APP_JS);
      case '/app.css':
        return send(res, 200, 'text/css; charset=utf-8', APP_CSS);
      case '/uplot.js':
        return send(res, 200, 'text/javascript; charset=utf-8', await asset('uplot/dist/uPlot.iife.min.js'));
      case '/uplot.css':
        return send(res, 200, 'text/css; charset=utf-8', await asset('uplot/dist/uPlot.min.css'));
      case '/api/snapshot':
        return send(res, 200, 'application/json', JSON.stringify(await this.options.source.snapshot({})));
      case '/api/events':
        return this.#stream(res);
      case '/metrics':
        return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await this.options.source.metrics());
      default:
        return send(res, 404, 'text/plain', `no page ${url.pathname}\n`);
    }
  }

  /** Live updates: the full snapshot first, then every `updateMs` only what is new (the page merges them). */
  #stream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
    this.#streams.add(res);
    let cursor: StatsCursor = {};
    let busy = false;
    const push = async () => {
      if (busy) return;
      busy = true;
      try {
        const snap = await this.options.source.snapshot(cursor);
        cursor = { seq: snap.seq, t: snap.throughput.at(-1)?.t ?? cursor.t };
        res.write(`event: snapshot\ndata: ${JSON.stringify(snap)}\n\n`);
      } catch (err) {
        res.write(`event: problem\ndata: ${JSON.stringify({ message: (err as Error).message })}\n\n`);
      } finally {
        busy = false;
      }
    };
    void push();
    const timer = setInterval(() => void push(), this.options.updateMs ?? 1000);
    res.on('close', () => {
      clearInterval(timer);
      this.#streams.delete(res);
    });
  }

  #authorized(req: IncomingMessage): boolean {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') && this.#matches(auth.slice(7).trim())) return true;
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [name, value] = part.trim().split('=');
      if (name === COOKIE && value !== undefined && this.#matches(value)) return true;
    }
    return false;
  }

  #matches(given: string): boolean {
    const a = Buffer.from(given);
    const b = Buffer.from(this.options.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

/**
 * Start a dashboard server.
 * @example
 * ```ts
 * const server = await startDashboard({ source: localStats(controller.stats), token: dashboardToken(key) });
 * console.log(server.url);
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<DashboardServer> {
  return new DashboardServer(options).listen();
}

/** A stats source over a collector in this process (the controller's `stats`). */
export function localStats(stats: { snapshot(since?: StatsCursor): StatsSnapshot; metrics(): Promise<string> }): StatsSource {
  return { snapshot: async (since) => stats.snapshot(since), metrics: () => stats.metrics() };
}

const assets = new Map<string, Promise<string>>();
const require = createRequire(import.meta.url);

function asset(name: string): Promise<string> {
  let text = assets.get(name);
  if (!text) assets.set(name, (text = readFile(require.resolve(name), 'utf8')));
  return text;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    // Everything the page loads comes from this server; nothing from the internet.
    'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}
