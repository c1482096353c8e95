/**
 * What a role's process finds in its environment: the controller starts without NODE_EXTRA_CA_CERTS (Node parses
 * that file at every process start, and the controller makes no TLS connection); engines with it, narrowed to the
 * certificates Node does not bundle (the same trust for a cheaper boot). Checked on real processes: the controller's
 * /proc environ, an engine asked from a task, and a TLS handshake from an engine to a server whose certificate only
 * the extra CA vouches for.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { connect, createServer, rootCertificates } from 'node:tls';
import { createCluster } from '../../../src/index.js';
import { certificatesNotBundled } from '../../../src/launchers/extra-ca.js';
import { roleEnvironment } from '../../../src/launchers/role-env.js';
import { isAlive, repoRoot, tempDir } from '../../support/cluster.js';

/** A CA Node does not bundle, and a server certificate for 127.0.0.1 it signed (openssl, valid to 2126). */
const tlsFixtures = path.join(repoRoot(), 'test', 'fixtures', 'tls');
const readFixture = (name: string) => readFile(path.join(tlsFixtures, name), 'utf8');

/** The variables a process started with (Linux: /proc/PID/environ). */
async function startEnvironment(pid: number): Promise<Map<string, string>> {
  const text = await readFile(`/proc/${pid}/environ`, 'utf8');
  return new Map(text.split('\0').filter(Boolean).map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

/** `pem` with its base64 wrapped at `width` characters and Windows line ends, as some bundles are written. */
function rewrapped(pem: string, width: number): string {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
  const lines = body.match(new RegExp(`.{1,${width}}`, 'g'))!;
  return ['-----BEGIN CERTIFICATE-----', ...lines, '-----END CERTIFICATE-----', ''].join('\r\n');
}

/** Run `body` with NODE_EXTRA_CA_CERTS set to `file` in this process (launchers copy it to their children). */
async function withExtraCa<T>(file: string, body: () => Promise<T>): Promise<T> {
  const saved = process.env.NODE_EXTRA_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = file;
  try {
    return await body();
  } finally {
    if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = saved;
  }
}

const linuxOnly = { skip: process.platform !== 'linux' && 'reads /proc (Linux only)' };

describe('role environment', () => {
  it('adds the role’s variables and drops only what that role does not use', () => {
    const base = { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/etc/extra.pem', TSPARALLEL_X: 'base' };
    const env = { TSPARALLEL_X: 'role', TSPARALLEL_Y: 'y' };
    assert.deepEqual(roleEnvironment('controller', env, base), { PATH: '/bin', TSPARALLEL_X: 'role', TSPARALLEL_Y: 'y' });
    assert.deepEqual(roleEnvironment('engines', env, base), { ...base, ...env });
    assert.equal(base.NODE_EXTRA_CA_CERTS, '/etc/extra.pem', 'the base environment is left as it was');
  });

  it('finds the certificates of a bundle that Node does not bundle, and refuses what it cannot read as Node would', async () => {
    const ca = await readFixture('ca.pem');
    const bundle = `# a comment\n${rewrapped(rootCertificates[0]!, 76)}${ca}\n${rootCertificates[1]}\n`;
    const extra = certificatesNotBundled(bundle);
    assert.equal(extra?.length, 1);
    assert.equal(extra[0]!.replace(/\s/g, ''), ca.replace(/\s/g, ''), 'only the CA Node does not bundle is kept, as it was');
    assert.deepEqual(certificatesNotBundled(`${rootCertificates[0]}\n${rootCertificates[1]}`), [], 'a bundle of Node’s own roots adds nothing');
    const trusted = ca.replace(/CERTIFICATE-----/g, 'TRUSTED CERTIFICATE-----');
    assert.equal(certificatesNotBundled(`${rootCertificates[0]}\n${trusted}`), null, 'other PEM kinds: keep the file whole');
    assert.equal(certificatesNotBundled(`${rootCertificates[0]}\n-----BEGIN CERTIFICATE-----\nAAAA\n`), null, 'a block without its end');
    assert.equal(certificatesNotBundled(`-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n`), null, 'a block that is no certificate');
  });

  it('starts the local controller without NODE_EXTRA_CA_CERTS and engines with only the CAs Node lacks, trusted', linuxOnly, async () => {
    const tmp = await tempDir();
    const [ca, cert, key] = await Promise.all([readFixture('ca.pem'), readFixture('server.pem'), readFixture('server-key.pem')]);
    const caFile = path.join(tmp.dir, 'extra-ca.pem');
    await writeFile(caFile, `${rootCertificates[0]}\n${ca}${rootCertificates[1]}\n`);
    const server = createServer({ cert, key }, (socket) => socket.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      // This process's NODE_EXTRA_CA_CERTS (if any) does not name the test CA: without it the handshake fails.
      const refused = await new Promise<string>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: [...rootCertificates] }, () => resolve('connected'));
        socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      });
      assert.equal(refused, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');

      await withExtraCa(caFile, async () => {
        const cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
        const pids = cluster.pids;
        try {
          const [controllerPid, enginePid] = pids;
          const controllerEnv = await startEnvironment(controllerPid!);
          assert.ok(controllerEnv.has('PATH'), 'the controller’s environment was read');
          assert.equal(controllerEnv.get('NODE_EXTRA_CA_CERTS'), undefined);
          const client = await cluster.connect();
          const seen = await client.view(0).apply(async (tlsPort: number) => {
            const tls = await import('node:tls');
            const greeting = await new Promise<string>((resolve, reject) => {
              const socket = tls.connect({ host: '127.0.0.1', port: tlsPort, servername: 'localhost' }, () => socket.once('data', (data) => resolve(String(data))));
              socket.on('error', reject);
            });
            return { pid: process.pid, ca: process.env.NODE_EXTRA_CA_CERTS, greeting };
          }, port);
          assert.equal(seen.pid, enginePid);
          assert.equal(seen.greeting, 'hello', 'the engine trusts the extra CA');
          assert.equal(path.dirname(seen.ca!), path.join(tmp.dir, 'security'));
          assert.equal((await readFile(seen.ca!, 'utf8')).replace(/\s/g, ''), ca.replace(/\s/g, ''), 'the engine reads only the CA Node lacks');
          assert.equal((await startEnvironment(enginePid!)).get('NODE_EXTRA_CA_CERTS'), seen.ca);
        } finally {
          await cluster.stop();
          assert.deepEqual(pids.filter(isAlive), []);
        }
        assert.deepEqual((await readdir(path.join(tmp.dir, 'security'))).filter((f) => f.endsWith('.pem')), [], 'the cluster removed the copy when it stopped');
      });
    } finally {
      server.close();
      await tmp.remove();
    }
  });

  it('starts engines without NODE_EXTRA_CA_CERTS when it names only Node’s own roots', linuxOnly, async () => {
    const tmp = await tempDir();
    const caFile = path.join(tmp.dir, 'extra-ca.pem');
    await writeFile(caFile, `${rootCertificates[0]}\n${rootCertificates[1]}\n`);
    try {
      await withExtraCa(caFile, async () => {
        const cluster = await createCluster({ n: 1, profileDir: tmp.dir, projectDir: null });
        const pids = cluster.pids;
        try {
          const client = await cluster.connect();
          assert.deepEqual(await client.view(0).apply(() => ({ pid: process.pid, ca: process.env.NODE_EXTRA_CA_CERTS ?? null })), { pid: pids[1], ca: null });
        } finally {
          await cluster.stop();
          assert.deepEqual(pids.filter(isAlive), []);
        }
      });
    } finally {
      await tmp.remove();
    }
  });
});
