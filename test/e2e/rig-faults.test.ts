/**
 * Faults across hosts, on the rig (test/support/rig.ts), with real processes and real TCP between namespaces (the
 * runs themselves are in test/support/rig-faults.ts, shared with the fault-injection report, `npm run faults`):
 * - node2's cable cut while load-balanced tasks with retries run: its engines are declared dead within the
 *   heartbeat timeout, the tasks finish on node1; with the cable back, node2's engines have exited cleanly (they
 *   saw the controller's heartbeats stop), none lingers half-registered, and node1's engines stay registered and
 *   answer;
 * - the controller's host cut off: its engines exit within a bounded time and the client's waiting requests fail
 *   with ControllerLostError or EngineDiedError instead of hanging.
 */
import assert from 'node:assert/strict';
import { after, afterEach, test } from 'node:test';
import { requireRig, setLink, stopRigProcesses } from '../support/rig.js';
import { cutControllerHost, cutNodeDuringWork, HEARTBEAT_TIMEOUT_MS } from '../support/rig-faults.js';

const skip = requireRig('hosts');
after(stopRigProcesses);
afterEach(() => {
  if (!skip) for (const h of ['node1', 'node2']) setLink(h, 'up');
});

test('node2 cut off while load-balanced tasks with retries run: its engines declared dead in time, tasks finish on node1; with the link back node2 engines have exited cleanly and node1 engines stay registered and answer', { skip, timeout: 150_000 }, async (t) => {
  const run = await cutNodeDuringWork(80);
  const gone = run.unregistered.map((u) => `${u.id} (${u.host}) at +${u.at - run.cutAt} ms: ${u.reason}`).join('; ');
  const declared = run.unregistered.filter((u) => u.at < run.linkUpAt);
  assert.deepEqual(declared.map((u) => u.id).sort(), run.node2Ids, `exactly node2 engines are declared dead while it is cut off (declared dead: ${gone})`);
  const { detectMs } = run.figures;
  t.diagnostic(`node2 cut: its engines declared dead after ${detectMs} ms, exited on node2 after ≤ ${run.node2ExitedMs} ms (heartbeat timeout ${HEARTBEAT_TIMEOUT_MS} ms); ${run.figures.retried} tasks retried, ${run.after.late} late replies reported`);
  assert.ok(detectMs <= HEARTBEAT_TIMEOUT_MS + 1000, `declared dead within the heartbeat timeout (+1 s): ${detectMs} ms`);
  assert.deepEqual(run.result, Array.from({ length: 80 }, (_, x) => x * 3), 'every task finished, on node1');
  assert.equal(run.figures.twiceUnreported, 0, 'no task ran twice without its retry being reported');

  // With the cable back: node2's engines did not come back half-registered: they exited cleanly (code 0) while
  // cut off, none re-registered, and no node2 id is registered.
  assert.deepEqual(run.registeredAgain, [], 'no engine re-registered');
  assert.deepEqual(run.after.ids.filter((id) => run.node2Ids.includes(id)), [], 'no node2 engine is registered');
  for (const e of run.node2Exits) assert.equal(e.code, 0, `node2 engine exited cleanly: ${e.stderr}`);
  // And node1's engines, busy with the retried tasks and then idle while node2's stale echoes arrived, stayed
  // registered throughout and answer (issue 10, item 6: they used to stop themselves, their main thread having been
  // too busy to hear of the pings their heart answered).
  assert.deepEqual([...run.after.ids].sort(), run.node1Ids, `node1 engines still registered (declared dead: ${gone})`);
  assert.deepEqual(run.after.apply, [1, 1], 'and answer');
  assert.deepEqual(run.enginesBeforeStop, { node1: 2, node2: 0 }, 'both node1 engines still run, none on node2');
  assert.deepEqual(run.figures.left, {}, 'nothing left on any host');
});

test("the controller's host cut off: engines exit in bounded time, the client's requests fail with ControllerLostError/EngineDiedError", { skip, timeout: 150_000 }, async (t) => {
  const run = await cutControllerHost();
  assert.ok(run.enginesExited, 'the engines on node2 exit within 20 s of losing their controller');
  for (const e of run.engineExits) assert.equal(e.code, 0, `engine exited cleanly: ${e.stderr}`);
  assert.doesNotMatch(run.client.stdout, /HANG/, `the client hung: ${run.client.stdout}`);
  assert.ok(run.errorNames && run.clientMs !== undefined, `client: ${run.client.stdout}\n${run.client.stderr}`);
  t.diagnostic(`controller host cut: engines on node2 gone after ${run.enginesMs} ms, client's requests failed after ${run.clientMs} ms with ${run.errorNames.join(', ')}`);
  // (a view over both engines rejects with a CompositeError: its parts are named)
  for (const name of run.errorNames.flatMap((n) => n.split('+'))) assert.ok(name === 'ControllerLostError' || name === 'EngineDiedError', `a clear error, not ${name}`);
  assert.ok(run.clientMs < 20_000, `the client learned within 20 s: ${run.clientMs} ms`);
  assert.ok(run.taskRuns <= 3, `no task ran twice: ${run.taskRuns} runs of 3 tasks`);
  assert.deepEqual(run.left, {}, 'nothing left on any host');
});
