/**
 * Close-match suggestions for misspelled keys and values.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closestMatch, editDistance } from '../../src/core/suggest.js';

describe('close-match suggestions', () => {
  test('editDistance counts insertions, deletions, substitutions and swaps', () => {
    assert.equal(editDistance('', ''), 0);
    assert.equal(editDistance('abc', ''), 3);
    assert.equal(editDistance('', 'ab'), 2);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(editDistance('heartbeat', 'heatrbeat'), 1);
    assert.equal(editDistance('taskPolicy', 'taskPolicy'), 0);
    assert.equal(editDistance('ip', 'pi'), 1);
  });
  test('closestMatch ignores case and refuses far candidates', () => {
    assert.equal(closestMatch('controller.heartbeatMS', ['n', 'controller.heartbeatMs', 'controller.hwm']), 'controller.heartbeatMs');
    assert.equal(closestMatch('lauchner', ['launcher', 'ip']), 'launcher');
    assert.equal(closestMatch('frobnicate', ['launcher', 'ip']), undefined);
    assert.equal(closestMatch('x', []), undefined);
  });
});
