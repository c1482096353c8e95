/**
 * process.exit() in a process whose ZeroMQ heart runs (an engine). When the heart answered from a worker thread, Node
 * stopped the worker from outside as the process exited; zeromq.js then closed the worker's still-open socket during
 * the thread's teardown, where it could no longer create JavaScript values, and the C++ exception it threw aborted the
 * whole process (SIGABRT, "terminate called after throwing an instance of 'Napi::Error'") instead of exiting with the
 * code asked for. The heart now answers on the main thread, in a ZeroMQ context of its own; these tests keep exiting
 * real processes at each stage of the heart's life, so that no later heart brings the abort back.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, test } from 'node:test';
import { repoRoot, tempDir } from '../support/cluster.js';

const TRANSPORT = pathToFileURL(path.join(repoRoot(), 'dist', 'src', 'transport', 'zeromq.js')).href;

/**
 * A process that listens on a ROUTER, starts a heart dialling it and, at `stage`, calls process.exit(code):
 * `answering` once the heart has echoed a ping (its socket is open and receiving), `starting` right after
 * startHeart() returned (its connection may not be up yet).
 */
function heartProcess(stage: 'answering' | 'starting', code: number): string {
  return `
const { ZeroMqTransport } = await import(${JSON.stringify(TRANSPORT)});
const transport = new ZeroMqTransport();
const listener = await transport.listen('tcp://127.0.0.1:0');
const echoed = new Promise((resolve) => listener.setMessageHandler(resolve));
await transport.startHeart(listener.address, { identity: 'heart-exit' });
if (${JSON.stringify(stage)} === 'answering') {
  const ping = setInterval(() => listener.send(Buffer.from('heart-exit'), [Buffer.from('ping')]), 20);
  await echoed;
  clearInterval(ping);
}
process.exit(${code});
`;
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
let runs = 0;
before(async () => (tmp = await tempDir('tsparallel-heart-exit-')));
after(() => tmp?.remove());

/** Run `source` as an ES module file. */
async function run(source: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const file = path.join(tmp.dir, `exit-${runs++}.mjs`);
  await writeFile(file, source);
  const child = spawn(process.execPath, [file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

test('process.exit(3) with a heart that answers pings exits with 3, not SIGABRT from zeromq.js', { timeout: 120_000 }, async () => {
  // With the worker heart, before its fix, every one of these aborted; several runs, since the state at exit varies.
  for (let i = 0; i < 4; i++) {
    const r = await run(heartProcess('answering', 3 + i));
    assert.doesNotMatch(r.stderr, /Napi::Error|terminate called/, `run ${i}: zeromq.js aborted the process:\n${r.stderr}`);
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 3 + i, signal: null }, `run ${i}: ${r.stderr}`);
  }
});

test('process.exit(4) while the heart is still starting exits with 4', { timeout: 60_000 }, async () => {
  for (let i = 0; i < 3; i++) {
    const r = await run(heartProcess('starting', 4));
    assert.deepEqual({ code: r.code, signal: r.signal }, { code: 4, signal: null }, `run ${i}: ${r.stderr}`);
  }
});
