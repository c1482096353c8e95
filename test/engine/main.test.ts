/**
 * The engine's command line: the cluster builds it with toEngineArgs and the engine parses it back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REGISTRATION_TIMEOUT_MS } from '../../src/engine/engine.js';
import { parseEngineArgs, toEngineArgs } from '../../src/engine/main.js';

describe('the engine command line', () => {
  it('parses back what toEngineArgs wrote', () => {
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/p/security/tsparallel-engine.json' })).connectionFile, '/p/security/tsparallel-engine.json');
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/f.json' })).registrationTimeoutMs, REGISTRATION_TIMEOUT_MS);
    assert.equal(parseEngineArgs(toEngineArgs({ connectionFile: '/f.json', registrationTimeoutMs: 1234 })).registrationTimeoutMs, 1234);
  });
});
