/**
 * The dashboard page: its HTML, stylesheet and script, served by the dashboard server (no build step, no CDN). The
 * script reads server-sent events from `/api/events` (a full snapshot, then only what is new), keeps the last hour
 * in the page, and draws the engines table, the throughput chart (uPlot), the task stream (one lane per engine, a
 * bar per task coloured by outcome), recent failures with their remote stacks, the clients and the batch jobs
 * (launcher, engine set or controller, job id, the scheduler's state and since when).
 * Remote text (stacks, messages) is inserted as text, never as HTML.
 * @module
 */

/** The page. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsparallel dashboard</title>
<link rel="stylesheet" href="/uplot.css">
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header>
  <h1>tsparallel <span id="cluster-id"></span></h1>
  <div class="summary">
    <div class="stat"><span class="label">engines alive</span><span class="value" id="engine-count" data-testid="engine-count">–</span></div>
    <div class="stat"><span class="label">dead</span><span class="value" id="dead-count">–</span></div>
    <div class="stat"><span class="label">running</span><span class="value" id="running-count">–</span></div>
    <div class="stat"><span class="label">queue depth</span><span class="value" id="queue-depth">–</span></div>
    <div class="stat"><span class="label">task policy</span><span class="value" id="task-policy">–</span></div>
    <div class="stat"><span class="label">clients</span><span class="value" id="client-count">–</span></div>
    <div class="stat"><span class="label">bytes in / out</span><span class="value" id="bytes">–</span></div>
    <div class="stat"><span class="label">dropped msgs</span><span class="value" id="dropped">–</span></div>
    <div class="stat"><span class="label">live</span><span class="value" id="live">connecting…</span></div>
  </div>
</header>
<main>
  <section class="wide">
    <h2>Task stream <small>(last <span id="window-s">60</span> s; one lane per engine)</small></h2>
    <div id="stream" data-testid="task-stream"></div>
    <div class="legend"><span class="bar completed"></span>completed <span class="bar failed"></span>failed <span class="bar retried"></span>retried <span class="bar aborted"></span>aborted <span class="bar running"></span>running</div>
  </section>
  <section class="wide">
    <h2>Throughput <small>(tasks per second, last hour)</small></h2>
    <div id="chart"></div>
  </section>
  <section>
    <h2>Engines</h2>
    <table id="engines" data-testid="engines"><thead><tr><th>id</th><th>host</th><th>pid</th><th>state</th><th>done</th><th>running</th><th>failed</th><th>CPU</th><th>memory</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Recent failures</h2>
    <div id="failures" data-testid="failures"><p class="empty">none</p></div>
  </section>
  <section>
    <h2>Clients</h2>
    <table id="clients"><thead><tr><th>identity</th><th>connected</th></tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Batch jobs</h2>
    <table id="jobs" data-testid="jobs"><thead><tr><th>launcher</th><th>holds</th><th>job id</th><th>state</th><th>since</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script src="/uplot.js"></script>
<script src="/app.js"></script>
</body>
</html>
`;

/** The page's stylesheet. */
export const APP_CSS = `
:root { --completed: #2e9e5b; --failed: #d64545; --retried: #e69a28; --aborted: #8a8a8a; --running: #3b7dd8; }
* { box-sizing: border-box; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f4f6f9; }
header { background: #1d2430; color: #fff; padding: 10px 16px; }
h1 { margin: 0 0 8px; font-size: 18px; } h1 span { color: #9fb3d1; font-weight: normal; }
h2 { font-size: 15px; margin: 0 0 8px; } h2 small { color: #6b7686; font-weight: normal; }
.summary { display: flex; flex-wrap: wrap; gap: 18px; }
.stat { display: flex; flex-direction: column; } .stat .label { font-size: 11px; color: #9fb3d1; text-transform: uppercase; }
.stat .value { font-size: 18px; font-variant-numeric: tabular-nums; }
main { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; padding: 12px; }
section { background: #fff; border-radius: 6px; padding: 10px 12px; box-shadow: 0 1px 2px rgba(0,0,0,.08); min-width: 0; }
section.wide { grid-column: 1 / -1; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #e6e9ef; white-space: nowrap; }
th { font-size: 12px; color: #6b7686; }
tr.dead td { color: #9aa3b0; }
td.job-running { color: var(--completed); font-weight: 600; } td.job-queued { color: var(--retried); font-weight: 600; }
td.job-failed, td.job-cancelled { color: var(--failed); font-weight: 600; } td.job-finished, td.job-unknown { color: var(--aborted); font-weight: 600; } tr td.state-alive { color: var(--completed); font-weight: 600; } tr td.state-dead { color: var(--failed); font-weight: 600; }
#stream { position: relative; }
.lane { display: flex; align-items: center; height: 22px; border-bottom: 1px dashed #e6e9ef; }
.lane .name { width: 90px; flex: none; font-size: 12px; color: #445; } .lane.dead .name { color: var(--failed); text-decoration: line-through; }
.track { position: relative; flex: 1; height: 16px; background: #f7f8fa; }
.track .bar { position: absolute; top: 2px; height: 12px; min-width: 2px; border-radius: 2px; box-shadow: inset -1px 0 0 rgba(255,255,255,.7); }
.bar.completed { background: var(--completed); } .bar.failed { background: var(--failed); } .bar.retried { background: var(--retried); }
.bar.aborted { background: var(--aborted); } .bar.running { background: var(--running); opacity: .75; }
.legend { margin-top: 6px; font-size: 12px; color: #6b7686; }
.legend .bar { display: inline-block; width: 14px; height: 10px; margin: 0 4px 0 10px; border-radius: 2px; }
#failures details { border-bottom: 1px solid #e6e9ef; padding: 4px 0; } #failures summary { cursor: pointer; color: var(--failed); }
#failures pre { font-size: 12px; background: #f7f8fa; padding: 6px; overflow-x: auto; margin: 4px 0; }
.empty { color: #9aa3b0; margin: 0; }
`;

