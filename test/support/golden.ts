/**
 * Golden files for rendered job scripts: `test/fixtures/batch/<scheduler>/<name>`. Set UPDATE_GOLDEN=1 to (re)write
 * them from the current output; otherwise a difference fails the test.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './cluster.js';

/** Compare `actual` with the golden file `test/fixtures/batch/<scheduler>/<name>`. */
export function assertGolden(scheduler: string, name: string, actual: string): void {
  const file = path.join(repoRoot(), 'test', 'fixtures', 'batch', scheduler, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `golden file ${file} is missing: run the test once with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `rendered script differs from ${file}`);
}

/** A fixed script input for golden files (paths and environment that do not depend on the machine). */
export function goldenInput(role: 'controller' | 'engines', n: number) {
  return {
    role,
    n,
    jobName: role === 'controller' ? 'tsparallel-controller-c1' : 'tsparallel-engines-c1',
    command: ['/usr/bin/node', '/opt/tsparallel/dist/src/cli/ts' + (role === 'controller' ? 'controller' : 'engine') + '.js', '--profile-dir', '/home/u/.tsparallel/profile_x', '--cluster-id', 'c1'],
    env: { TSPARALLEL_CLUSTER_ID: 'c1', DEBUG: 'tsparallel:*', ODD: "it's {literal}" },
    profileDir: '/home/u/.tsparallel/profile_x',
    clusterId: 'c1',
  } as const;
}
