/**
 * The resource sample on heartbeat answers (src/wire/heart-stats.ts): the frame's layout and its checks, and what each
 * kind of heart really sends: the ZeroMQ heart (the CPU of the whole process, so the first answer after a long task
 * holds the task's CPU time) and the in-process transport's, both read back with readHeartStats over real
 * connections.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Listener, Transport } from '../../src/core/transport.js';
import { InProcessTransport } from '../../src/transport/in-process.js';
import { ZeroMqTransport } from '../../src/transport/zeromq.js';
import { cpuPercentBetween, HEART_STATS_BYTES, heartStatsFrame, readHeartStats, shareHeartSamples, type HeartStats } from '../../src/wire/heart-stats.js';
import { waitUntil } from '../support/cluster.js';

/** CPU time this process has used, in µs. */
function cpuMicros(): number {
  const cpu = process.cpuUsage();
  return cpu.user + cpu.system;
}

/** Keep this thread busy for `ms`. */
function spin(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}

/**
 * A heart of `transport` answering a listener of the same transport; `ping()` sends one ping and resolves with the
 * answer's frames.
 */
async function heartPair(transport: Transport, address: string, listenOptions = {}) {
  const listener: Listener = await transport.listen(address, listenOptions);
  const identity = `heart-${randomUUID()}`;
  const answers: Buffer[][] = [];
  listener.setMessageHandler(({ frames }) => answers.push(frames));
  const heart = await transport.startHeart(listener.address, { identity });
  await heart.ready;
  // Pinged until it answers: the listener may not know the heart's routing id at once (as in zeromq-liveness).
  const ping = () => listener.send(Buffer.from(identity), [Buffer.from('ping')]);
  const first = setInterval(ping, 50);
  try {
    ping();
    await waitUntil(() => answers.length > 0, 5000, 'the heart answers a ping');
  } finally {
    clearInterval(first);
  }
  return {
    async ping(): Promise<Buffer[]> {
      const seen = answers.length;
      ping();
      await waitUntil(() => answers.length > seen, 5000, 'the heart answers');
      return answers[answers.length - 1]!;
    },
    async close() {
      await heart.close();
      await listener.close();
    },
  };
}

/** Ping, and check the answer: the ping's frame, then a sample of this process taken after the ping was sent. */
async function sampleOf(pair: { ping(): Promise<Buffer[]> }): Promise<HeartStats> {
  const cpuBefore = cpuMicros();
  const frames = await pair.ping();
  assert.equal(frames.length, 2, 'the ping frame, then the sample');
  assert.equal(frames[0]!.toString(), 'ping');
  const sample = readHeartStats(frames[1]);
  assert.ok(sample, 'the last frame is a resource sample');
  assert.ok(sample.cpuMicros >= cpuBefore, `CPU ${sample.cpuMicros} µs, at least the ${cpuBefore} µs used before the ping`);
  const rss = process.memoryUsage.rss();
  assert.ok(sample.rssBytes > rss / 2 && sample.rssBytes < rss * 2, `memory ${sample.rssBytes} bytes, this process has ${rss}`);
  return sample;
}

describe('heartbeat resource samples', () => {
  it('a sample frame holds the process’s CPU time, memory and a monotonic time, and only sane frames are read', () => {
    const cpuBefore = cpuMicros();
    const atBefore = Number(process.hrtime.bigint() / 1000n);
    const frame = heartStatsFrame();
    assert.equal(frame.length, HEART_STATS_BYTES);
    const sample = readHeartStats(frame)!;
    assert.ok(sample.cpuMicros >= cpuBefore && sample.cpuMicros <= cpuMicros());
    assert.ok(sample.atMicros >= atBefore && sample.atMicros <= Number(process.hrtime.bigint() / 1000n));
    assert.equal(readHeartStats(undefined), undefined);
    assert.equal(readHeartStats(Buffer.from('ping')), undefined, 'a bare echo has no sample');
    assert.equal(readHeartStats(Buffer.alloc(HEART_STATS_BYTES + 1)), undefined);
    const bad = Buffer.from(frame);
    bad.writeDoubleLE(Number.NaN, 8);
    assert.equal(readHeartStats(bad), undefined, 'NaN memory');
    bad.writeDoubleLE(-1, 8);
    assert.equal(readHeartStats(bad), undefined, 'negative memory');
  });

  it('the hearts of a process of many engines share one sample for a while (shareHeartSamples), others take their own', () => {
    try {
      shareHeartSamples(60_000);
      const first = heartStatsFrame();
      spin(30);
      assert.equal(heartStatsFrame(), first, 'within the window: the same sample');
      shareHeartSamples(5);
      const taken = heartStatsFrame();
      spin(10);
      const next = heartStatsFrame();
      assert.notEqual(next, taken, 'after the window: a new sample');
      assert.ok(readHeartStats(next)!.cpuMicros > readHeartStats(taken)!.cpuMicros, 'it holds the CPU used since');
      shareHeartSamples(0);
      assert.notEqual(heartStatsFrame(), heartStatsFrame(), 'not shared: a sample per answer');
    } finally {
      shareHeartSamples(0);
    }
  });

  it('CPU percent is CPU time over wall time between two samples', () => {
    const a = { cpuMicros: 1_000_000, rssBytes: 1, atMicros: 5_000_000 };
    assert.equal(cpuPercentBetween(a, { cpuMicros: 1_500_000, rssBytes: 1, atMicros: 6_000_000 }), 50);
    assert.equal(cpuPercentBetween(a, { cpuMicros: 3_000_000, rssBytes: 1, atMicros: 6_000_000 }), 200, 'two cores busy');
    assert.equal(cpuPercentBetween(a, { ...a }), undefined, 'no time passed');
  });

  it('the ZeroMQ heart answers with samples of the whole process: a task that kept the main thread busy shows', { timeout: 30_000 }, async () => {
    const pair = await heartPair(new ZeroMqTransport(), 'tcp://127.0.0.1:0', { heartbeatsOnly: true });
    try {
      const first = await sampleOf(pair);
      spin(600);
      const second = await sampleOf(pair);
      assert.ok(second.atMicros - first.atMicros >= 600_000, 'the samples are 600 ms apart or more');
      // The 600 ms of spinning between the two samples are in the second.
      assert.ok(second.cpuMicros - first.cpuMicros >= 500_000, `CPU between the samples: ${second.cpuMicros - first.cpuMicros} µs`);
      assert.ok(cpuPercentBetween(first, second)! > 40, `CPU ${cpuPercentBetween(first, second)} %`);
    } finally {
      await pair.close();
    }
  });

  it('the in-process heart answers with a sample too', async () => {
    const pair = await heartPair(new InProcessTransport(), `inproc://heart-stats-${randomUUID()}`);
    try {
      const first = await sampleOf(pair);
      const second = await sampleOf(pair);
      assert.ok(second.cpuMicros >= first.cpuMicros);
      assert.ok(second.atMicros > first.atMicros);
    } finally {
      await pair.close();
    }
  });
});
