/**
 * A cluster's owner on a rig host, driven by a test: the test starts this module on `head` (its own network, pid
 * and mount namespaces, through `hosts.sh exec head`), the module creates the cluster there from the test's options
 * and a client for it, and then runs the functions the test sends it, so the launchers (ssh, mpiexec) start the
 * engines from head as a user's program on a login node would.
 *
 * The wire, one line each: the test writes `{ "id": N, "fn": "async ({ cluster, client, tsp, log }) => …" }` on
 * the owner's stdin; the owner answers `REPLY {"id":N,"value":…}` or `REPLY {"id":N,"error":{…}}` on stdout, and
 * prints `EVENT {…}` lines by itself: `ready` (pids, engines, controller), `start-failed` (the error createCluster
 * threw), `exit` (each `cluster.onEngineExit` report), `engine` (`change`: each client engine change), `stopped`.
 *
 * Nothing outlives the test: when stdin closes (the test ended or died) or after `lifetimeMs`, the owner stops its
 * cluster and exits. The test side ({@link startRigOwner}) tracks the process like any {@link runOnHost} child.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './cluster.js';
import { pidsOnAllHosts, RIG_DIR, RIG_SHARED, runOnHost, runSyncOnHost, stopRigProcesses } from './rig.js';

/** An error as the owner reports it (the fields of the project's errors that tests look at). */
export interface OwnerError {
  name: string;
  message: string;
  exitCode?: number | null;
  engineId?: number;
  stderrTail?: string;
}

/** One `EVENT` line of the owner. */
export interface OwnerEvent {
  type: 'ready' | 'start-failed' | 'exit' | 'engine' | 'stopped';
  [key: string]: unknown;
}

