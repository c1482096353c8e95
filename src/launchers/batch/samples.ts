/**
 * What `tscluster profile create NAME --launcher <scheduler>` writes for each batch scheduler: the commented option
 * lines of its `launchers.<name>` block, with the values a user most often sets.
 * @module
 */

/** The sample option lines (JS source, commented out) of each built-in batch launcher's `launchers.<name>` block. */
export const BATCH_LAUNCHER_SAMPLES: Readonly<Record<string, readonly string[]>> = {
  slurm: [
    "// partition: 'debug',        // sbatch --partition; Slurm's default partition when absent",
    "// account: 'proj42',         // --account",
    "// qos: 'normal',             // --qos",
    "// walltime: '1:00:00',       // --time: seconds, 'H:MM:SS', 'D-HH:MM:SS' or '90m'",
    "// sbatchArgs: ['--mem-per-cpu=2G'],  // one #SBATCH line each",
    "// engineMode: 'srun',        // engines as one --ntasks=n job started with srun, or 'array'",
  ],
  pbs: [
    "// flavor: 'pbspro',          // or 'torque' (arrays -J 1-n vs -t 1-n)",
    "// queue: 'workq',            // qsub -q",
    "// account: 'proj42',         // -A",
    "// walltime: '1:00:00',       // -l walltime=",
    "// resources: 'select=1:ncpus=4',  // -l (Torque: 'nodes=1:ppn=4')",
  ],
  sge: [
    "// queue: 'all.q',            // qsub -q",
    "// pe: 'smp 4',               // -pe: parallel environment and slots",
    "// walltime: '1:00:00',       // -l h_rt=",
  ],
  lsf: [
    "// queue: 'normal',           // bsub -q",
    "// walltime: '1:00:00',       // -W (rounded up to a minute)",
    "// resources: 'span[ptile=4]',  // -R",
  ],
  htcondor: [
    "// requirements: '(OpSys == \"LINUX\")',  // requirements =",
    "// requestMemory: '2 GB',     // request_memory =",
    "// walltime: '1:00:00',       // the job is removed once it has run this long",
  ],
};

/**
 * The lines every batch launcher's block shows after its own: the shared options (splitting an engine set into jobs
 * is `engines.enginesPerJob` / `engines.jobs`, shown with the engines options).
 */
export const SHARED_BATCH_SAMPLE: readonly string[] = [
  "// templateFile: 'job.sh',    // your own job script template ({n}, {queue}, {walltime}, {command}, …)",
  '// vars: { modules: \'gcc/12\' },  // your own template variables',
  "// engineCommand: ['/opt/node/bin/node', '/shared/tsparallel/dist/src/cli/tsengine.js'],  // how nodes start an engine",
];
