import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseQsubOutput, queryPbsJobState } from '../../src/launchers/pbs/parse.js';
import { startBatchSim, type BatchSim } from '../support/batch-sims.js';
import { waitUntil } from '../support/cluster.js';
import { survivors } from '../support/hpc-sim.js';

// The hook that lets the simulators run tasks on the rig's hosts: TSPARALLEL_SIM_EXEC is a command prefix with
// {host}, filled round-robin from TSPARALLEL_SIM_HOSTS. Here the prefix is a stand-in that records the host it was
// given and runs the task, so the test checks the hook itself, not the rig.
describe('simulator exec prefix (TSPARALLEL_SIM_EXEC)', () => {
  let sim: BatchSim;
  let hookEnv: Record<string, string>;
  before(async () => {
    sim = await startBatchSim('pbs', { TSPARALLEL_SIM_GRACE_MS: '500' });
    const prefix = path.join(sim.workDir, 'on-host.sh');
    writeFileSync(prefix, '#!/bin/sh\nSIM_HOST="$1"; export SIM_HOST; shift; exec "$@"\n');
    chmodSync(prefix, 0o755);
    hookEnv = { TSPARALLEL_SIM_EXEC: `${prefix} {host}`, TSPARALLEL_SIM_HOSTS: 'node-a, node-b' };
  });
  after(async () => {
    assert.deepEqual(await sim.remove(), [], 'the simulator left processes behind');
  });

  test('tasks run through the prefix, hosts taken round-robin, and are still stopped by qdel', async () => {
    const script = `#!/bin/sh\n#PBS -N hosts\n#PBS -J 1-3\necho "$SIM_HOST $PBS_ARRAY_INDEX $$" > ${sim.workDir}/host-$PBS_ARRAY_INDEX\nexec sleep 600\n`;
    const file = path.join(sim.workDir, 'hosts.sh');
    writeFileSync(file, script);
    const id = parseQsubOutput((await sim.run('qsub', [file], { env: hookEnv })).stdout);
    await waitUntil(() => [1, 2, 3].every((i) => existsSync(path.join(sim.workDir, `host-${i}`)) && readFileSync(path.join(sim.workDir, `host-${i}`), 'utf8').endsWith('\n')), 15_000, 'every element to start');
    const seen = [1, 2, 3].map((i) => readFileSync(path.join(sim.workDir, `host-${i}`), 'utf8').trim().split(' '));
    assert.deepEqual(seen.map(([host, index]) => [host, index]), [['node-a', '1'], ['node-b', '2'], ['node-a', '3']]);
    const full = await sim.run('qstat', ['-f', id.replace('[]', '[2]')]);
    assert.match(full.stdout, /^\s+exec_host = node-b\/0$/m);

    const run = async (argv: readonly string[]) => {
      const r = await sim.run(argv[0]!, argv.slice(1));
      return { command: argv, exitCode: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    assert.equal((await sim.run('qdel', [id])).status, 0);
    await waitUntil(async () => (await queryPbsJobState(id, run)).state === 'cancelled', 15_000, 'the job to end cancelled');
    assert.deepEqual(await survivors([...seen.map(([, , pid]) => Number(pid)), ...sim.pids()], 10_000), []);
  });
});
