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
  test('closestMatch takes a word that begins exactly one candidate as short for it', () => {
    assert.equal(closestMatch('workDir', ['jobName', 'workDirectory', 'logDirectory']), 'workDirectory');
    assert.equal(closestMatch('ENV', ['environment', 'engineCommand']), 'environment');
    // Two candidates begin with it, or it is too short to stand for anything: no suggestion.
    assert.equal(closestMatch('log', ['logDirectory', 'logLevel']), undefined);
    assert.equal(closestMatch('wo', ['workDirectory']), undefined);
    // A close typo still wins over a longer name the word begins.
    assert.equal(closestMatch('queu', ['queueName', 'queue']), 'queue');
    // With an explicit distance only near misses count.
    assert.equal(closestMatch('workDir', ['workDirectory'], 2), undefined);
  });
});
