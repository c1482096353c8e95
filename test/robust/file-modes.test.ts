/**
 * Issue 13, file modes: a profile's log/ and pid/ hold user output, tracebacks and process ids, so they are private
 * to the user (0700), like security/, also when they existed before with looser modes.
 */
import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { ensureProfileDirs, profilePaths } from '../../src/config/profile.js';
import { tempDir } from '../support/cluster.js';

test('profile log/, pid/ and security/ are created 0700, and tightened when they exist', { skip: process.platform === 'win32' && 'POSIX modes only' }, async () => {
  const tmp = await tempDir();
  try {
    const fresh = profilePaths('fresh', { dir: path.join(tmp.dir, 'fresh') });
    await ensureProfileDirs(fresh);
    const loose = profilePaths('loose', { dir: path.join(tmp.dir, 'loose') });
    for (const d of [loose.log, loose.pid, loose.security]) await mkdir(d, { recursive: true, mode: 0o755 });
    await ensureProfileDirs(loose);
    for (const p of [fresh, loose]) {
      for (const d of [p.security, p.log, p.pid]) assert.equal((await stat(d)).mode & 0o777, 0o700, `${d} is 0700`);
    }
  } finally {
    await tmp.remove();
  }
});
