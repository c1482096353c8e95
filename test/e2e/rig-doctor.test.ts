/**
 * `tscluster doctor --probe` on the rig: run on head for a profile whose controller starts on head and whose engines
 * go to node1 through `windows-hpc` (the HPC `job` simulator's service runs its tasks on the rig hosts). A sound
 * profile: the probe's engine on node1 reaches the controller at head's rig address, and doctor says from where and
 * how long it took. A profile advertising loopback: doctor names the problem with its fix, and the probe's engine on
 * node1 cannot reach the controller. Nothing is left on any host either way.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { cliEnv, tsclusterCommand } from '../support/cli-run.js';
import { waitUntil } from '../support/cluster.js';
import { needsXmllint, simJobs, simulatorCommand } from '../support/hpc-sim.js';
import { collect, hostIp, pidsOnAllHosts, requireRig, RIG_SHARED, runOnHost, stopRigProcesses } from '../support/rig.js';
import { startHpcService, writeProfile, type HpcService } from '../support/rig-cluster.js';

const skip = requireRig('hosts') || needsXmllint;
after(stopRigProcesses);

/** Run `tscluster doctor ARGS` on head against the rig's HPC service; resolves its exit code and output. */
async function doctorOnHead(root: string, service: HpcService, args: string[]) {
  const [cmd, ...rest] = tsclusterCommand();
  return collect(runOnHost('head', cmd!, [...rest, 'doctor', ...args], { env: cliEnv(root, { HPC_SIM_SERVICE: service.address }) }));
}

const hpcEngines = () => ({
  engines: { launcher: 'windows-hpc', startTimeoutMs: 60_000 },
  launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: simulatorCommand(), pollIntervalMs: 250 } },
});

test('doctor --probe on head: an engine started on node1 through windows-hpc reaches the controller at head\'s rig address; a loopback profile gets its fix', { skip, timeout: 240_000 }, async (t) => {
  const root = await mkdtemp(path.join(RIG_SHARED, 'rig-doctor-'));
  const simDir = path.join(root, 'sim');
  const service = await startHpcService(simDir, ['node1']);
  t.after(async () => {
    await stopRigProcesses();
    await service.stop();
    await rm(root, { recursive: true, force: true });
  });
  await writeProfile(root, 'rigremote', { controller: { launcher: 'local' }, ...hpcEngines() });
  const good = await doctorOnHead(root, service, ['--profile', 'rigremote', '--probe']);
  t.diagnostic(good.stdout.trim());
  assert.equal(good.code, 0, `doctor found a problem in a sound profile:\n${good.stdout}\n${good.stderr}`);
  assert.match(good.stdout, /launchers: controller 'local' \(this host\), engines 'windows-hpc' \(other hosts\)/);
  const probeLine = good.stdout.split('\n').find((l) => l.includes('probe:')) ?? '';
  assert.match(probeLine, /on host 'node1'/, 'the engine ran on node1');
  assert.match(probeLine, new RegExp(`direct endpoint tcp://${hostIp('node1').replaceAll('.', '\\.')}:\\d+`), 'its reachable direct address is reported');
  assert.match(probeLine, new RegExp(`reached the controller at tcp://${hostIp('head').replaceAll('.', '\\.')}:\\d+ \\d+ ms after the start`), 'the address reached and the time taken');
  assert.ok(simJobs(simDir).every((j) => j.state !== 'Running'), 'the probe\'s engine job ended');

  await writeProfile(root, 'rigloopback', { controller: { launcher: 'local', ip: '127.0.0.1' }, ...hpcEngines() });
  const bad = await doctorOnHead(root, service, ['--profile', 'rigloopback', '--probe', '--timeout-ms', '8000']);
  t.diagnostic(bad.stdout.trim());
  assert.notEqual(bad.code, 0, 'doctor reports the problem in its exit code');
  assert.match(bad.stdout, /loopback/i, 'the loopback address is named');
  assert.match(bad.stdout, /Fix: remove controller\.ip|fix: .*controller\.ip/i, `the fix is given:\n${bad.stdout}`);
  assert.match(bad.stdout, /probe: no engine reached the controller within \d+ ms/, 'the engine on node1 could not reach a loopback address');

  await waitUntil(() => Object.keys(pidsOnAllHosts('tscontroller|tsengine')).length === 0, 20_000, 'nothing left on any host');
  await waitUntil(() => simJobs(simDir).every((j) => j.state !== 'Running' && j.state !== 'Canceling'), 20_000, 'every probe job ended');
});
