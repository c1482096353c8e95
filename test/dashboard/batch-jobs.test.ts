/**
 * Batch jobs on the dashboard, with real processes: a cluster whose engines are an HTCondor job of the HTCondor
 * simulator (src/testing/htcondor-sim.ts, its condor_submit/condor_q/condor_history/condor_rm on PATH; the real
 * HTCondor cannot run here) and whose controller serves the dashboard. The process that owns the launchers (this one) reports each job's state to the controller over the
 * wire; the controller's dashboard, `tscluster dashboard` in another process, `/metrics` and `tscluster list` all
 * show it: the engine job queued (the simulator holds it), then running, `unknown` while condor_q fails, then
 * cancelled when `condor_rm` ends it from outside. A real headless Chromium sees the job's id and state on the page.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { createCluster, type Cluster } from '../../src/index.js';
import type { JobStats, StatsSnapshot } from '../../src/wire/stats.js';
import { startBatchSim, type BatchSim } from '../support/batch-sims.js';
import { cliEnv, runCli, startCli, type CliProcess } from '../support/cli-run.js';
import { isAlive, waitUntil } from '../support/cluster.js';
import { parsePrometheus } from '../support/prometheus.js';
import { requireTool } from '../support/requirements.js';

const CHROMIUM = '/usr/bin/chromium';

/** Write a screenshot under the simulator's temp dir (or, with TSPARALLEL_KEEP_SCREENSHOTS=1, one that is kept). */
async function screenshot(page: Page, name: string): Promise<void> {
  const keep = process.env.TSPARALLEL_KEEP_SCREENSHOTS === '1';
  const dir = keep ? await mkdtemp(path.join(tmpdir(), 'tsparallel-dashboard-jobs-')) : screenshotDir;
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage: true });
  assert.ok((await stat(file)).size > 10_000);
  if (keep) process.stderr.write(`screenshot kept: ${file}\n`);
}
let screenshotDir = tmpdir();

/** The batch job gauge of a `/metrics` text: state → value. */
function jobGauge(text: string): Record<string, number | undefined> {
  const m = parsePrometheus(text);
  const out: Record<string, number | undefined> = {};
  for (const s of ['queued', 'running', 'finished', 'failed', 'cancelled', 'unknown']) out[s] = m.get(`tsparallel_batch_jobs{state="${s}"}`);
  return out;
}

