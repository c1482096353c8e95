/**
 * The interactive shell of `tscluster shell`: a Node REPL (top-level `await` works) where `client` is connected to
 * a running cluster, `view` is `client.view()`, and everything tsparallel exports (`range`, `fromModule`, …) is in
 * scope, as `from IPython.parallel import *` gives in IPython. Calls on views are awaited for you, so
 * `view.map(x => x ** 10, range(15))` prints the results. `.px CODE` runs code on every engine and prints each
 * engine's output and result labelled by engine id; `.engines` lists the engines. History is kept in the profile.
 *
 * When input is not a terminal (piped), lines are fed to the REPL one at a time, each after the previous one has
 * finished (including awaited calls), so a piped session prints what the same lines typed at the prompt would.
 * @module
 */
import readline from 'node:readline';
import repl, { type REPLServer } from 'node:repl';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { inspect } from 'node:util';
import type { Client } from '../client/client.js';
import * as tsparallel from '../index.js';
import { packageVersion } from './common.js';

/** Options of {@link runShell}. */
export interface ShellOptions {
  /** The connected client (closed when the shell exits). */
  client: Client;
  /** What the banner calls the cluster (`cluster (default) of profile 'default'`). */
  description: string;
  /** The history file (used when the input is a terminal). */
  historyFile: string;
  /** Where lines come from (default stdin). */
  input?: Readable & { isTTY?: boolean };
  /** Where output goes (default stdout). */
  output?: Writable & { isTTY?: boolean };
}

/** Whether a value is an `AsyncResult` (from any realm: the REPL evaluates in its own context). */
function isAsyncResult(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && Object.prototype.toString.call(value) === '[object AsyncResult]';
}

/** Run the shell until `.exit`, Ctrl-D or the end of piped input. Resolves to the exit code (0). */
export async function runShell(options: ShellOptions): Promise<number> {
  const input = options.input ?? process.stdin;
  const output = options.output ?? process.stdout;
  const terminal = Boolean(input.isTTY && output.isTTY);
  const { client } = options;
  output.write(
    `tsparallel ${packageVersion()} shell: connected to ${options.description}, engines ${inspect(client.ids)}\n` +
      `In scope: client, view (= client.view()), range, fromModule and every tsparallel export. Calls on views are awaited\n` +
      `for you: view.map(x => x ** 10, range(15)). .px CODE runs CODE on every engine; .engines lists them; .exit quits.\n`,
  );

  // Piped input goes through our own line feeder (see the module comment); a terminal talks to the REPL directly.
  const replInput: Readable = terminal ? input : new PassThrough();
  const server = repl.start({ prompt: 'tsparallel> ', input: replInput, output, terminal, useGlobal: false, useColors: terminal });
  Object.assign(server.context, tsparallel, { client, view: client.view() });
  autoAwait(server, output);
  defineCommands(server, client, output);

  const exited = new Promise<void>((resolve) => server.once('exit', resolve));
  if (terminal) {
    await new Promise<void>((resolve) => server.setupHistory(options.historyFile, () => resolve()));
  } else {
    void feedLines(server, input, replInput as PassThrough, exited);
  }
  await exited;
  await client.close();
  return 0;
}

/**
 * Make the REPL await an `AsyncResult` a line evaluates to, and print its value. Ctrl-C while waiting stops waiting
 * (the tasks keep running on the engines).
 */
function autoAwait(server: REPLServer, output: Writable): void {
  const evaluate = server.eval;
  let pending: ((err: Error | null, value?: unknown) => void) | undefined;
  // REPLServer reads `eval` from itself on every line; the typings mark it read-only.
  const wrapped: repl.REPLEval = (code, context, file, callback) =>
    evaluate.call(server, code, context, file, (err, value) => {
      if (err || !isAsyncResult(value)) return callback(err, value);
      let done = false;
      const finish = (e: Error | null, v?: unknown) => {
        if (done) return;
        done = true;
        pending = undefined;
        callback(e, v);
      };
      pending = finish;
      value.then(
        (v) => finish(null, v),
        (e: unknown) => finish(e instanceof Error ? e : new Error(String(e))),
      );
    });
  (server as { eval: repl.REPLEval }).eval = wrapped;
  server.prependListener('SIGINT', () => {
    if (!pending) return;
    output.write('\n(stopped waiting; the tasks keep running on the engines)\n');
    pending(null, undefined);
  });
}

function defineCommands(server: REPLServer, client: Client, output: Writable): void {
  server.defineCommand('px', {
    help: 'Run CODE on every engine (.px CODE); print each engine\'s output and result, labelled by engine id',
    action(code: string) {
      void runEverywhere(client, code.trim(), output).finally(() => this.displayPrompt());
    },
  });
  server.defineCommand('engines', {
    help: 'List the engines (id, pid, host)',
    action() {
      const engines = [...client.engines.values()].sort((a, b) => a.id - b.id);
      output.write(`${engines.length} engines\n`);
      for (const e of engines) output.write(`  engine ${e.id}: pid ${e.pid} on ${e.hostname}\n`);
      this.displayPrompt();
    },
  });
}

/** `.px CODE`: execute on each engine separately, so one engine's failure does not hide the others' results. */
async function runEverywhere(client: Client, code: string, output: Writable): Promise<void> {
  if (!code) {
    output.write('usage: .px CODE   (e.g. .px console.log(process.pid); 6 * 7)\n');
    return;
  }
  const ids = client.ids;
  if (ids.length === 0) {
    output.write('no engines are registered\n');
    return;
  }
  const results = ids.map((id) => client.view(id).execute(code));
  await Promise.allSettled(results);
  for (const [i, id] of ids.entries()) {
    const ar = results[i]!;
    const meta = ar.metadata[0]!;
    for (const [stream, text] of [['stdout', meta.stdout], ['stderr', meta.stderr]] as const) {
      for (const line of text.replace(/\n$/, '').split('\n')) if (text) output.write(`[${stream}:${id}] ${line}\n`);
    }
    try {
      const value = await ar;
      if (value !== undefined) output.write(`[${id}] ${inspect(value)}\n`);
    } catch (err) {
      const e = err as Error & { remoteName?: string };
      output.write(`[${id}] ${e.message}\n`);
    }
  }
}

/**
 * Feed piped lines to the REPL one at a time: each is written once the REPL shows its prompt again (it has finished
 * the previous line, including an awaited call or a `.px`). At the end of the input the REPL is closed.
 */
async function feedLines(server: REPLServer, input: Readable, replInput: PassThrough, exited: Promise<void>): Promise<void> {
  let ready: (() => void) | undefined;
  const displayPrompt = server.displayPrompt.bind(server);
  server.displayPrompt = (preserveCursor?: boolean) => {
    displayPrompt(preserveCursor);
    const r = ready;
    ready = undefined;
    r?.();
  };
  let closed = false;
  void exited.then(() => {
    closed = true;
    ready?.();
  });
  const lines = readline.createInterface({ input, crlfDelay: Infinity });
  for await (const line of lines) {
    if (closed) break;
    const shown = new Promise<void>((resolve) => (ready = resolve));
    replInput.write(line + '\n');
    await shown;
  }
  lines.close();
  if (!closed) replInput.end();
}
