/**
 * `tscluster doctor` with the ssh and mpi launchers: it logs in to every ssh host of the profile (a real sshd the test
 * starts) and reports its Node version; a host that refuses is a problem naming it and ssh's message; mpiexec answers
 * as Open MPI.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tempDir } from '../../support/cluster.js';
import { cliEnv, runCli } from '../../support/cli-run.js';
import { requireTool } from '../../support/requirements.js';
import { sshdSkip, startTestSshd, type SshTarget } from '../../support/sshd.js';

describe('tscluster doctor: ssh hosts and mpiexec', { skip: sshdSkip() }, () => {
  let t: SshTarget;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    t = await startTestSshd(['node1', 'node2']);
    tmp = await tempDir('tsparallel-doctor-ssh-');
  });
  after(async () => {
    await t?.close();
    await tmp?.remove();
  });

  it('reports each ssh host with its Node version, and a refusing host as a problem naming it', async () => {
    const dir = path.join(tmp.dir, 'profile_remote');
    await mkdir(path.join(dir, 'security'), { recursive: true });
    const config = { engines: { launcher: 'ssh' }, launchers: { ssh: { hosts: { node1: 1, node2: 1, [t.refusedHost!]: 1 }, sshConfig: t.sshConfig } } };
    await writeFile(path.join(dir, 'tsparallel.config.json'), JSON.stringify(config));
    const result = await runCli(['doctor', '--profile', 'remote'], cliEnv(tmp.dir));
    assert.equal(result.code, 1, result.stdout + result.stderr);
    const version = process.versions.node.replace(/\./g, '\\.');
    assert.match(result.stdout, new RegExp(`ok\\s+ssh host 'node1' answers \\(host name .+\\), Node ${version} there`));
    assert.match(result.stdout, new RegExp(`ok\\s+ssh host 'node2' answers`));
    assert.match(result.stdout, /PROBLEM\s+cannot connect to ssh host 'refused': .*(Connection refused|connect to host)/);
  });

  it('reports which MPI mpiexec is', async (ctx) => {
    let present = true;
    try {
      execFileSync('mpiexec', ['--version'], { stdio: 'ignore' });
    } catch {
      present = false;
    }
    const why = requireTool('mpiexec', present, 'apt-get install openmpi-bin');
    if (why) return ctx.skip(why);
    const dir = path.join(tmp.dir, 'profile_mpi');
    await mkdir(path.join(dir, 'security'), { recursive: true });
    await writeFile(path.join(dir, 'tsparallel.config.json'), JSON.stringify({ engines: { launcher: 'mpi' } }));
    const result = await runCli(['doctor', '--profile', 'mpi'], cliEnv(tmp.dir));
    assert.match(result.stdout, /ok\s+mpiexec is Open MPI/, result.stdout + result.stderr);
  });
});
