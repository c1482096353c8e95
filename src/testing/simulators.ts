/**
 * How to run the job simulators that ship with tsparallel, for tests of launchers on a machine without the real
 * scheduler. A simulator is not the scheduler: it is a faithful stand-in for the commands a launcher runs.
 * @module
 */
import { fileURLToPath } from 'node:url';

/**
 * The argument vector that runs the HPC Pack 2008 `job` command simulator (`hpc-job-sim`): pass it as the
 * `windows-hpc` launcher's `jobCommand`. The simulator keeps its state in the directory named by `HPC_SIM_DIR`
 * (required in its environment) and validates job files with `xmllint` against the HPC Pack 2008 job schema.
 * @example
 * ```ts
 * process.env.HPC_SIM_DIR = await mkdtemp(path.join(tmpdir(), 'hpc-'));
 * await createCluster({ n: 2, controller: { launcher: 'windows-hpc' }, engines: { launcher: 'windows-hpc' },
 *   launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: hpcJobSimulatorCommand() } } });
 * ```
 */
export function hpcJobSimulatorCommand(): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`./hpc-job-sim.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  // From source, the simulator loads tsx by its resolved URL, so it starts from any current directory.
  return fromSource ? [process.execPath, '--import', import.meta.resolve('tsx'), script] : [process.execPath, script];
}

/**
 * The argument vector that runs the simulator as HPC Pack's `task` command (only `task view <job>.<task>`, which
 * shows a task's state and the output the scheduler kept): pass it as the `windows-hpc` launcher's `taskCommand`,
 * beside {@link hpcJobSimulatorCommand} as its `jobCommand`, with the same `HPC_SIM_DIR`.
 * @example
 * ```ts
 * launchers: { 'windows-hpc': { scheduler: 'HEADNODE', jobCommand: hpcJobSimulatorCommand(), taskCommand: hpcTaskSimulatorCommand() } }
 * ```
 */
export function hpcTaskSimulatorCommand(): string[] {
  return [...hpcJobSimulatorCommand(), 'task'];
}

/** The batch schedulers simulated for tests: PBS (`qsub`/`qstat`/`qdel`), LSF (`bsub`/`bjobs`/`bkill`), HTCondor. */
export type BatchSimulatorKind = 'pbs' | 'lsf' | 'htcondor';

/**
 * The argument vector that runs a batch scheduler simulator: append the tool's name and its arguments (e.g.
 * `[...batchSimulatorCommand('pbs'), 'qsub', 'job.sh']`), or write wrapper scripts named like the real tools that
 * exec it, and put them first on PATH. State lives in the directory named by `TSPARALLEL_SIM_DIR` (required);
 * `PBS_SIM_FLAVOR=torque` makes the PBS one behave as Torque. Jobs run as real processes on this machine.
 */
export function batchSimulatorCommand(kind: BatchSimulatorKind): string[] {
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`./${kind}-sim.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  return fromSource ? [process.execPath, '--import', import.meta.resolve('tsx'), script] : [process.execPath, script];
}
