/**
 * The engine's command line: the cluster builds it with toEngineArgs and the engine parses it back.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/core/errors.js';
import { REGISTRATION_TIMEOUT_MS } from '../../src/engine/engine.js';
import { parseEngineArgs, startEngine, toEngineArgs } from '../../src/engine/main.js';
import { defaultTransports } from '../../src/transport/builtin.js';
import { tempDir } from '../support/cluster.js';

describe('the engine command line', () => {
  it('parses back what toEngineArgs wrote', () => {
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/p/security/tsparallel-engine.json' })).connectionFile, '/p/security/tsparallel-engine.json');
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/f.json' })).registrationTimeoutMs, REGISTRATION_TIMEOUT_MS);
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/f.json', registrationTimeoutMs: 1234 })).registrationTimeoutMs, 1234);
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/f.json' })).waitForFileMs, 0);
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/f.json', waitForFileMs: 5000 })).waitForFileMs, 5000);
    assert.throws(() => parseEngineArgs(['--connection-file', '/f.json', '--wait-for-file-ms', 'soon']), (e: unknown) => e instanceof ConfigError && /--wait-for-file-ms takes a whole number/.test(e.message));
  });

  it('waits for a connection file only when asked to, and says so when it never appears', async () => {
    const { dir, remove } = await tempDir('tsp-engine-wait-');
    const missing = path.join(dir, 'tsparallel-engine.json');
    try {
      await assert.rejects(startEngine(['--connection-file', missing], defaultTransports), (e: unknown) => e instanceof ConfigError && /cannot read connection file/.test(e.message));
      const t0 = Date.now();
      await assert.rejects(
        startEngine(['--connection-file', missing, '--wait-for-file-ms', '300'], defaultTransports),
        (e: unknown) => e instanceof ConfigError && /did not appear within 300 ms \(--wait-for-file-ms\): did the controller start\?/.test(e.message),
      );
      assert.ok(Date.now() - t0 >= 300, 'it gave up before the time it was given');
    } finally {
      await remove();
    }
  });
});
