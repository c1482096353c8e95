/**
 * The names of a cluster's files and the process checks, without a cluster.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { clusterFileName, clusterFilePaths, connectionFileName, filesOfCluster, withClusterId } from '../../src/util/cluster-files.js';
import { isProcessAlive, signalProcess } from '../../src/util/processes.js';

describe('cluster file names', () => {
  it('carry the cluster id, except for the default cluster', () => {
    assert.equal(withClusterId('cluster', ''), 'cluster');
    assert.equal(withClusterId('cluster', 'x1'), 'cluster-x1');
    assert.equal(connectionFileName('', 'client'), 'tsparallel-client.json');
    assert.equal(connectionFileName('x1', 'engine'), 'tsparallel-x1-engine.json');
    assert.equal(clusterFileName('x1'), 'cluster-x1.json');
  });

  it('clusterFilePaths puts connection, cluster, socket and CA files in security/ and the pid file in pid/', () => {
    const profile = { security: path.join('/p', 'security'), pid: path.join('/p', 'pid') };
    assert.deepEqual(clusterFilePaths(profile, 'x1'), {
      clientConnectionFile: path.join('/p', 'security', 'tsparallel-x1-client.json'),
      engineConnectionFile: path.join('/p', 'security', 'tsparallel-x1-engine.json'),
      clusterFile: path.join('/p', 'security', 'cluster-x1.json'),
      pidFile: path.join('/p', 'pid', 'tscluster-x1.pid'),
      controlSocket: path.join('/p', 'security', 'tscluster-x1.sock'),
      extraCaFile: path.join('/p', 'security', 'tsparallel-x1-extra-ca.pem'),
    });
    assert.equal(clusterFilePaths(profile, '').clusterFile, path.join('/p', 'security', 'cluster.json'));
    assert.equal(clusterFilePaths(profile, '').extraCaFile, path.join('/p', 'security', 'tsparallel-extra-ca.pem'));
    assert.deepEqual(filesOfCluster(clusterFilePaths(profile, 'x1')).map((f) => path.basename(f)).sort(), [
      'cluster-x1.json', 'tsparallel-x1-client.json', 'tsparallel-x1-engine.json', 'tsparallel-x1-extra-ca.pem',
    ], 'what a cluster removes when it stops: not the pid file or control socket, which tscluster start owns');
  });
});

describe('process checks', () => {
  it('this process is alive; no pid, zero and negative pids are not', () => {
    assert.equal(isProcessAlive(process.pid), true);
    for (const pid of [undefined, 0, -1, 1.5]) assert.equal(isProcessAlive(pid), false, String(pid));
  });

  it('signalling a pid that does not exist is not an error', () => {
    assert.equal(signalProcess(2 ** 22 + 12345, 'SIGTERM'), false);
  });
});
