/**
 * Engines that cannot start fail the cluster's start at once with the evidence, whatever launcher started them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createCluster, LauncherError } from '../../src/index.js';
import { tempDir } from '../support/cluster.js';

const DIES = [process.execPath, '-e', 'console.error("engine cannot start: no licence"); process.exit(3)', '--'];

describe('engines that exit before registering', () => {
  // startTimeoutMs is a minute: the test's own 30 s limit fails it if the start waits for that instead of failing.
  it('batch launcher: the engine job ending fails the start with LauncherError, not a timeout', { timeout: 30_000 }, async () => {
    const tmp = await tempDir();
    try {
      const err = await createCluster({
        n: 2, profileDir: tmp.dir, projectDir: null,
        engines: { launcher: 'in-process', startTimeoutMs: 60_000 },
        launchers: { 'in-process': { engineCommand: DIES, pollIntervalMs: 50 } },
      }).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof LauncherError, String(err));
      assert.match(err.message, /engine job .* ended before the engines registered/);
      assert.match(err.message, /engine cannot start: no licence/);
    } finally {
      await tmp.remove();
    }
  });
});
