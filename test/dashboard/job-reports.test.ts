/**
 * The wire path of batch job states (`job_states_request`), with real processes and real ZeroMQ sockets: the
 * controller keeps the last report and its statistics carry it; a report of the wrong shape is dropped, counted and
 * answered with a ProtocolError naming the problem; and the reporter of the cluster's process stops reporting when
 * an older controller refuses the message, so nothing else changes for it.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { container } from 'tsyringe';
import { JobStateReporter } from '../../src/cluster/job-report.js';
import type { LauncherContext } from '../../src/core/launcher.js';
import { BatchLauncher } from '../../src/launchers/batch/launcher.js';
import { InProcessScheduler } from '../../src/launchers/in-process/scheduler.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import type { ConnectionInfo } from '../../src/wire/connection.js';
import { Channels, Session, type Message } from '../../src/wire/protocol.js';
import type { JobStats } from '../../src/wire/stats.js';
import { startTestCluster, waitUntil, type TestCluster } from '../support/cluster.js';
import { killAll, sleeperCommand } from '../support/hpc-sim.js';
import { parsePrometheus } from '../support/prometheus.js';
import { RawPeer } from '../support/raw-peer.js';

const job = (jobId: string, state: JobStats['state'], extra: Partial<JobStats> = {}): JobStats => ({ launcher: 'pbs', role: 'engines', set: 0, jobId, state, since: Date.now(), ...extra });

describe('job states over the wire', () => {
  let t: TestCluster;
  before(async () => {
    t = await startTestCluster(1);
  });
  after(() => t.stop());

  it('a cluster of local processes has no batch jobs', async () => {
    assert.deepEqual((await t.client.controllerStats()).snapshot.jobs, []);
  });

  it("the controller keeps the owner's last report; a malformed one is dropped, counted and answered", async () => {
    const peer = new RawPeer(t.client.info.address, t.client.info.key);
    try {
      const reply = async (id: string) => {
        await waitUntil(() => peer.received.some((m) => m.parent.msg_id === id), 10_000, `a reply to ${id}`);
        return peer.received.find((m) => m.parent.msg_id === id)!;
      };
      const ok = await reply(await peer.send('job_states_request', { jobs: [job('7.server', 'running', { rawState: 'R' }), job('8.server', 'queued', { set: 1 })] }));
      assert.equal(ok.header.msg_type, 'job_states_reply');
      assert.equal(ok.content.status, 'ok');
      let stats = await t.client.controllerStats({ metrics: true });
      assert.deepEqual(stats.snapshot.jobs.map((j) => [j.jobId, j.set, j.state, j.rawState]), [['7.server', 0, 'running', 'R'], ['8.server', 1, 'queued', undefined]]);
      const m = parsePrometheus(stats.metrics!);
      assert.equal(m.get('tsparallel_batch_jobs{state="running"}'), 1);
      assert.equal(m.get('tsparallel_batch_jobs{state="queued"}'), 1);

      const before = (await t.client.queueStatus()).dropped as { invalid: number };
      const bad: [unknown, RegExp][] = [
        [{ jobs: 'all' }, /content\.jobs must be an array/],
        [{ jobs: [job('9', 'bogus' as never)] }, /content\.jobs\[0\]\.state must be one of queued, running, finished, failed, cancelled, unknown/],
        [{ jobs: [job('9', 'running'), job('', 'running')] }, /content\.jobs\[1\]\.launcher and \.jobId must be strings/],
        [{ jobs: [job('9', 'running', { set: -1 })] }, /content\.jobs\[0\]\.set must be a non-negative integer/],
        [{ jobs: [job('9', 'running', { role: 'client' as never })] }, /role must be 'controller' or 'engines'/],
        [{ jobs: [job('9', 'running', { since: 'now' as never })] }, /since must be a time/],
        [{ jobs: [job('9', 'unknown', { message: 'x'.repeat(5000) })] }, /at most 1000 characters/],
      ];
      for (const [content, problem] of bad) {
        const r: Message = await reply(await peer.send('job_states_request', content));
        assert.equal(r.content.status, 'error');
        const error = r.content.error as { name: string; message: string };
        assert.equal(error.name, 'ProtocolError');
        assert.match(error.message, problem);
      }
      const afterDrops = (await t.client.queueStatus()).dropped as { invalid: number };
      assert.equal(afterDrops.invalid - before.invalid, bad.length);
      // Nothing of the bad reports was taken; the next good one replaces the last.
      stats = await t.client.controllerStats();
      assert.deepEqual(stats.snapshot.jobs.map((j) => j.jobId), ['7.server', '8.server']);
      await reply(await peer.send('job_states_request', { jobs: [job('7.server', 'cancelled')] }));
      assert.deepEqual((await t.client.controllerStats()).snapshot.jobs.map((j) => [j.jobId, j.state]), [['7.server', 'cancelled']]);
    } finally {
      peer.close();
    }
  });
});

describe('JobStateReporter', () => {
  const scheduler = new InProcessScheduler({ graceMs: 300 });
  const transport = new ZeroMqTransport();
  const key = 'k'.repeat(64);
  after(async () => {
    await scheduler.close();
    killAll(scheduler.pids());
  });

  /** A stand-in controller that answers `job_states_request` as given: `ok`, or as an older controller would. */
  async function standIn(answer: 'ok' | 'old') {
    const listener = await transport.listen('tcp://127.0.0.1:0');
    const session = new Session(key);
    const reports: JobStats[][] = [];
    listener.setMessageHandler(({ identity, frames }) => {
      const msg = session.decode(frames, [Channels.clientToCluster]);
      if (msg?.header.msg_type !== 'job_states_request') return;
      reports.push((msg.content as { jobs: JobStats[] }).jobs);
      // What an older controller answers to a request type it does not know (its #invalid → #replyError).
      const content = answer === 'ok' ? { status: 'ok' } : { status: 'error', error: { name: 'ProtocolError', message: "invalid job_states_request: unknown request type 'job_states_request'", engineId: -1, origin: 'controller' } };
      listener.send(identity, session.encode(session.message('job_states_reply', content, { parent: msg.header }), Channels.controllerToClient));
    });
    const info = { address: listener.address, key } as ConnectionInfo;
    return { listener, reports, target: async () => ({ transport, info }) };
  }

  function engineLauncher(): BatchLauncher {
    const context: LauncherContext = {
      role: 'engines', n: 1, clusterId: 'c1', profileDir: '/tmp', program: sleeperCommand(), args: [], env: {}, container: container.createChildContainer(),
    };
    return new BatchLauncher(context, { name: 'in-process', scheduler, pollIntervalMs: 20 });
  }

  /** A reporter tracking a started engine launcher, reporting to a stand-in controller that answers `answer`; all closed after `body`. */
  async function reporting(answer: 'ok' | 'old', body: (controller: Awaited<ReturnType<typeof standIn>>, launcher: BatchLauncher) => Promise<void>): Promise<void> {
    const controller = await standIn(answer);
    const reporter = new JobStateReporter();
    const launcher = engineLauncher();
    try {
      reporter.track(launcher, 'engines');
      reporter.attach(controller.target);
      await launcher.start();
      await body(controller, launcher);
    } finally {
      await reporter.close();
      await launcher.stop();
      await controller.listener.close();
    }
  }

  it('sends every job on each change, from queued to cancelled', () =>
    reporting('ok', async (controller, launcher) => {
      await waitUntil(() => controller.reports.some((r) => r[0]?.state === 'running'), 15_000, 'a report of the running job');
      assert.equal(controller.reports[0]![0]!.state, 'queued', 'the first report: the job as submitted');
      await launcher.stop();
      await waitUntil(() => controller.reports.at(-1)?.[0]?.state === 'cancelled', 15_000, 'a report of the cancelled job');
      for (const r of controller.reports) assert.deepEqual(r.map((j) => [j.launcher, j.role, j.set, j.jobId]), [['in-process', 'engines', 0, launcher.jobIds[0]]]);
    }));

  it('stops reporting when an older controller refuses the message', () =>
    reporting('old', async (controller, launcher) => {
      await waitUntil(() => controller.reports.length >= 1, 15_000, 'the first report');
      await waitUntil(() => launcher.watchedJobs[0]?.state === 'running', 15_000, 'the job runs');
      // A change seen before the refusal came back may have been sent too; none after it is.
      await new Promise((r) => setTimeout(r, 300));
      const sent = controller.reports.length;
      assert.ok(sent <= 2, `${sent} reports`);
      await launcher.stop();
      assert.equal(launcher.watchedJobs[0]?.state, 'cancelled');
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(controller.reports.length, sent, JSON.stringify(controller.reports));
    }));
});