/** The owner process on a rig host, seen from the test. */
export interface RigOwner {
  /** The machine-side process (`hosts.sh exec`): killing it SIGTERMs the owner on its host. */
  child: ChildProcess;
  /** Every event so far. */
  events: OwnerEvent[];
  /** The owner's output so far (stdout and stderr), for failure messages. */
  output(): string;
  /** Wait for an event matching `match`. @throws after `timeoutMs`, or when the owner exits first. */
  waitForEvent(match: (e: OwnerEvent) => boolean, timeoutMs: number, what: string): Promise<OwnerEvent>;
  /**
   * Run `fn` (source of `async ({ cluster, client, tsp, log }) => value`; `tsp` is the tsparallel module) in the
   * owner and resolve its JSON value. @throws an Error carrying the owner's {@link OwnerError} as `remote` when it
   * threw, or after `timeoutMs`.
   */
  call<T = unknown>(fn: string, timeoutMs: number): Promise<T>;
  /** Run `fn` like {@link call}, resolving the error it threw (and failing when it did not throw). */
  callError(fn: string, timeoutMs: number): Promise<OwnerError>;
  /** Close the owner's stdin (it stops its cluster) and wait, bounded, for it to exit; SIGKILL after that. */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Start an owner on `host` (default `head`) for the cluster options in the JSON file `optionsFile` (a path every
 * host sees, on the shared directory). `env` is added to its environment (e.g. Open MPI's rig settings).
 */
export function startRigOwner(optionsFile: string, options: { host?: string; env?: NodeJS.ProcessEnv; lifetimeMs?: number } = {}): RigOwner {
  const main = fileURLToPath(import.meta.url).replace(/\.ts$/, '.js');
  const child = runOnHost(options.host ?? 'head', process.execPath, [main, optionsFile, String(options.lifetimeMs ?? 280_000)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: options.env,
  });
  const events: OwnerEvent[] = [];
  const replies = new Map<number, (r: { value?: unknown; error?: OwnerError }) => void>();
  const eventWaiters = new Set<() => void>();
  let out = '';
  let exited = false;
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.once('exit', () => {
    exited = true;
    eventWaiters.forEach((w) => w());
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    out += line + '\n';
    if (line.startsWith('EVENT ')) {
      events.push(JSON.parse(line.slice(6)) as OwnerEvent);
      eventWaiters.forEach((w) => w());
    } else if (line.startsWith('REPLY ')) {
      const r = JSON.parse(line.slice(6)) as { id: number; value?: unknown; error?: OwnerError };
      replies.get(r.id)?.(r);
      replies.delete(r.id);
    }
  });
  child.stdin!.on('error', () => {});
  let seq = 0;
  const call = <T>(fn: string, timeoutMs: number): Promise<{ value?: T; error?: OwnerError }> => {
    const id = ++seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        replies.delete(id);
        reject(new Error(`the owner did not answer within ${timeoutMs} ms: ${fn.slice(0, 200)}\n--- owner output:\n${out.slice(-3000)}`));
      }, timeoutMs);
      replies.set(id, (r) => {
        clearTimeout(timer);
        resolve(r as { value?: T; error?: OwnerError });
      });
      child.stdin!.write(JSON.stringify({ id, fn }) + '\n');
    });
  };
  return {
    child,
    events,
    output: () => out,
    waitForEvent(match, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(match);
          if (found) return done(() => resolve(found));
          if (exited) return done(() => reject(new Error(`the owner exited before ${what}:\n${out.slice(-3000)}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}:\n${out.slice(-3000)}`))), timeoutMs);
        const done = (settle: () => void) => {
          clearTimeout(timer);
          eventWaiters.delete(check);
          settle();
        };
        eventWaiters.add(check);
        check();
      });
    },
    async call<T>(fn: string, timeoutMs: number): Promise<T> {
      const r = await call<T>(fn, timeoutMs);
      if (r.error) throw Object.assign(new Error(`the owner's call failed: ${r.error.name}: ${r.error.message}`), { remote: r.error });
      return r.value as T;
    },
    async callError(fn: string, timeoutMs: number): Promise<OwnerError> {
      const r = await call(fn, timeoutMs);
      if (!r.error) throw new Error(`expected the owner's call to fail, it returned ${JSON.stringify(r.value)}: ${fn.slice(0, 200)}`);
      return r.error;
    },
    async close(timeoutMs = 60_000) {
      if (exited) return;
      child.stdin!.end();
      const gone = new Promise<void>((resolve) => (exited ? resolve() : child.once('exit', () => resolve())));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** What the owner's `ready` event says about the cluster it started. */
export interface OwnerReady {
  /** The launchers' local pids on the owner's host. */
  pids: number[];
  /** The controller's pid on its host. */
  controllerPid: number;
  /** The registered engines. */
  engines: { id: number; pid: number; hostname: string }[];
  /** The connection files, as paths on the owner's host. */
  engineConnectionFile: string;
  clientConnectionFile: string;
}

/** Wait for the owner's cluster to start. @throws an Error with the owner's error and output when it did not. */
export async function ownerReady(owner: RigOwner, timeoutMs = 180_000): Promise<OwnerReady> {
  const e = await owner.waitForEvent((x) => x.type === 'ready' || x.type === 'start-failed', timeoutMs, 'the cluster to start');
  if (e.type === 'start-failed') throw new Error(`the cluster did not start: ${JSON.stringify(e.error)}\n${owner.output().slice(-3000)}`);
  return e as unknown as OwnerReady;
}

/** A rig test's scratch space and what it started, all cleaned up in order when the test ends, failed or not. */
export interface RigScratch {
  /** A fresh directory on the shared directory. */
  root: string;
  /** Start an owner on head for these cluster options (written under {@link root}). */
  owner(options: unknown, env?: NodeJS.ProcessEnv): Promise<RigOwner>;
  /** A directory with a tmpfs mounted over it in `host`'s own mount namespace: a disk no other host sees. */
  privateDir(host: string, dir?: string): Promise<string>;
}

/**
 * Scratch space for one rig test. At its end: the owners close (each stops its cluster, bounded), then any rig
 * process still running is killed, the private mounts are removed and the directories deleted.
 */
export async function rigScratch(t: { after(fn: () => Promise<void>): void }, prefix: string): Promise<RigScratch> {
  const root = await mkdtemp(path.join(RIG_SHARED, prefix));
  const owners: RigOwner[] = [];
  const mounts: { host: string; dir: string }[] = [];
  t.after(async () => {
    for (const o of owners) await o.close();
    await stopRigProcesses();
    for (const { host, dir } of mounts.reverse()) runSyncOnHost(host, 'umount', ['-l', dir]);
    for (const dir of new Set(mounts.map((m) => m.dir))) await rm(dir, { recursive: true, force: true });
    await rm(root, { recursive: true, force: true });
  });
  return {
    root,
    async owner(options, env) {
      const file = path.join(root, `options-${owners.length}.json`);
      await writeFile(file, JSON.stringify(options));
      const owner = startRigOwner(file, { env });
      owners.push(owner);
      return owner;
    },
    async privateDir(host, dir) {
      // The mount point is on the machine's file system; what is mounted there only `host` sees.
      const at = dir ?? (await mkdtemp(path.join(RIG_DIR, `private-${host}-`)));
      const r = runSyncOnHost(host, 'mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', `tsp-private-${host}`, at]);
      if (r.status !== 0) throw new Error(`mount tmpfs on ${host} at ${at} failed: ${r.stderr}`);
      mounts.push({ host, dir: at });
      return at;
    },
  };
}

