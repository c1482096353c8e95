/**
 * createCluster checks its own options before anything starts: a key that is neither a configuration key nor one of
 * its options is refused with the name meant, and an option of the wrong type is refused with what it takes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createCluster, type ClusterOptions } from '../../src/cluster/cluster.js';
import { ConfigError } from '../../src/core/errors.js';

async function refusal(options: unknown): Promise<Error> {
  try {
    const cluster = await createCluster(options as ClusterOptions);
    await cluster.stop();
  } catch (err) {
    return err as Error;
  }
  assert.fail(`createCluster accepted ${JSON.stringify(options)}`);
}

test("a misspelled createCluster option names the option meant and what is allowed", async () => {
  const err = await refusal({ n: 1, profileDirr: '/nonexistent/tsparallel-profile' });
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, /createCluster\(\): unknown option 'profileDirr' \(did you mean 'profileDir'\?\)/);
  assert.match(err.message, /allowed: .*\bn\b.*\bcontroller\b.*\bprofileDir\b.*\bdetached\b/);
});

test('an own option of the wrong type says what it takes, before any process starts', async () => {
  const err = await refusal({ n: 1, projectDir: null, profileDir: '/nonexistent/tsparallel-profile', detached: 'yes' });
  assert.ok(err instanceof ConfigError, String(err));
  assert.match(err.message, /option 'detached' takes a boolean, given 'yes'/);
  const cb = await refusal({ n: 1, projectDir: null, profileDir: '/nonexistent/tsparallel-profile', onProgress: 'log' });
  assert.match(cb.message, /option 'onProgress' takes a function/);
});
