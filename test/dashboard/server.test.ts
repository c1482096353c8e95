/**
 * The dashboard server over HTTP, on a real cluster (real processes, real ZeroMQ): served by the controller
 * (`controller.dashboard`) and by `tscluster dashboard` in another process; token checks, JSON data, live events
 * and Prometheus `/metrics` scraped and parsed.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { StatsSnapshot } from '../../src/wire/stats.js';
import { cliEnv, clusterPids, startCli, waitForGone } from '../support/cli-run.js';
import { isAlive, startTestCluster, tempDir, waitUntil, type TestCluster } from '../support/cluster.js';
import { parsePrometheus } from '../support/prometheus.js';
import { startDashboard } from '../../src/dashboard/server.js';

/** The dashboard URL the controller wrote into the profile's security/ folder. */
async function controllerDashboardUrl(dir: string): Promise<URL> {
  const file = path.join(dir, 'security', 'tsparallel-dashboard.json');
  return new URL((JSON.parse(await readFile(file, 'utf8')) as { url: string }).url);
}

async function get(url: URL | string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers, redirect: 'manual' });
}

describe('dashboard server', () => {
  let t: TestCluster;
  let url: URL;
  let token: string;
  before(async () => {
    t = await startTestCluster(2, { controller: { dashboard: { port: 0 } } });
    url = await controllerDashboardUrl(t.dir);
    token = url.searchParams.get('token')!;
  });
  after(() => t.stop());

  it('binds to loopback and refuses requests without the token', async () => {
    assert.equal(url.hostname, '127.0.0.1');
    assert.match(token, /^[0-9a-f]{32}$/);
    const base = `${url.origin}`;
    for (const p of ['/', '/api/snapshot', '/metrics', '/api/events', '/uplot.js']) {
      const res = await get(base + p);
      assert.equal(res.status, 401, p);
      assert.match(await res.text(), /token/);
    }
    assert.equal((await get(`${base}/?token=${'0'.repeat(32)}`)).status, 401);
    assert.equal((await get(`${base}/metrics`, { authorization: 'Bearer nope' })).status, 401);
  });

  it('takes the token once from the URL, keeps it in an HttpOnly cookie, and serves the page and uPlot', async () => {
    const first = await get(url);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/');
    const cookie = first.headers.get('set-cookie')!;
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    const headers = { cookie: cookie.split(';')[0]! };
    const page = await get(`${url.origin}/`, headers);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="\/uplot.js"><\/script>/);
    assert.match(page.headers.get('content-security-policy')!, /default-src 'self'/);
    const uplot = await get(`${url.origin}/uplot.js`, headers);
    assert.equal(uplot.status, 200);
    assert.match(await uplot.text(), /uPlot/);
  });

  it('serves the snapshot: engines, task stream, failures with remote stack, queue, policy, clients', async () => {
    const lview = t.client.loadBalancedView();
    assert.deepEqual(await lview.map((x: number) => x * 2, [1, 2, 3, 4, 5, 6], { chunksize: 1 }), [2, 4, 6, 8, 10, 12]);
    await lview.apply(() => {
      throw new RangeError('dashboard sees this');
    }).catch(() => undefined);
    const auth = { authorization: `Bearer ${token}` };
    const snap = (await (await get(`${url.origin}/api/snapshot`, auth)).json()) as StatsSnapshot;
    assert.deepEqual(snap.engines.map((e) => [e.id, e.state]), [[0, 'alive'], [1, 'alive']]);
    for (const e of snap.engines) assert.ok(t.cluster.pids.includes(e.pid), `engine pid ${e.pid} is one of the cluster's`);
    assert.equal(snap.tasks.filter((x) => x.type === 'map_request' && x.outcome === 'completed').length, 6);
    assert.equal(snap.engines.reduce((n, e) => n + e.done, 0) >= 6, true);
    const failure = snap.failures.find((f) => f.message.includes('dashboard sees this'));
    assert.ok(failure, JSON.stringify(snap.failures));
    assert.equal(failure.name, 'RangeError');
    assert.match(failure.stack ?? '', /RangeError: dashboard sees this\n\s+at /);
    assert.equal(snap.taskPolicy, 'leastload');
    assert.equal(snap.queueDepth, 0);
    assert.ok(snap.clients.length >= 1);
    assert.ok(snap.throughput.reduce((n, b) => n + b.done, 0) >= 6);
  });

  it("shows each engine's CPU and memory, as its process measured them", async () => {
    const auth = { authorization: `Bearer ${token}` };
    let snap: StatsSnapshot | undefined;
    await waitUntil(async () => {
      snap = (await (await get(`${url.origin}/api/snapshot`, auth)).json()) as StatsSnapshot;
      return snap.engines.every((e) => e.rssBytes !== undefined && e.cpuPercent !== undefined);
    }, 15_000, 'every engine reported its CPU and memory');
    for (const e of snap!.engines) {
      assert.ok(e.cpuPercent! >= 0 && e.cpuPercent! < 400, `engine ${e.id} CPU ${e.cpuPercent} %`);
      // The resident memory the kernel gives for that pid, within a factor of two (it moves between the readings).
      const status = await readFile(`/proc/${e.pid}/status`, 'utf8');
      const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
      assert.ok(e.rssBytes! > rss / 2 && e.rssBytes! < rss * 2, `engine ${e.id}: reported ${e.rssBytes} bytes, the kernel says ${rss}`);
    }
  });

  it('streams snapshots as server-sent events, then only what is new', async () => {
    const ac = new AbortController();
    const res = await fetch(`${url.origin}/api/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body!.getReader();
    let text = '';
    const events: StatsSnapshot[] = [];
    try {
      while (events.length < 2) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
        let at;
        while ((at = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, at);
          text = text.slice(at + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (/^event: snapshot$/m.test(block) && data) events.push(JSON.parse(data) as StatsSnapshot);
        }
      }
    } finally {
      ac.abort();
    }
    assert.equal(events.length, 2);
    assert.ok(events[0]!.tasks.length >= 6, 'the first event carries the task stream');
    assert.equal(events[1]!.tasks.length, 0, 'later events carry only new tasks (none ran)');
    assert.equal(events[1]!.engines.length, 2);
  });

  it('serves Prometheus metrics at /metrics', async () => {
    const res = await get(`${url.origin}/metrics`, { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0.0.4/);
    const m = parsePrometheus(await res.text());
    assert.equal(m.get('tsparallel_engines{state="alive"}'), 2);
    assert.equal(m.get('tsparallel_engines{state="dead"}'), 0);
    assert.ok(m.get('tsparallel_tasks_total{outcome="completed"}')! >= 6);
    assert.ok(m.get('tsparallel_tasks_total{outcome="failed"}')! >= 1);
    assert.equal(m.get('tsparallel_queue_depth'), 0);
    assert.ok(m.get('tsparallel_task_duration_seconds_count')! >= 7);
    assert.ok(m.get('tsparallel_bytes_total{direction="in"}')! > 0);
    assert.ok(m.get('tsparallel_bytes_total{direction="out"}')! > 0);
    assert.equal(m.get('tsparallel_messages_dropped_total{reason="bad_signature"}'), 0);
  });

  it('`tscluster start` with controller.dashboard (here from TSPARALLEL_CONTROLLER_DASHBOARD) prints the controller\'s URL', async () => {
    const root = await tempDir('tsparallel-start-dashboard-');
    const cli = startCli(['start', '--profile', 'dash', '-n', '1'], cliEnv(root.dir, { TSPARALLEL_CONTROLLER_DASHBOARD: '{"port":0}' }));
    let pids: number[] = [];
    try {
      await cli.waitForOutput(/Dashboard \(served by the controller\): http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}/, 60_000);
      const printed = new URL(/Dashboard \(served by the controller\): (\S+)/.exec(cli.output())![1]!);
      const written = await controllerDashboardUrl(path.join(root.dir, 'profile_dash'));
      assert.equal(printed.href, written.href, 'the URL the controller wrote into security/');
      pids = await clusterPids(path.join(root.dir, 'profile_dash', 'security', 'cluster.json'));
      const headers = { authorization: `Bearer ${printed.searchParams.get('token')}` };
      await waitUntil(async () => ((await (await get(`${printed.origin}/api/snapshot`, headers)).json()) as StatsSnapshot).engines.length === 1, 30_000, 'the engine on the page');
      assert.equal(parsePrometheus(await (await get(`${printed.origin}/metrics`, headers)).text()).get('tsparallel_engines{state="alive"}'), 1);
    } finally {
      cli.child.kill('SIGINT');
      await cli.exited;
      await waitForGone(pids).finally(() => root.remove());
    }
    assert.deepEqual([cli.pid, ...pids].filter(isAlive), []);
  });

  it('`tscluster dashboard` serves the same cluster from another process and prints its URL', async () => {
    const cli = startCli(['dashboard', '--profile-dir', t.dir, '--port', '0'], cliEnv(path.dirname(t.dir)));
    try {
      await cli.waitForOutput(/http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}/, 30_000);
      const printed = new URL(/http:\/\/\S+/.exec(cli.stdout())![0]);
      assert.equal(printed.searchParams.get('token'), token, 'the same token: derived from the same key');
      assert.notEqual(printed.port, url.port);
      assert.equal((await get(`${printed.origin}/api/snapshot`)).status, 401);
      const auth = { authorization: `Bearer ${token}` };
      const snap = (await (await get(`${printed.origin}/api/snapshot`, auth)).json()) as StatsSnapshot;
      assert.equal(snap.engines.filter((e) => e.state === 'alive').length, 2);
      assert.ok(snap.tasks.length >= 6);
      const m = parsePrometheus(await (await get(`${printed.origin}/metrics`, auth)).text());
      assert.equal(m.get('tsparallel_engines{state="alive"}'), 2);
    } finally {
      cli.child.kill('SIGTERM');
    }
    const exit = await cli.exited;
    assert.equal(exit.code, 0, cli.output());
    await waitUntil(() => !isAlive(cli.pid), 10_000, 'tscluster dashboard exits');
  });
});

describe('dashboard server: an address it cannot listen on', () => {
  const source = { snapshot: () => Promise.reject(new Error('not used')), metrics: () => Promise.resolve('') };

  it('names the host as the problem when it is not an address of this machine, and says what is allowed', async () => {
    // 192.0.2.1 is TEST-NET-1 (never a local address); 'notanip.invalid' never resolves (ENOTFOUND, or EAI_AGAIN offline).
    for (const host of ['192.0.2.1', 'notanip.invalid']) {
      await assert.rejects(startDashboard({ source, token: 't', port: 0, host }), (err: Error) => {
        assert.equal(err.name, 'TransportError');
        assert.match(err.message, new RegExp(`cannot listen on ${host.replace(/\./g, '\\.')}:0 \\((EADDRNOTAVAIL|ENOTFOUND|EAI_AGAIN)\\)`));
        assert.match(err.message, /127\.0\.0\.1/);
        assert.match(err.message, /0\.0\.0\.0/);
        assert.match(err.message, /--host, or controller\.dashboard\.host/);
        assert.doesNotMatch(err.message, /port/, 'the port is not the problem');
        return true;
      });
    }
  });

  it('suggests another port when the port is taken', async () => {
    const first = await startDashboard({ source, token: 't', port: 0 });
    try {
      await assert.rejects(startDashboard({ source, token: 't', port: first.port }), (err: Error) => {
        assert.match(err.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port} \\(EADDRINUSE\\)`));
        assert.match(err.message, /choose another port \(--port, or controller\.dashboard\.port\)/);
        return true;
      });
    } finally {
      await first.close();
    }
  });
});
