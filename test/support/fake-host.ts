/**
 * A fake client for unit tests of the views and AsyncResult, without processes or sockets: it answers each request
 * the way an engine would (functions sent as source are evaluated here, values go through the real serializer), but
 * only when the test says so, so a test controls the order in which answers arrive.
 * @module
 */
import { Part } from '../../src/client/async-result.js';
import type { TaskFlags } from '../../src/core/tasks.js';
import type { FunctionSpec } from '../../src/wire/functions.js';
import { deserialize } from '../../src/wire/serialize.js';

/** One request the fake host received. */
export interface FakeRequest {
  /** The engine it went to (-1: load-balanced). */
  engineId: number;
  /** The request type (`map_request`, …). */
  type: string;
  /** Its content. */
  content: Record<string, unknown>;
  /** Its decoded payload. */
  payload: unknown;
  /** Load-balancing flags, for balanced requests. */
  flags?: TaskFlags;
  /** Its part, settled by `answer`. */
  part: Part;
}

let nextId = 0;

/** A host with fixed engine ids; each engine has its own namespace (a plain object). */
export class FakeHost {
  readonly requests: FakeRequest[] = [];
  readonly namespaces = new Map<number, Record<string, unknown>>();
  readonly aborted: string[] = [];

  constructor(readonly ids: readonly number[]) {
    for (const id of ids) this.namespaces.set(id, {});
  }

  submit(engineId: number, type: string, content: Record<string, unknown>, buffers: Buffer[]): Part {
    return this.#record(engineId, type, content, buffers);
  }

  submitBalanced(type: string, content: Record<string, unknown>, buffers: Buffer[], flags: TaskFlags): Part {
    return this.#record(-1, type, content, buffers, flags);
  }

  async abort(msgIds: readonly string[]): Promise<void> {
    this.aborted.push(...msgIds);
  }

  /** Answer request `i` (default: every unanswered one, in order) as an engine would; `error` makes it fail. */
  answer(i?: number, error?: Error): void {
    const todo = i === undefined ? this.requests.filter((r) => !r.part.settled) : [this.requests[i]!];
    for (const r of todo) {
      if (error) {
        r.part.settle(undefined, error);
        continue;
      }
      const ns = this.namespaces.get(r.engineId) ?? {};
      const fn = () => new Function(`return (${(r.content.fn as Extract<FunctionSpec, { source: string }>).source})`)() as (...a: unknown[]) => unknown;
      switch (r.type) {
        case 'apply_request':
          r.part.settle(fn()(...(r.payload as unknown[])));
          break;
        case 'map_request':
          r.part.settle(Array.from(r.payload as ArrayLike<unknown>, (x) => fn()(x)));
          break;
        case 'push_request':
          Object.assign(ns, r.payload);
          r.part.settle(undefined);
          break;
        case 'pull_request': {
          const names = r.content.names as string | string[];
          r.part.settle(typeof names === 'string' ? ns[names] : names.map((n) => ns[n]));
          break;
        }
        default:
          r.part.settle(undefined, new Error(`the fake host does not answer ${r.type}`));
      }
    }
  }

  #record(engineId: number, type: string, content: Record<string, unknown>, buffers: Buffer[], flags?: TaskFlags): Part {
    const part = new Part({ msgId: `m${nextId++}`, engineId, status: 'pending', submitted: new Date(), stdout: '', stderr: '' });
    this.requests.push({ engineId, type, content, payload: buffers.length ? deserialize(buffers) : undefined, part, ...(flags && { flags }) });
    return part;
  }
}
