/**
 * A seeded, bounded fuzzer for a running cluster's sockets: random frames, bad framing, bad signatures, validly
 * signed bad JSON, wrong types, unknown types, huge declared sizes and batches of tasks or replies with something
 * wrong inside (src/wire/task-batch.ts), sent with raw ZeroMQ sockets to every
 * listening endpoint (the controller's client, engine and heartbeat endpoints, each engine's direct endpoint). Then
 * it checks that every process is alive, that the cluster answers within a bounded time, that the seed's map is
 * still right, and that memory came back near its start level.
 *
 * The same seed sends the same messages. Messages that are valid *and* destructive (shutdown, a well-formed engine
 * registration) are never generated: holders of the key are trusted to do those; the fuzzer probes malformed input.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Dealer } from 'zeromq';
import { Channels, DELIMITER, PROTOCOL_VERSION, Session } from '../../src/wire/protocol.js';
import { BATCH_REPLY, BATCH_REQUEST } from '../../src/wire/task-batch.js';

/** Every channel a message can name (a few endpoints' own, to send one to the wrong endpoint). */
const ALL_CHANNELS = [Channels.clientToCluster, Channels.engineToCluster, Channels.controllerToEngine, Channels.controllerToClient, Channels.clientToEngine(0), Channels.engineToClient(0)];

/** A small seeded PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Where to fuzz. */
export interface FuzzTargets {
  key: string;
  clientAddress: string;
  engineAddress: string;
  heartbeatAddress: string;
  directAddresses: { address: string; engineId: number }[];
}

/** What a run sent. */
export interface FuzzStats {
  seed: number;
  sent: number;
  byKind: Record<string, number>;
  byEndpoint: Record<string, number>;
  /** Sends that waited past SEND_TIMEOUT_MS, by endpoint: it stopped reading (a campaign counts each as a problem). */
  stalled?: Record<string, number>;
}

/** How long one send may wait for its endpoint to take it, in ms. */
const SEND_TIMEOUT_MS = 5000;

const TYPES_CLIENT = ['connect_request', 'close_request', 'queue_status_request', 'abort_request', 'resubmit_request', 'task_records_request', 'purge_request', 'result_request', 'apply_request', 'map_request', 'execute_request', 'push_request', 'pull_request', 'heartbeat_request', 'stats_request', 'job_states_request', BATCH_REQUEST];
const TYPES_ENGINE = ['unregistration_request', 'task_records', 'apply_reply', 'map_reply', 'execute_reply', 'engine_event', 'push_reply', BATCH_REPLY];
const TYPES_DIRECT = ['apply_request', 'map_request', 'execute_request', 'push_request', 'pull_request', 'abort_request', 'result_request', BATCH_REQUEST];
const TASK_TYPES = ['apply_request', 'map_request', 'execute_request', 'push_request', 'pull_request'];
/** Sources that never compile, so a well-formed request runs nothing. */
const BAD_SOURCES = ['((', '}{', 'function (', '=>', 'class {', '"unterminated'];

export class Fuzzer {
  readonly #rand: () => number;
  #session?: Session;
  #channel = '';
  readonly stats: FuzzStats;
  constructor(
    readonly targets: FuzzTargets,
    readonly seed: number,
  ) {
    this.#rand = prng(seed);
    this.stats = { seed, sent: 0, byKind: {}, byEndpoint: {} };
  }

