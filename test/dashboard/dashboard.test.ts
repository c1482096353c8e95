/**
 * The dashboard in a real browser: Debian's chromium driven by playwright-core (no browser download), on a real
 * cluster whose controller serves the dashboard. The page is refused without its token, loads with it, shows the
 * engine count, shows a map's tasks in the task stream, lists a failure with its remote stack, counts every dropped
 * message, and shows an engine killed with SIGKILL as dead.
 * Screenshots go under the test's temp dir (kept, and its path printed, with TSPARALLEL_KEEP_SCREENSHOTS=1).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { isAlive, startTestCluster, tempDir, waitUntil, type TestCluster } from '../support/cluster.js';
import { RawPeer } from '../support/raw-peer.js';
import { requireTool } from '../support/requirements.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = requireTool('chromium', existsSync(CHROMIUM), 'apt-get install chromium');

describe('dashboard in a browser', { skip }, () => {
  let t: TestCluster;
  let shots: { dir: string; remove: () => Promise<void> };
  let context: BrowserContext;
  let page: Page;
  let url: URL;

  before(async () => {
    // Default heartbeats: a local engine's death is seen at once (its socket closes, its pid is gone), and a loaded
    // machine does not make engines miss a shortened heartbeat while they start.
    t = await startTestCluster(3, { controller: { dashboard: { port: 0 } } });
    const file = path.join(t.dir, 'security', 'tsparallel-dashboard.json');
    url = new URL((JSON.parse(await readFile(file, 'utf8')) as { url: string }).url);
    shots = await tempDir('tsparallel-dashboard-');
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(path.join(shots.dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    await t?.stop();
    if (process.env.TSPARALLEL_KEEP_SCREENSHOTS === '1') process.stderr.write(`screenshots kept in ${shots.dir}\n`);
    else await shots?.remove();
  });

  it('refuses the page without the token', async () => {
    const res = await page.goto(url.origin + '/');
    assert.equal(res?.status(), 401);
    assert.match(await page.textContent('body') ?? '', /needs its token/);
  });

  it('loads with the token and shows the engine count', async () => {
    const res = await page.goto(url.href);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');
    // Polled from here: the page's Content-Security-Policy forbids evaluating strings in it.
    await waitUntil(async () => (await page.textContent('#engine-count')) === '3', 20_000, 'the page shows 3 engines');
    assert.equal(await page.locator('#engines tbody tr[data-state="alive"]').count(), 3);
    assert.equal(await page.textContent('#task-policy'), 'leastload');
    assert.equal(await page.textContent('#live'), 'live');
    assert.equal(await page.locator('#chart canvas').count() > 0, true, 'uPlot drew its chart (served from node_modules)');
  });

  it("shows a map's tasks in the task stream, one lane per engine", async () => {
    const lview = t.client.loadBalancedView();
    const n = 12;
    const out = await lview.map(async (x: number) => {
      await new Promise((r) => setTimeout(r, 30));
      return x + 1;
    }, Array.from({ length: n }, (_, i) => i), { chunksize: 1 });
    assert.equal(out.length, n);
    await waitUntil(async () => (await page.locator('#stream .bar.completed').count()) >= n, 20_000, `the task stream shows ${n} completed tasks`);
    assert.equal(await page.locator('#stream .lane').count(), 3);
    const lanesWithBars = await page.locator('#stream .lane:has(.bar.completed)').count();
    assert.ok(lanesWithBars >= 2, `tasks spread over engines (${lanesWithBars} lanes have bars)`);
    const file = path.join(shots.dir, 'dashboard-tasks.png');
    await page.screenshot({ path: file, fullPage: true });
    assert.ok((await stat(file)).size > 10_000);
  });

  it('lists a failed task under recent failures, with its remote stack', async () => {
    const failed = await t.client.loadBalancedView().apply(() => {
      throw new RangeError('the page shows this');
    }).get({ timeoutMs: 30_000 }).then(() => undefined, (e: Error) => e);
    assert.match(failed?.message ?? 'no error', /the page shows this/);
    const failure = page.locator('#failures details', { hasText: 'the page shows this' });
    await failure.waitFor({ timeout: 20_000 });
    assert.match(await failure.locator('summary').textContent() ?? '', /engine \d+ · RangeError: the page shows this/);
    assert.match(await failure.locator('pre').textContent() ?? '', /^RangeError: the page shows this\n\s+at /);
  });

  it('counts every dropped message in the summary, a validly signed one of the wrong shape included', async () => {
    assert.equal(await page.textContent('#dropped'), '0');
    const peer = new RawPeer(t.client.info.address, t.client.info.key);
    try {
      await peer.send('abort_request', { msgIds: 5 });
      await waitUntil(() => peer.received.length > 0, 10_000, 'the controller answers the invalid request');
    } finally {
      peer.close();
    }
    await waitUntil(async () => (await page.textContent('#dropped')) === '1', 20_000, 'the page counts the invalid message');
    assert.match(await page.getAttribute('#dropped', 'title') ?? '', /invalid: 1/);
  });

  it('shows an engine killed with SIGKILL as dead', async () => {
    const pid = Number(await page.textContent('#engines tbody tr[data-engine-id="2"] td:nth-child(3)'));
    assert.ok(t.cluster.pids.includes(pid), `the page shows engine 2's real pid (${pid})`);
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !isAlive(pid), 10_000, 'the engine process is gone');
    await page.waitForSelector('#engines tbody tr[data-engine-id="2"][data-state="dead"]', { timeout: 20_000 });
    assert.equal(await page.textContent('#engine-count'), '2');
    assert.equal(await page.textContent('#dead-count'), '1');
    assert.match(await page.getAttribute('#engines tbody tr[data-engine-id="2"]', 'title') ?? '', /no heartbeat|its process \(pid \d+\) exited/);
    assert.equal(await page.locator('#stream .lane.dead[data-engine-id="2"]').count(), 1);
    const file = path.join(shots.dir, 'dashboard-dead-engine.png');
    await page.screenshot({ path: file, fullPage: true });
    assert.ok((await stat(file)).size > 10_000);
  });
});
