/**
 * The multi-host rig itself (scripts/rig/): the hosts are really separate (names, addresses, loopback, pids), TCP
 * works between them and nowhere else, a cut link cuts, and sshd, Slurm and Open MPI work across them.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { waitUntil } from '../support/cluster.js';
import {
  collect,
  hostIp,
  mpiEnv,
  pidsOnHost,
  requireRig,
  RIG_HOSTS,
  RIG_SHARED,
  runOnHost,
  runSyncOnHost,
  setLink,
  sshConfigPath,
  stopRigProcesses,
} from '../support/rig.js';

/** A TCP server answering "hello from <hostname>" on port argv[1], address argv[2]; prints "listening". */
const SERVER = `const os=require('os');require('net').createServer(s=>s.end('hello from '+os.hostname())).listen(+process.argv[1],process.argv[2],()=>console.log('listening'))`;
/** Connect to argv[2]:argv[1] and print what comes back, or the error code (TIMEOUT after argv[3] ms). */
const CLIENT = `const s=require('net').connect(+process.argv[1],process.argv[2]);let d='';s.setTimeout(+(process.argv[3]||3000),()=>{console.log('TIMEOUT');process.exit(2)});s.on('data',x=>d+=x).on('end',()=>console.log(d)).on('error',e=>{console.log(e.code);process.exit(1)})`;

function connectFrom(host: string, target: string, port: number, timeoutMs = 3000): string {
  return runSyncOnHost(host, process.execPath, ['-e', CLIENT, String(port), target, String(timeoutMs)], timeoutMs + 10_000).stdout.trim();
}

async function startServer(host: string, port: number, bind: string) {
  const child = runOnHost(host, process.execPath, ['-e', SERVER, String(port), bind]);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  await waitUntil(() => out.includes('listening') || child.exitCode !== null, 15_000, `server on ${host}:${port} to listen`);
  assert.equal(child.exitCode, null, `server on ${host}:${port} exited`);
  return child;
}

after(stopRigProcesses);

describe('rig hosts', { skip: requireRig('hosts') }, () => {
  test('each host has its own hostname and resolves the others to their rig address', () => {
    for (const h of RIG_HOSTS) assert.equal(runSyncOnHost(h, 'hostname').stdout.trim(), h);
    const r = runSyncOnHost('head', 'getent', ['hosts', 'node1']);
    assert.equal(r.stdout.trim().split(/\s+/)[0], hostIp('node1'));
    assert.notEqual(hostIp('node1'), hostIp('node2'));
  });

  test('TCP from head reaches a server on node1; node1\'s loopback is not head\'s', async () => {
    const srv = await startServer('node1', 7001, '0.0.0.0');
    const lo = await startServer('node1', 7002, '127.0.0.1');
    try {
      assert.equal(connectFrom('head', 'node1', 7001), 'hello from node1');
      assert.equal(connectFrom('head', hostIp('node1'), 7001), 'hello from node1');
      assert.equal(connectFrom('node1', '127.0.0.1', 7002), 'hello from node1');
      assert.equal(connectFrom('head', '127.0.0.1', 7002), 'ECONNREFUSED', "head's 127.0.0.1 must not be node1's");
    } finally {
      srv.kill();
      lo.kill();
      await Promise.all([collect(srv), collect(lo)]);
    }
    assert.deepEqual(pidsOnHost('node1', 'listening'), [], 'servers left on node1');
  });

  test('a pid on node1 is not visible on head', async () => {
    const sleeper = runOnHost('node1', 'sleep', ['303']);
    try {
      await waitUntil(() => pidsOnHost('node1', '^sleep 303').length === 1, 10_000, 'sleep 303 on node1');
      const [pid] = pidsOnHost('node1', '^sleep 303');
      assert.deepEqual(pidsOnHost('head', '^sleep 303'), [], 'head lists node1\'s process');
      const onHead = runSyncOnHost('head', 'cat', [`/proc/${pid}/cmdline`]).stdout.replaceAll('\0', ' ');
      assert.notEqual(onHead.trim(), 'sleep 303', `pid ${pid} of node1 is node1's sleep on head too`);
    } finally {
      sleeper.kill();
      await collect(sleeper);
    }
    await waitUntil(() => pidsOnHost('node1', '^sleep 303').length === 0, 10_000, 'sleep 303 gone after killing its nsenter');
  });

  test('no route leaves the /24: a connect off it fails at once on every host', () => {
    for (const h of RIG_HOSTS) {
      assert.doesNotMatch(runSyncOnHost(h, 'ip', ['route']).stdout, /default/, `${h} has a default route`);
      // ENETUNREACH is decided locally: no packet is sent.
      assert.equal(connectFrom(h, '192.0.2.1', 9), 'ENETUNREACH');
    }
  });

  test('link down: connects to node1 fail; link up: they work again', async () => {
    const srv = await startServer('node1', 7003, '0.0.0.0');
    try {
      assert.equal(connectFrom('head', 'node1', 7003), 'hello from node1');
      setLink('node1', 'down');
      const cut = connectFrom('head', 'node1', 7003, 1500);
      assert.ok(cut === 'TIMEOUT' || cut === 'EHOSTUNREACH', `with node1's link down, head still connected: ${cut}`);
      setLink('node1', 'up');
      await waitUntil(() => connectFrom('head', 'node1', 7003) === 'hello from node1', 15_000, 'node1 reachable after link up');
    } finally {
      setLink('node1', 'up');
      srv.kill();
      await collect(srv);
    }
  });
});

