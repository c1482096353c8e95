/**
 * The short fuzzing run of `npm test` (issue 13): a fixed seed, ~12 s of malformed messages to every endpoint of a
 * real cluster; nothing crashes or hangs, the seed's map is still right, memory comes back near its start.
 * `npm run fuzz -- --seconds N` runs a long one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { campaign } from './campaign.js';
import { Fuzzer } from './fuzzer.js';

test('the same seed generates the same messages', () => {
  const targets = { key: 'k', clientAddress: '', engineAddress: '', heartbeatAddress: '', directAddresses: [] };
  const a = new Fuzzer(targets, 42);
  const b = new Fuzzer(targets, 42);
  for (let i = 0; i < 200; i++) {
    const x = a.message(['apply_request']);
    const y = b.message(['apply_request']);
    assert.equal(x.kind, y.kind);
    if (x.kind !== 'signature' && x.kind !== 'framing' && x.kind !== 'badjson' && x.kind !== 'wrongtypes' && x.kind !== 'unknowntype' && x.kind !== 'hugesize' && x.kind !== 'batch') {
      assert.deepEqual(x.frames, y.frames);
    }
  }
});

test('fuzzing every endpoint crashes nothing, hangs nothing, and leaves the map right', { timeout: 120_000 }, async () => {
  const report = await campaign({ seconds: 12, seed: 20261125, maxMessages: 60_000 });
  assert.deepEqual(report.problems, [], JSON.stringify(report, null, 2));
  assert.ok(report.stats.sent > 500, `sent ${report.stats.sent} messages`);
  for (const kind of ['random', 'framing', 'signature', 'badjson', 'wrongtypes', 'unknowntype', 'hugesize', 'batch']) assert.ok(report.stats.byKind[kind]! > 0, `sent some ${kind}`);
  assert.ok(Object.keys(report.stats.byEndpoint).length >= 5, 'every endpoint was fuzzed');
  const dropped = report.dropped!;
  assert.ok(dropped.badSignature > 0 && dropped.malformed > 0 && dropped.invalid > 0, `the controller counted drops: ${JSON.stringify(dropped)}`);
});