describe('batch jobs on the dashboard (HTCondor simulator)', () => {
  let sim: BatchSim;
  let cluster: Cluster | undefined;
  let starting: Promise<Cluster>;
  let origin: string;
  let auth: Record<string, string>;
  let engineJob: string;
  let cli: CliProcess | undefined;
  let cliOrigin: string;
  let browser: { context: BrowserContext; page: Page } | undefined;
  const savedPath = process.env.PATH;
  const root = () => path.join(sim.workDir, 'root');
  const profileDir = () => path.join(root(), 'profile_jobs');

  const snapshot = async (from = origin): Promise<StatsSnapshot> => (await (await fetch(`${from}/api/snapshot`, { headers: auth })).json()) as StatsSnapshot;
  const metrics = async (from = origin) => jobGauge(await (await fetch(`${from}/metrics`, { headers: auth })).text());
  /** Wait until the dashboard at `from` shows the engine job in `state`; resolves the job. */
  const jobIn = async (state: JobStats['state'], from = origin): Promise<JobStats> => {
    let seen: JobStats[] = [];
    await waitUntil(async () => (seen = (await snapshot(from)).jobs).some((j) => j.jobId === engineJob && j.state === state), 30_000, `the dashboard at ${from} shows job ${engineJob} ${state}`).catch((err: Error) => {
      throw new Error(`${err.message}; it shows ${JSON.stringify(seen)}`);
    });
    return seen.find((j) => j.jobId === engineJob)!;
  };

  before(async () => {
    sim = await startBatchSim('htcondor', { TSPARALLEL_SIM_GRACE_MS: '2000' });
    screenshotDir = sim.workDir;
    process.env.PATH = sim.env.PATH; // the launcher runs condor_submit/condor_q/condor_rm by name, as on a login node
    sim.pause(); // a full cluster: the engine job waits in the queue
    starting = createCluster({
      n: 2,
      profileDir: profileDir(),
      projectDir: null,
      // The controller runs here at once (and serves the dashboard); the engines are one HTCondor job (cluster).
      controller: { launcher: 'local', ip: '127.0.0.1', dashboard: { port: 0 } },
      engines: { launcher: 'htcondor', startTimeoutMs: 60_000 },
      launchers: { htcondor: { pollIntervalMs: 250 } },
    });
    starting.catch(() => undefined);
    const file = path.join(profileDir(), 'security', 'tsparallel-dashboard.json');
    await waitUntil(() => existsSync(file), 60_000, 'the controller writes its dashboard file');
    const url = new URL((JSON.parse(await readFile(file, 'utf8')) as { url: string }).url);
    origin = url.origin;
    auth = { authorization: `Bearer ${url.searchParams.get('token')}` };
  });

  after(async () => {
    sim?.resume();
    await browser?.context.close();
    if (cli && isAlive(cli.pid)) {
      cli.child.kill('SIGTERM');
      await cli.exited;
    }
    await (cluster ?? (await starting.catch(() => undefined)))?.stop();
    process.env.PATH = savedPath;
    assert.deepEqual(await sim.remove(), [], 'no simulated process had to be killed');
  });

  it('shows the engine job queued while the scheduler holds it, then running; /metrics counts it by state', async () => {
    await waitUntil(() => sim.jobs().length === 1, 30_000, 'the engine job is submitted');
    await waitUntil(async () => (await snapshot()).jobs.length === 1, 30_000, 'the dashboard shows the engine job');
    engineJob = (await snapshot()).jobs[0]!.jobId;
    const job = await jobIn('queued');
    assert.equal(engineJob, String(sim.jobs()[0]!.id), 'the cluster id condor_submit printed');
    assert.equal(job.launcher, 'htcondor');
    assert.ok(job.rawState === 'submitted' || job.rawState === 'Idle', `raw state ${job.rawState}: submitted, then condor_q's word`);
    assert.equal(job.role, 'engines');
    assert.equal(job.set, 0);
    assert.ok(Date.now() - job.since < 60_000, `queued since its submit (${job.since})`);
    assert.deepEqual(await metrics(), { queued: 1, running: 0, finished: 0, failed: 0, cancelled: 0, unknown: 0 });
    // Queued longer than one report period of the watcher: still queued, with the same since.
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await jobIn('queued')).since, job.since);

    sim.resume();
    cluster = await starting;
    assert.deepEqual(cluster.jobIds, [engineJob]);
    const running = await jobIn('running');
    assert.equal(running.rawState, 'Running');
    assert.ok(running.since >= job.since);
    assert.deepEqual(await metrics(), { queued: 0, running: 1, finished: 0, failed: 0, cancelled: 0, unknown: 0 });
  });

  it('`tscluster dashboard`, another process, shows the same job and gauge', async () => {
    cli = startCli(['dashboard', '--profile-dir', profileDir(), '--port', '0'], cliEnv(root()));
    await cli.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}/, 30_000);
    cliOrigin = new URL(/http:\/\/\S+/.exec(cli.stdout())![0]).origin;
    assert.notEqual(cliOrigin, origin);
    const job = await jobIn('running', cliOrigin);
    assert.deepEqual([job.launcher, job.role, job.set], ['htcondor', 'engines', 0]);
    assert.equal((await metrics(cliOrigin)).running, 1);
  });

  it('`tscluster list` shows the job and its state', async () => {
    const listed = await runCli(['list', '--profile-dir', profileDir(), '--json'], cliEnv(root()));
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as { jobs: JobStats[] }[];
    assert.deepEqual(rows[0]!.jobs.map((j) => [j.jobId, j.role, j.state, j.rawState]), [[engineJob, 'engines', 'running', 'Running']]);
    const text = await runCli(['list', '--profile-dir', profileDir()], cliEnv(root()));
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`engine set 0 job ${engineJob} \\(htcondor\\): running for \\d+s`));
  });

  it('shows the job id and state in a real browser', { skip: requireTool('chromium', existsSync(CHROMIUM), 'apt-get install chromium') }, async () => {
    const { chromium } = await import('playwright-core');
    const context = await chromium.launchPersistentContext(path.join(sim.workDir, 'chromium'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    const page = context.pages()[0] ?? (await context.newPage());
    browser = { context, page };
    const file = path.join(profileDir(), 'security', 'tsparallel-dashboard.json');
    assert.equal((await page.goto((JSON.parse(await readFile(file, 'utf8')) as { url: string }).url))?.status(), 200);
    const row = `#jobs tbody tr[data-job-id="${engineJob}"]`;
    await page.waitForSelector(`${row}[data-state="running"]`, { timeout: 20_000 });
    const cells = await page.locator(`${row} td`).allTextContents();
    assert.deepEqual(cells.slice(0, 4), ['htcondor', 'engine set 0', engineJob, 'running']);
    assert.match(cells[4]!, /\d+:\d+:\d+.* · \d+ (s|min)/);
    await screenshot(page, 'dashboard-jobs-running.png');
  });

  it('shows `unknown` while the status command fails, and the state again once it answers', async () => {
    const condorQ = path.join(sim.binDir, 'condor_q');
    const wrapper = await readFile(condorQ, 'utf8');
    await writeFile(condorQ, '#!/bin/sh\necho "Error: Failed to connect to the schedd (errno=111)" >&2\nexit 1\n');
    try {
      const unknown = await jobIn('unknown');
      assert.match(unknown.message ?? '', /errno=111/);
      assert.equal((await metrics()).unknown, 1);
      assert.equal(cluster!.jobIds.length, 1);
    } finally {
      await writeFile(condorQ, wrapper);
    }
    await jobIn('running');
    assert.equal((await snapshot()).engines.filter((e) => e.state === 'alive').length, 2, 'a failed query is not a failed job');
  });

  it('shows the job cancelled when condor_rm ends it from outside: on both dashboards, the page, /metrics and tscluster list', async () => {
    const r = await sim.run('condor_rm', [engineJob]);
    assert.equal(r.status, 0, r.stderr);
    const cancelled = await jobIn('cancelled');
    assert.equal((await snapshot()).jobs.length, 1);
    assert.ok(cancelled.since >= Date.now() - 30_000);
    await jobIn('cancelled', cliOrigin);
    assert.deepEqual(await metrics(), { queued: 0, running: 0, finished: 0, failed: 0, cancelled: 1, unknown: 0 });
    assert.equal((await metrics(cliOrigin)).cancelled, 1);
    if (browser) {
      await browser.page.waitForSelector(`#jobs tbody tr[data-job-id="${engineJob}"][data-state="cancelled"]`, { timeout: 20_000 });
      await screenshot(browser.page, 'dashboard-jobs-cancelled.png');
    }
    // Its engines died with it.
    await waitUntil(async () => (await snapshot()).engines.every((e) => e.state === 'dead'), 30_000, 'the engines of the cancelled job are dead');
    const listed = await runCli(['list', '--profile-dir', profileDir(), '--json'], cliEnv(root()));
    const rows = JSON.parse(listed.stdout) as { jobs: JobStats[] }[];
    assert.deepEqual(rows[0]!.jobs.map((j) => [j.jobId, j.state]), [[engineJob, 'cancelled']]);
  });
});
