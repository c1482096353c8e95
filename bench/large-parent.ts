/**
 * Starting local engines from a large program: hold `--mb` MB (a tenth in 1 MB buffers, the rest in small objects,
 * as an application's heap), then start a cluster of `--engines` engines and connect, timed, with the local launcher's
 * spawner off (`never`) and on its rule (`auto`), alternating, `--runs` pairs. Prints each start's wall time and this
 * process's CPU during it (user and kernel: a fork copies the page tables of the resident set). See
 * src/launchers/spawner.ts.
 *
 * `node dist/bench/large-parent.js [--mb 1500] [--engines 16] [--runs 2]`
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { createCluster } from '../src/index.js';

const { values } = parseArgs({
  options: { mb: { type: 'string', default: '1500' }, engines: { type: 'string', default: '16' }, runs: { type: 'string', default: '2' } },
});
const mb = Number(values.mb);
const engines = Number(values.engines);
const runs = Number(values.runs);
if (!(mb >= 0 && engines >= 1 && runs >= 1)) throw new Error('--mb must be >= 0, --engines and --runs >= 1');

// What an application might hold: some large buffers, many small objects.
const held: unknown[] = [];
for (let i = 0; i < mb / 10; i++) held.push(Buffer.alloc(1 << 20, i));
for (let i = 0; i < (mb * 9) / 10 * 7_000; i++) held.push({ i, name: `item ${i}` });

async function startOnce(spawner: 'never' | 'auto'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tsparallel-large-parent-'));
  const rssMb = Math.round(process.memoryUsage.rss() / 2 ** 20);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const cluster = await createCluster({ n: engines, profileDir: dir, projectDir: null, launchers: { local: { spawner } } });
  try {
    await cluster.connect();
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return `spawner ${spawner.padEnd(5)} rss ${rssMb} MB: ready in ${Math.round(ms)} ms, this process ${Math.round((cpu.user + cpu.system) / 1000)} ms CPU (kernel ${Math.round(cpu.system / 1000)})`;
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

for (let run = 0; run < runs; run++) {
  for (const spawner of ['never', 'auto'] as const) console.log(await startOnce(spawner));
}
console.log(`(held ${held.length} values)`);