/** Wait (bounded) until no process on any rig host matches `pattern` (pgrep -f syntax). */
export async function nothingLeft(pattern: string, what: string, timeoutMs = 30_000): Promise<void> {
  await waitUntil(() => Object.keys(pidsOnAllHosts(pattern)).length === 0, timeoutMs, `${what}: nothing left on any host (${JSON.stringify(pidsOnAllHosts(pattern))})`);
}

function describeError(err: unknown): OwnerError {
  const e = err as Partial<OwnerError> & { signal?: unknown };
  return {
    name: e?.name ?? 'Error',
    message: e?.message ?? String(err),
    ...(e?.exitCode !== undefined && { exitCode: e.exitCode }),
    ...(e?.engineId !== undefined && { engineId: e.engineId }),
    ...(e?.stderrTail !== undefined && { stderrTail: e.stderrTail }),
  };
}

/** The owner itself: `node rig-owner.js OPTIONS_FILE LIFETIME_MS` on a rig host. */
async function ownerMain(optionsFile: string, lifetimeMs: number): Promise<void> {
  const print = (kind: 'EVENT' | 'REPLY', value: unknown) => process.stdout.write(`${kind} ${JSON.stringify(value)}\n`);
  const tsp = await import('../../src/index.js');
  const options = JSON.parse(await readFile(optionsFile, 'utf8')) as Parameters<typeof tsp.createCluster>[0];
  let cluster: Awaited<ReturnType<typeof tsp.createCluster>> | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (why: string) =>
    (stopping ??= (async () => {
      process.stderr.write(`owner: stopping (${why})\n`);
      await cluster?.stop().catch((err: unknown) => process.stderr.write(`owner: stop failed: ${String(err)}\n`));
      print('EVENT', { type: 'stopped', why });
      process.exit(0);
    })());
  const lifetime = setTimeout(() => void stop(`lifetime of ${lifetimeMs} ms is over`), lifetimeMs);
  lifetime.unref();
  process.once('SIGTERM', () => void stop('SIGTERM'));
  // Read commands from the start, so that stdin closing stops a cluster that is still starting.
  const lines = createInterface({ input: process.stdin });
  const queued: string[] = [];
  let onLine: ((line: string) => void) | undefined;
  lines.on('line', (line) => (onLine ? onLine(line) : queued.push(line)));
  lines.once('close', () => void stop('stdin closed'));
  try {
    cluster = await tsp.createCluster(options);
  } catch (err) {
    print('EVENT', { type: 'start-failed', error: describeError(err) });
    return void stop('the start failed');
  }
  cluster.onEngineExit((info) => print('EVENT', { type: 'exit', ...info }));
  const client = await cluster.connect();
  client.onEngineChange((change) => print('EVENT', { type: 'engine', change }));
  const controllerPid = (JSON.parse(await readFile(cluster.engineConnectionFile, 'utf8')) as { controller?: { pid?: number } }).controller?.pid;
  print('EVENT', {
    type: 'ready',
    pids: cluster.pids,
    controllerPid,
    engineConnectionFile: cluster.engineConnectionFile,
    clientConnectionFile: cluster.clientConnectionFile,
    engines: [...client.engines.values()].map((e) => ({ id: e.id, pid: e.pid, hostname: e.hostname })),
  });
  const log = (...args: unknown[]) => process.stderr.write(`owner: ${args.map(String).join(' ')}\n`);
  onLine = (line) => {
    const { id, fn } = JSON.parse(line) as { id: number; fn: string };
    void (async () => {
      try {
        const f = (0, eval)(`(${fn})`) as (scope: object) => unknown;
        print('REPLY', { id, value: (await f({ cluster, client, tsp, log })) ?? null });
      } catch (err) {
        print('REPLY', { id, error: describeError(err) });
      }
    })();
  };
  queued.splice(0).forEach(onLine);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void ownerMain(process.argv[2]!, Number(process.argv[3] ?? 280_000));
}
