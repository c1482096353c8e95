/**
 * What a role's process finds in its environment: the controller starts without NODE_EXTRA_CA_CERTS (Node parses
 * that file at every process start, and the controller makes no TLS connection), engines with it (tasks may need
 * those CAs). Checked on real processes: the controller's /proc environ, and an engine asked from a task.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { createCluster } from '../../../src/index.js';
import { roleEnvironment } from '../../../src/launchers/role-env.js';
import { isAlive, tempDir } from '../../support/cluster.js';

/** The variables a process started with (Linux: /proc/PID/environ). */
async function startEnvironment(pid: number): Promise<Map<string, string>> {
  const text = await readFile(`/proc/${pid}/environ`, 'utf8');
  return new Map(text.split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

describe('role environment', () => {
  it('adds the role’s variables and drops only what that role does not use', () => {
    const base = { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/etc/extra.pem', TSPARALLEL_X: 'base' };
    const env = { TSPARALLEL_X: 'role', TSPARALLEL_Y: 'y' };
    assert.deepEqual(roleEnvironment('controller', env, base), { PATH: '/bin', TSPARALLEL_X: 'role', TSPARALLEL_Y: 'y' });
    assert.deepEqual(roleEnvironment('engines', env, base), { ...base, ...env });
    assert.equal(base.NODE_EXTRA_CA_CERTS, '/etc/extra.pem', 'the base environment is left as it was');
  });

  it('starts the local controller without NODE_EXTRA_CA_CERTS and engines with it', { skip: process.platform !== 'linux' && 'reads /proc (Linux only)' }, async () => {
    const tmp = await tempDir();
    const caFile = path.join(tmp.dir, 'extra-ca.pem');
    await writeFile(caFile, rootCertificates[0]!);
    const saved = process.env.NODE_EXTRA_CA_CERTS;
    process.env.NODE_EXTRA_CA_CERTS = caFile;
    try {
      const cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
      const pids = cluster.pids;
      try {
        const [controllerPid, enginePid] = pids;
        const controllerEnv = await startEnvironment(controllerPid!);
        assert.ok(controllerEnv.has('PATH'), 'the controller’s environment was read');
        assert.equal(controllerEnv.get('NODE_EXTRA_CA_CERTS'), undefined);
        const client = await cluster.connect();
        const seen = await client.view(0).apply(() => ({ pid: process.pid, ca: process.env.NODE_EXTRA_CA_CERTS }));
        assert.deepEqual(seen, { pid: enginePid, ca: caFile });
        assert.equal((await startEnvironment(enginePid!)).get('NODE_EXTRA_CA_CERTS'), caFile);
      } finally {
        await cluster.stop();
        assert.deepEqual(pids.filter(isAlive), []);
      }
    } finally {
      if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
      else process.env.NODE_EXTRA_CA_CERTS = saved;
      await tmp.remove();
    }
  });
});
