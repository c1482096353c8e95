/**
 * One fuzzing campaign against a fresh real cluster: start it, check the seed's map, fuzz every endpoint, then check
 * that nothing crashed or hangs, the map is still right, and memory came back near its start. Used by the short run
 * in `npm test` and by `npm run fuzz -- --seconds N`.
 */
import debug from 'debug';
import { readConnectionFile } from '../../src/wire/connection.js';
import { isAlive, startTestCluster, type TestCluster } from '../support/cluster.js';
import { Fuzzer, rssOf, type FuzzStats } from './fuzzer.js';

/** What a campaign found. `problems` is empty when every check held. */
export interface CampaignReport {
  stats: FuzzStats;
  problems: string[];
  rss: Record<string, { before?: number; after?: number }>;
  dropped?: Record<string, number>;
}

const log = debug('tsparallel:fuzz');
const square = (x: number) => x * x;
const expected = Array.from({ length: 50 }, (_, i) => i * i);

async function within<T>(ms: number, what: string, p: PromiseLike<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`hang: ${what} did not finish within ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function mapStillRight(tc: TestCluster, problems: string[], when: string): Promise<void> {
  const items = Array.from({ length: 50 }, (_, i) => i);
  try {
    const lb = await within(20_000, `load-balanced map ${when}`, tc.client.loadBalancedView().map(square, items));
    if (JSON.stringify(lb) !== JSON.stringify(expected)) problems.push(`load-balanced map ${when} is wrong`);
    const direct = await within(20_000, `direct map ${when}`, tc.client.view().map(square, items));
    if (JSON.stringify(direct) !== JSON.stringify(expected)) problems.push(`direct map ${when} is wrong`);
  } catch (err) {
    problems.push((err as Error).message);
  }
}

/** Run one campaign of `seconds` with `seed` on a cluster of `engines` engines. */
export async function campaign(options: { seconds: number; seed: number; engines?: number; maxMessages?: number }): Promise<CampaignReport> {
  const tc = await startTestCluster(options.engines ?? 2);
  const problems: string[] = [];
  const rss: CampaignReport['rss'] = {};
  let stats: FuzzStats = { seed: options.seed, sent: 0, byKind: {}, byEndpoint: {} };
  let dropped: Record<string, number> | undefined;
  try {
    await mapStillRight(tc, problems, 'before fuzzing');
    const pids = tc.cluster.pids;
    const info = await readConnectionFile(tc.cluster.engineConnectionFile);
    const fuzzer = new Fuzzer(
      {
        key: info.key,
        clientAddress: tc.client.info.address,
        engineAddress: info.address,
        heartbeatAddress: info.heartbeatAddress!,
        directAddresses: [...tc.client.engines.values()].flatMap((e) => (e.direct ? [{ address: e.direct, engineId: e.id }] : [])),
      },
      options.seed,
    );
    // A warm-up third fills the bounded caches (signature history, held requests, task records); memory is measured
    // after it and again at the end: it must not keep growing.
    log('warm-up: %d s', options.seconds / 3);
    const warm = await fuzzer.run(options.seconds / 3, (options.maxMessages ?? Infinity) / 3);
    log('warm-up done: %d messages; purging results', warm.sent);
    await within(10_000, 'purgeResults after the warm-up', tc.client.purgeResults()).catch((err: Error) => problems.push(err.message));
    await new Promise((r) => setTimeout(r, 1000));
    for (const pid of pids) rss[pid] = { before: rssOf(pid) };
    log('fuzzing: %d s', (options.seconds * 2) / 3);
    stats = await fuzzer.run((options.seconds * 2) / 3, options.maxMessages);
    log('fuzzing done: %d messages', stats.sent);
    void warm;
    for (const pid of pids) if (!isAlive(pid)) problems.push(`process ${pid} died while fuzzed`);
    for (const [endpoint, n] of Object.entries(stats.stalled ?? {})) problems.push(`${endpoint} stopped taking messages (${n} sends waited more than 5 s)`);
    try {
      const status = (await within(10_000, 'queueStatus after fuzzing', tc.client.queueStatus())) as { dropped?: Record<string, number> };
      dropped = status.dropped;
    } catch (err) {
      problems.push((err as Error).message);
    }
    await mapStillRight(tc, problems, 'after fuzzing');
    // Let the heap settle, then compare: "near its start" = within 1.25 x + 96 MB of the level after warm-up. The
    // allowance covers the bounded caches every run fills: the replay history (up to 262,144 signatures, ~30 MB), the
    // dashboard's statistics and the heap V8 keeps. It is a plateau, not a leak: 80,000 messages grew the controller
    // by ~70 MB and 960,000 (`npm run fuzz -- --seconds 40`) by ~65 MB.
    await within(10_000, 'purgeResults after fuzzing', tc.client.purgeResults()).catch((err: Error) => problems.push(err.message));
    await new Promise((r) => setTimeout(r, 1500));
    for (const pid of pids) {
      const r = rss[pid]!;
      r.after = rssOf(pid);
      if (r.before !== undefined && r.after !== undefined && r.after > r.before * 1.25 + 96e6) {
        problems.push(`process ${pid}'s memory grew from ${Math.round(r.before / 1e6)} MB to ${Math.round(r.after / 1e6)} MB`);
      }
    }
    const others = await within(15_000, 'a new client connecting after fuzzing', tc.cluster.connect({ timeoutMs: 10_000 })).catch((err: Error) => {
      problems.push(err.message);
      return undefined;
    });
    await others?.close();
  } finally {
    log('stopping the cluster');
    await within(30_000, 'stopping the cluster', tc.stop()).catch((err: Error) => problems.push(`stopping the cluster: ${err.message}`));
  }
  return { stats, problems, rss, dropped };
}