describe('rig sshd', { skip: requireRig('hosts', 'sshd') }, () => {
  test('ssh from head to node1 runs in node1\'s pid namespace', () => {
    const r = runSyncOnHost('head', 'ssh', ['-F', sshConfigPath(), 'node1', 'hostname; tr "\\0" " " < /proc/1/cmdline']);
    assert.equal(r.status, 0, r.stderr);
    const [name, init] = r.stdout.split('\n');
    assert.equal(name, 'node1');
    assert.match(init!, /tsparallel-rig-host:node1/);
  });
});

describe('rig slurm', { skip: requireRig('hosts', 'slurm') }, () => {
  test('an sbatch --wrap job runs on a node; scancel removes it from squeue and kills it', async () => {
    const sub = spawnSync('sbatch', ['--parsable', '-o', '/dev/null', '-J', 'rig-test', '--wrap', 'sleep 304'], { cwd: RIG_SHARED, encoding: 'utf8' });
    assert.equal(sub.status, 0, sub.stderr);
    const id = sub.stdout.trim();
    assert.match(id, /^\d+$/);
    const squeue = () => spawnSync('squeue', ['-h', '-j', id, '-o', '%T %N'], { encoding: 'utf8' }).stdout.trim();
    try {
      await waitUntil(() => squeue().startsWith('RUNNING'), 30_000, `job ${id} running (squeue: ${squeue()})`);
      const node = squeue().split(' ')[1]!;
      assert.ok(node === 'node1' || node === 'node2', `job on ${node}`);
      await waitUntil(() => pidsOnHost(node, '^sleep 304').length === 1, 10_000, `sleep 304 on ${node}`);
      assert.deepEqual(pidsOnHost('head', '^sleep 304'), []);
      assert.equal(spawnSync('scancel', [id]).status, 0);
      await waitUntil(() => squeue() === '', 30_000, `job ${id} gone from squeue`);
      await waitUntil(() => pidsOnHost(node, '^sleep 304').length === 0, 15_000, `sleep 304 gone from ${node}`);
    } finally {
      spawnSync('scancel', [id]);
    }
  });
});

describe('rig mpi', { skip: requireRig('hosts', 'sshd', 'mpi') }, () => {
  test('mpiexec from head across node1 and node2 over ssh runs one rank on each', async () => {
    const js = `console.log(require('os').hostname()+' '+process.env.OMPI_COMM_WORLD_RANK)`;
    const child = runOnHost('head', 'mpiexec', ['--host', 'node1:1,node2:1', '-n', '2', process.execPath, '-e', js], {
      env: mpiEnv(),
    });
    const r = await collect(child);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split(/\r?\n/).sort();
    assert.deepEqual(lines, ['node1 0', 'node2 1']);
    for (const h of RIG_HOSTS) assert.deepEqual(pidsOnHost(h, '^orted'), [], `orted left on ${h}`);
  });
});