/** The page's script (plain browser JavaScript). */
export const APP_JS = `'use strict';
(() => {
  const HISTORY_MS = 3600 * 1000, MAX_WINDOW_MS = 60 * 1000, MIN_WINDOW_MS = 10 * 1000, MAX_TASKS = 5000, MAX_FAILURES = 50;
  const state = { seq: 0, snap: null, tasks: [], failures: [], throughput: new Map() };
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') e.className = v; else if (k === 'style') e.style.cssText = v; else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  };
  const bytes = (n) => n < 1024 ? n + ' B' : n < 1048576 ? (n / 1024).toFixed(1) + ' KiB' : n < 1073741824 ? (n / 1048576).toFixed(1) + ' MiB' : (n / 1073741824).toFixed(2) + ' GiB';
  const time = (ms) => new Date(ms).toLocaleTimeString();
  const ago = (ms) => {
    const sec = Math.max(0, Math.round(ms / 1000));
    return sec < 60 ? sec + ' s' : sec < 3600 ? Math.floor(sec / 60) + ' min ' + (sec % 60) + ' s' : Math.floor(sec / 3600) + ' h ' + Math.floor((sec % 3600) / 60) + ' min';
  };

  function merge(s) {
    state.snap = s;
    // After a reconnect the server starts again from the full snapshot: keep each event once.
    const fresh = (x) => x.seq > state.seq;
    state.tasks.push(...s.tasks.filter(fresh));
    state.failures.push(...s.failures.filter(fresh));
    state.seq = Math.max(state.seq, s.seq);
    if (state.tasks.length > MAX_TASKS) state.tasks = state.tasks.slice(-MAX_TASKS);
    if (state.failures.length > MAX_FAILURES) state.failures = state.failures.slice(-MAX_FAILURES);
    for (const b of s.throughput) state.throughput.set(b.t, b);
    for (const t of state.throughput.keys()) if (t < s.now - HISTORY_MS) state.throughput.delete(t);
  }

  function renderSummary(s) {
    const alive = s.engines.filter((e) => e.state === 'alive').length;
    $('cluster-id').textContent = s.clusterId ? '· cluster ' + s.clusterId : '';
    $('engine-count').textContent = alive;
    $('dead-count').textContent = s.engines.length - alive;
    $('running-count').textContent = s.runningCount;
    $('queue-depth').textContent = s.queueDepth;
    $('task-policy').textContent = s.taskPolicy;
    $('client-count').textContent = s.clients.length;
    $('bytes').textContent = bytes(s.bytes.in) + ' / ' + bytes(s.bytes.out);
    // Every reason counts (bad signature, replayed, expired, misrouted, malformed, invalid); the tooltip splits them.
    const reasons = Object.entries(s.dropped);
    $('dropped').textContent = reasons.reduce((n, [, v]) => n + v, 0);
    $('dropped').title = reasons.map(([k, v]) => k + ': ' + v).join(', ');
  }

  function renderEngines(s) {
    const body = $('engines').tBodies[0];
    body.replaceChildren(...s.engines.map((e) => el('tr', { class: e.state, 'data-engine-id': e.id, 'data-state': e.state, title: e.reason || '' },
      el('td', {}, e.id), el('td', {}, e.hostname), el('td', {}, e.pid), el('td', { class: 'state-' + e.state }, e.state),
      el('td', {}, e.done), el('td', {}, e.running), el('td', {}, e.failed),
      el('td', {}, e.cpuPercent === undefined ? '–' : e.cpuPercent.toFixed(0) + ' %'),
      el('td', {}, e.rssBytes === undefined ? '–' : bytes(e.rssBytes)))));
  }

  function renderStream(s) {
    // The window grows with the stream, from 10 s to a minute, so short bursts are not hairlines.
    let oldest = s.now;
    for (const t of state.tasks) if (t.end >= s.now - MAX_WINDOW_MS) { oldest = Math.min(oldest, t.start); }
    for (const t of s.running) oldest = Math.min(oldest, t.start);
    const WINDOW_MS = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, s.now - oldest + 1000));
    $('window-s').textContent = Math.round(WINDOW_MS / 1000);
    const end = s.now, start = end - WINDOW_MS;
    const pos = (a, b) => {
      const left = Math.max(0, (a - start) / WINDOW_MS * 100), right = Math.min(100, (b - start) / WINDOW_MS * 100);
      return 'left:' + left.toFixed(3) + '%;width:' + Math.max(0.15, right - left).toFixed(3) + '%';
    };
    const lanes = s.engines.map((e) => {
      const track = el('div', { class: 'track' });
      for (const t of state.tasks) {
        if (t.engineId !== e.id || t.end < start) continue;
        track.append(el('div', { class: 'bar ' + t.outcome, 'data-msg-id': t.msgId, style: pos(t.start, t.end), title: t.type + ' ' + t.outcome + ' in ' + (t.end - t.start) + ' ms' }));
      }
      for (const t of s.running) {
        if (t.engineId !== e.id) continue;
        track.append(el('div', { class: 'bar running', 'data-msg-id': t.msgId, style: pos(t.start, end), title: t.type + ' running' }));
      }
      return el('div', { class: 'lane ' + e.state, 'data-engine-id': e.id }, el('span', { class: 'name' }, 'engine ' + e.id), track);
    });
    $('stream').replaceChildren(...(lanes.length ? lanes : [el('p', { class: 'empty' }, 'no engines yet')]));
  }

  let chart;
  function renderChart(s) {
    const keys = [...state.throughput.keys()].sort((a, b) => a - b);
    const xs = [], done = [], failed = [];
    // At least the last minute, one point per second, so a fresh cluster's chart has a sensible time axis.
    const last = Math.floor(s.now / 1000) * 1000;
    {
      for (let t = Math.min(keys[0] ?? last, last - 60000); t <= last; t += 1000) {
        const b = state.throughput.get(t);
        xs.push(t / 1000); done.push(b ? b.done : 0); failed.push(b ? b.failed : 0);
      }
    }
    const data = [xs, done, failed];
    const width = Math.max(300, $('chart').clientWidth);
    if (!chart) {
      chart = new uPlot({
        width, height: 180,
        series: [{}, { label: 'done/s', stroke: '#2e9e5b', fill: 'rgba(46,158,91,.12)', points: { show: false } }, { label: 'failed/s', stroke: '#d64545', points: { show: false } }],
        axes: [{}, { label: 'tasks/s' }],
      }, data, $('chart'));
    } else {
      if (chart.width !== width) chart.setSize({ width, height: 180 });
      chart.setData(data);
    }
  }

  function renderFailures() {
    const list = state.failures.slice().reverse().map((f) => el('details', {},
      el('summary', {}, time(f.time) + ' · engine ' + f.engineId + ' · ' + f.name + ': ' + f.message),
      el('div', {}, 'task ' + f.msgId), el('pre', {}, f.stack || '(no remote stack)')));
    $('failures').replaceChildren(...(list.length ? list : [el('p', { class: 'empty' }, 'none')]));
  }

  function renderTables(s) {
    $('clients').tBodies[0].replaceChildren(...s.clients.map((c) => el('tr', {}, el('td', {}, c.id), el('td', {}, time(c.connected)))));
    const jobRow = (j) => el('tr', { 'data-job-id': j.jobId, 'data-state': j.state, title: j.message || '' },
      el('td', {}, j.launcher), el('td', {}, j.role === 'controller' ? 'controller' + (j.set ? ' (start ' + (j.set + 1) + ')' : '') : 'engine set ' + j.set),
      el('td', {}, j.jobId), el('td', { class: 'job-' + j.state }, j.state + (j.rawState && j.rawState.toLowerCase() !== j.state ? ' (' + j.rawState + ')' : '')),
      el('td', {}, time(j.since) + ' · ' + ago(s.now - j.since) + ' ago'));
    $('jobs').tBodies[0].replaceChildren(...(s.jobs.length ? s.jobs.map(jobRow)
      : [el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'no batch jobs (local launchers)'))]));
  }

  function render() {
    const s = state.snap;
    renderSummary(s); renderEngines(s); renderStream(s); renderChart(s); renderFailures(); renderTables(s);
  }

  const events = new EventSource('/api/events');
  events.addEventListener('snapshot', (e) => { merge(JSON.parse(e.data)); render(); $('live').textContent = 'live'; });
  events.addEventListener('problem', (e) => { $('live').textContent = 'controller not answering: ' + JSON.parse(e.data).message; });
  events.onerror = () => { $('live').textContent = 'disconnected (retrying)'; };
})();
`;
