/**
 * The controller's task journal: bounded by compaction, and a torn last record is ignored.
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { TaskJournal, toJournalMessage, type JournalTask } from '../../src/controller/journal.js';
import { tempDir } from '../support/cluster.js';

function task(i: number): JournalTask {
  const message = toJournalMessage({
    header: { msg_id: `task-${i}`, msg_type: 'apply_request', session: 's', date: new Date(0).toISOString(), version: '1.0' },
    parent: {},
    metadata: { balanced: true, retries: 2 },
    content: { fn: { source: '(x) => x * 2' } },
    buffers: [Buffer.from(JSON.stringify([i]))],
  });
  return { msgId: `task-${i}`, client: Buffer.from('client-1').toString('base64'), message, state: 'queued', retries: 0, submitted: i };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('the task journal', () => {
  it('stays bounded under 100,000 tasks (compaction), and a reopened journal holds only the live state', async () => {
    const tmp = await tempDir();
    try {
      const file = path.join(tmp.dir, 'journal.jsonl');
      const journal = TaskJournal.open(file);
      journal.engineAdded({ id: 0, uuid: 'u0', pid: 1, hostname: 'h' });
      journal.engineAdded({ id: 1, uuid: 'u1', pid: 2, hostname: 'h' });
      let largest = 0;
      for (let i = 0; i < 100_000; i++) {
        journal.submitted(task(i));
        journal.sent(`task-${i}`, i % 2);
        if (i % 1000 === 7) journal.requeued(`task-${i}`, 1);
        // The last 50 stay unfinished.
        if (i < 99_950) journal.finished(`task-${i}`, 'completed');
        if (i % 500 === 0) {
          await tick();
          largest = Math.max(largest, statSync(file).size);
        }
      }
      journal.flush();
      largest = Math.max(largest, statSync(file).size);
      // Without compaction the file would hold ~400,000 records (~60 MB).
      assert.ok(largest < 12 * 1024 * 1024, `the journal grew to ${largest} bytes`);
      journal.close();
      const back = TaskJournal.open(file, { restore: true });
      const unfinished = [...back.state.tasks.values()].filter((t) => t.state === 'running');
      assert.equal(unfinished.length, 50);
      assert.deepEqual(unfinished.map((t) => t.msgId), Array.from({ length: 50 }, (_, k) => `task-${99_950 + k}`));
      assert.equal(unfinished[7]!.engineId, (99_957) % 2);
      assert.ok(unfinished.every((t) => t.message?.buffers.length === 1));
      // Finished tasks kept: the last 1000 only.
      assert.equal(back.state.tasks.size, 1050);
      assert.equal(back.state.engines.size, 2);
      assert.equal(back.state.nextEngineId, 2);
      back.close();
    } finally {
      await tmp.remove();
    }
  });

  it('ignores a torn last record (a crash mid-write), cuts it off, and goes on appending', async () => {
    const tmp = await tempDir();
    try {
      const file = path.join(tmp.dir, 'journal.jsonl');
      const journal = TaskJournal.open(file);
      for (let i = 0; i < 10; i++) journal.submitted(task(i));
      journal.sent('task-3', 0);
      journal.finished('task-4', 'failed');
      journal.close();
      const whole = readFileSync(file, 'utf8');
      // Half a record, as a kill -9 in the middle of a write leaves it.
      const torn = JSON.stringify({ op: 'finished', msgId: 'task-3', state: 'completed' });
      appendFileSync(file, torn.slice(0, torn.length >> 1));
      const back = TaskJournal.open(file, { restore: true });
      assert.equal(back.state.tasks.size, 10);
      assert.equal(back.state.tasks.get('task-3')!.state, 'running', 'the torn record was not applied');
      assert.equal(back.state.tasks.get('task-4')!.state, 'failed');
      back.finished('task-3', 'completed');
      back.close();
      const again = TaskJournal.open(file, { restore: true });
      assert.equal(again.state.tasks.get('task-3')!.state, 'completed', 'records appended after the torn one are read');
      again.close({ remove: true });
      assert.ok(whole.length > 0);
    } finally {
      await tmp.remove();
    }
  });
});