  #int(n: number): number {
    return Math.floor(this.#rand() * n);
  }
  #pick<T>(xs: readonly T[]): T {
    return xs[this.#int(xs.length)]!;
  }
  #bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.#int(256);
    return b;
  }

  /** A random JSON value of a random type (depth-bounded). */
  #value(depth = 0): unknown {
    switch (this.#int(depth > 2 ? 6 : 9)) {
      case 0: return null;
      case 1: return this.#int(2) === 0;
      case 2: return this.#pick([0, -1, 5, 1e308, 2 ** 31, -0.5, 9007199254740993]);
      case 3: return this.#pick(['', 'ab', 'x'.repeat(this.#int(2000)), '\u0000', '__proto__', 'constructor']);
      case 4: return this.#pick(BAD_SOURCES);
      case 5: return randomUUIDSeeded(this.#rand);
      case 6: return Array.from({ length: this.#int(5) }, () => this.#value(depth + 1));
      case 7: {
        const o: Record<string, unknown> = {};
        for (let i = this.#int(5); i > 0; i--) o[this.#pick(['msgIds', 'tasks', 'filter', 'fn', 'code', 'names', 'state', 'status', 'error', 'id', 'pid', 'targets', 'after', 'balanced', 'target', 'length', '__proto__'])] = this.#value(depth + 1);
        return o;
      }
      default: return { fn: { source: this.#pick(BAD_SOURCES) }, length: 1e12, size: 2 ** 53 };
    }
  }

  /** The cluster's real signature (channel, frame lengths and buffers included), so 'valid' messages verify. */
  #sign(key: string, parts: Buffer[], buffers: Buffer[] = []): Buffer {
    this.#session ??= new Session(key);
    return this.#session.signature(parts, buffers);
  }

  #header(type: string): Record<string, unknown> {
    // Mostly the endpoint's own channel; now and then another, which must be dropped as misrouted.
    const channel = this.#int(10) === 0 ? this.#pick(ALL_CHANNELS) : this.#channel;
    return { msg_id: randomUUIDSeeded(this.#rand), msg_type: type, session: 'fuzz', date: new Date().toISOString(), version: PROTOCOL_VERSION, channel };
  }

  /** One malformed message for an endpoint whose valid types are `types`; returns its kind and frames. */
  message(types: readonly string[], channel = ''): { kind: string; frames: Buffer[] } {
    this.#channel = channel;
    const key = this.targets.key;
    const kind = this.#pick(['random', 'framing', 'signature', 'badjson', 'wrongtypes', 'unknowntype', 'hugesize', 'batch']);
    const json = (v: unknown) => Buffer.from(JSON.stringify(v) ?? 'null');
    switch (kind) {
      case 'random':
        return { kind, frames: Array.from({ length: 1 + this.#int(8) }, () => this.#bytes(this.#int(300))) };
      case 'framing': {
        const parts = [json(this.#header(this.#pick(types))), json({}), json({}), json({})].slice(0, this.#int(4));
        return { kind, frames: this.#int(2) ? [DELIMITER, this.#sign(key, parts), ...parts] : [this.#sign(key, parts), ...parts] };
      }
      case 'signature': {
        const parts = [json(this.#header(this.#pick(types))), json({}), json({}), json(this.#value())];
        return { kind, frames: [DELIMITER, this.#bytes(64), ...parts] };
      }
      case 'badjson': {
        const parts: Buffer[] = [json(this.#header(this.#pick(types))), json({}), json({}), json({})];
        parts[this.#int(4)] = this.#pick([Buffer.from('{'), Buffer.from('nul'), this.#bytes(20), Buffer.alloc(0), Buffer.from('[1,2')]);
        return { kind, frames: [DELIMITER, this.#sign(key, parts), ...parts] };
      }
      case 'wrongtypes':
      case 'unknowntype': {
        const type = kind === 'unknowntype' ? this.#pick(['', 'x', 'shutdown', 'registration', 'foo_request', 'foo_reply', '__proto__']) : this.#pick(types);
        const header = this.#int(8) === 0 ? this.#value() : this.#header(type);
        const parts = [json(header), json(this.#int(3) ? { msg_id: this.#value() } : this.#value()), json(this.#value()), json(this.#value())];
        const buffers = Array.from({ length: this.#int(3) }, () => this.#bytes(this.#int(200)));
        return { kind, frames: [DELIMITER, this.#sign(key, parts, buffers), ...parts, ...buffers] };
      }
      case 'batch': {
        // A validly signed batch (of requests, or of replies for the engine endpoint) whose frame is mostly well
        // formed, with one thing wrong now and then: an index, a buffer length, an id, a type, a task's content.
        const replies = types.includes(BATCH_REPLY);
        const { content, buffers } = replies ? this.#batchOfReplies() : this.#batchOfRequests();
        const parts = [json(this.#header(replies ? BATCH_REPLY : BATCH_REQUEST)), json({}), json({}), json(content)];
        return { kind, frames: [DELIMITER, this.#sign(key, parts, buffers), ...parts, ...buffers] };
      }
      default: {
        // Well-formed request, but its serialized payload claims enormous sizes.
        const type = this.#pick(types.filter((t) => t.endsWith('_request') && !t.startsWith('abort')));
        const parts = [json(this.#header(type)), json({}), json({ balanced: this.#int(2) === 0, target: 0 }), json({ fn: { source: this.#pick(BAD_SOURCES) }, code: '((', names: 'x' })];
        const huge = Buffer.alloc(64);
        huge.writeDoubleLE(1e300, 0);
        huge.writeUInt32LE(0xffffffff, 8);
        huge.write('{"length":1e15,"type":"Float64Array"}', 12);
        const tail = [huge, this.#bytes(this.#int(100))];
        return { kind, frames: [DELIMITER, this.#sign(key, parts, tail), ...parts, ...tail] };
      }
    }
  }

  /** Random byte lengths, and a packed buffer that matches them (or, one time in five, does not). */
  #batchBuffers(count: number): { lengths: number[][]; buffers: Buffer[] } {
    const lengths = Array.from({ length: count }, () => Array.from({ length: this.#int(3) }, () => this.#int(40)));
    const total = lengths.flat().reduce((a, b) => a + b, 0);
    const pack = this.#int(5) === 0 ? this.#bytes(this.#int(60)) : this.#hugeOrRandom(total);
    return { lengths, buffers: this.#int(10) === 0 ? [] : [pack, ...(this.#int(10) === 0 ? [this.#bytes(10)] : [])] };
  }

  /** `n` bytes: random, or a serialized payload claiming enormous sizes at the start (when there is room). */
  #hugeOrRandom(n: number): Buffer {
    const b = this.#bytes(n);
    if (n >= 16 && this.#int(3) === 0) {
      b.writeUInt32LE(0, 0);
      b.writeDoubleLE(1e300, 4);
      b.writeUInt32LE(0xffffffff, 12);
    }
    return b;
  }

  /** One way to spoil a batch entry now and then: a key of it replaced by a random value. */
  #spoil(entry: Record<string, unknown>): Record<string, unknown> {
    if (this.#int(4) !== 0) return entry;
    return { ...entry, [this.#pick(Object.keys(entry))]: this.#value() };
  }

  #batchOfRequests(): { content: unknown; buffers: Buffer[] } {
    const count = 1 + this.#int(8);
    const contents = Array.from({ length: 1 + this.#int(2) }, () => (this.#int(6) === 0 ? this.#value() : { fn: { source: this.#pick(BAD_SOURCES) }, code: '((', names: 'x' }));
    const metadata = Array.from({ length: 1 + this.#int(2) }, () => (this.#int(6) === 0 ? this.#value() : { balanced: this.#int(4) !== 0, ...(this.#int(4) === 0 ? { targets: this.#value(), retries: this.#value(), timeoutMs: this.#value() } : {}) }));
    const { lengths, buffers } = this.#batchBuffers(count);
    const tasks = lengths.map((l) => this.#spoil({
      id: this.#int(10) === 0 ? 'same-id' : randomUUIDSeeded(this.#rand),
      type: this.#int(8) === 0 ? this.#pick(['', BATCH_REQUEST, 'map_reply', 'foo_request']) : this.#pick(TASK_TYPES),
      content: this.#int(8) === 0 ? contents.length : this.#int(contents.length),
      metadata: this.#int(8) === 0 ? -1 : this.#int(metadata.length),
      buffers: l,
    }));
    const content = this.#int(10) === 0 ? this.#value() : { contents, metadata, tasks: this.#int(12) === 0 ? this.#value() : tasks };
    return { content, buffers };
  }

  #batchOfReplies(): { content: unknown; buffers: Buffer[] } {
    const count = 1 + this.#int(8);
    const { lengths, buffers } = this.#batchBuffers(count);
    const replies = lengths.map((l) => this.#spoil({
      parent: randomUUIDSeeded(this.#rand),
      type: this.#int(8) === 0 ? BATCH_REPLY : this.#pick(['apply_reply', 'map_reply', 'execute_reply']),
      content: this.#int(4) === 0 ? this.#value() : { status: this.#pick(['ok', 'error', 'aborted']), error: { name: 'E', message: 'm' } },
      metadata: this.#int(6) === 0 ? this.#value() : { engineId: this.#int(3), started: 1, completed: 2 },
      buffers: l,
    }));
    return { content: this.#int(10) === 0 ? this.#value() : this.#int(10) === 0 ? { status: 'error', error: { name: 'E', message: 'm' } } : { replies }, buffers };
  }

  /** Fuzz every endpoint for `seconds`, at most `maxMessages` more messages (stats add up over runs). */
  async run(seconds: number, maxMessages = Infinity): Promise<FuzzStats> {
    const limit = this.stats.sent + maxMessages;
    const endpoints: { name: string; address: string; types: readonly string[]; channel: string }[] = [
      { name: 'controller-client', address: this.targets.clientAddress, types: TYPES_CLIENT, channel: Channels.clientToCluster },
      { name: 'controller-engine', address: this.targets.engineAddress, types: TYPES_ENGINE, channel: Channels.engineToCluster },
      { name: 'controller-heartbeat', address: this.targets.heartbeatAddress, types: TYPES_ENGINE, channel: Channels.engineToCluster },
      ...this.targets.directAddresses.map(({ address, engineId }) => ({
        name: `engine-direct-${engineId}`, address, types: TYPES_DIRECT, channel: Channels.clientToEngine(engineId),
      })),
    ];
    const sockets = endpoints.map((e) => {
      // A send that waits this long means the endpoint stopped reading (or never reconnected): reported, not awaited
      // for ever.
      const s = new Dealer({ routingId: `fuzz-${randomUUID()}`, linger: 0, sendHighWaterMark: 1000, receiveHighWaterMark: 1000, sendTimeout: SEND_TIMEOUT_MS });
      s.connect(e.address);
      // Drain answers so they do not pile up.
      void (async () => {
        try {
          for await (const _ of s) void _;
        } catch {
          /* closed */
        }
      })();
      return s;
    });
    const deadline = Date.now() + seconds * 1000;
    try {
      while (Date.now() < deadline && this.stats.sent < limit) {
        const i = this.#int(endpoints.length);
        const { kind, frames } = this.message(endpoints[i]!.types, endpoints[i]!.channel);
        try {
          await sockets[i]!.send(frames);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
          this.stats.stalled ??= {};
          this.stats.stalled[endpoints[i]!.name] = (this.stats.stalled[endpoints[i]!.name] ?? 0) + 1;
          continue;
        }
        this.stats.sent++;
        this.stats.byKind[kind] = (this.stats.byKind[kind] ?? 0) + 1;
        this.stats.byEndpoint[endpoints[i]!.name] = (this.stats.byEndpoint[endpoints[i]!.name] ?? 0) + 1;
        // Yield now and then, so the rest of this process (the test's client) keeps running.
        if (this.stats.sent % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      for (const s of sockets) s.close();
    }
    return this.stats;
  }
}

/** A UUID-shaped id from the seeded PRNG (so a seed replays the same ids). */
function randomUUIDSeeded(rand: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rand() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

/** A process's resident memory in bytes (Linux), or undefined. */
export function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
