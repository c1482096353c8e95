/**
 * The Python peers (ipyparallel, Dask distributed): each runs as one `python3 bench/python/peer_<name>.py PLAN`
 * process that prints JSON lines (see bench/python/driver.py). Debian's packages are used, so the interpreter is
 * `/usr/bin/python3` (pyenv's python3 does not see them); missing packages are installed with apt-get when the bench
 * runs as root and `--no-install` is not given, otherwise the peer is skipped with the command that installs them.
 * @module
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import debug from 'debug';
import { BenchError } from '../lib/checks.js';
import { benchSourceDir } from '../lib/paths.js';
import type { ProcessInfo } from '../lib/procs.js';
import type { BenchSystem, Reporter, RunPlan, Sample, WorkloadId } from '../lib/types.js';

const log = debug('tsparallel:bench:python');

/** How a Python peer is found and installed. */
interface PythonPeerSpec {
  name: string;
  script: string;
  modules: string[];
  aptPackages: string[];
}

const IPYPARALLEL: PythonPeerSpec = {
  name: 'ipyparallel',
  script: 'peer_ipyparallel.py',
  modules: ['ipyparallel', 'numpy'],
  aptPackages: ['python3-ipyparallel', 'python3-numpy'],
};

const DASK: PythonPeerSpec = {
  name: 'dask',
  script: 'peer_dask.py',
  modules: ['distributed', 'dask.bag', 'numpy'],
  aptPackages: ['python3-distributed', 'python3-numpy'],
};

/** The last `lines` lines of `text`. */
function tail(text: string, lines = 20): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** `undefined` if `python` imports every module, else the error it printed. */
function importError(python: string, modules: readonly string[]): string | undefined {
  if (!existsSync(python)) return `${python} does not exist`;
  const result = spawnSync(python, ['-c', modules.map((m) => `import ${m}`).join('; ')], { encoding: 'utf8' });
  if (result.status === 0) return undefined;
  return tail(result.stderr || result.error?.message || `exit ${result.status}`, 1);
}

function aptInstall(packages: readonly string[]): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '-q', ...packages], { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  log('apt-get install %o', packages);
  if (install().status === 0) return true;
  // A fresh machine has no package lists yet.
  log('apt-get update, then install again');
  spawnSync('apt-get', ['update', '-q'], { env, stdio: 'ignore' });
  return install().status === 0;
}

/** Options shared by both Python peers. */
export interface PythonPeerOptions {
  /** The interpreter that sees Debian's packages. */
  python: string;
  /** Whether apt-get may install missing packages (only when running as root). */
  install: boolean;
  /** Called with every process tree snapshot the peer reports, so the ledger can check them at the end. */
  onProcesses(processes: ProcessInfo[]): void;
  /** Called with the pid of the Python process itself. */
  onPythonProcess(pid: number): void;
}

function pythonPeer(spec: PythonPeerSpec, options: PythonPeerOptions): BenchSystem {
  return {
    name: spec.name,
    async unavailableReason() {
      let error = importError(options.python, spec.modules);
      if (error === undefined) return undefined;
      const command = `apt-get install ${spec.aptPackages.join(' ')}`;
      if (options.install && process.getuid?.() === 0 && spawnSync('apt-get', ['--version']).status === 0) {
        if (aptInstall(spec.aptPackages)) error = importError(options.python, spec.modules);
        if (error === undefined) return undefined;
        return `${options.python} cannot import ${spec.modules.join(', ')} (${error}) even after '${command}'; check apt's output by running it by hand`;
      }
      return `${options.python} cannot import ${spec.modules.join(', ')} (${error}); install with '${command}' (as root; the bench does it itself when run as root without --no-install), or point --python at an interpreter that has them`;
    },
    async run(plan: RunPlan, reporter: Reporter) {
      const script = path.join(benchSourceDir(), 'python', spec.script);
      const payload = JSON.stringify({ workloads: plan.workloads, runs: plan.runs, sizes: plan.sizes, tmpDir: plan.tmpDir });
      const child = spawn(options.python, [script, payload], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1' },
      });
      if (child.pid !== undefined) options.onPythonProcess(child.pid);
      let stderr = '';
      child.on('error', (error) => {
        stderr += `\n${error.message}`;
      });
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        stderr = tail(stderr + chunk, 200);
      });
      let sawDone = false;
      const lines = createInterface({ input: child.stdout! });
      lines.on('line', (line) => {
        let message: Record<string, unknown>;
        try {
          message = JSON.parse(line) as Record<string, unknown>;
        } catch {
          log('%s: not a protocol line: %s', spec.name, line);
          return;
        }
        const workload = message.workload as WorkloadId;
        switch (message.type) {
          case 'sample':
            reporter.sample(message as unknown as Sample);
            break;
          case 'skip':
            reporter.skip(workload, String(message.reason));
            break;
          case 'fail':
            reporter.fail(workload, new BenchError(`${spec.name}: ${String(message.message)}\n${tail(String(message.traceback), 8)}`));
            break;
          case 'pids':
            options.onProcesses(message.processes as ProcessInfo[]);
            break;
          case 'done':
            sawDone = true;
            break;
        }
      });
      // The harness's time limit: SIGTERM lets the script's finally blocks stop its clusters; SIGKILL if it dawdles.
      const onAbort = () => {
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
      };
      plan.signal.addEventListener('abort', onAbort, { once: true });
      // 'close' comes after the exit and after stdout ended, so every protocol line has been read by then.
      const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
      plan.signal.removeEventListener('abort', onAbort);
      if (!sawDone || code !== 0) {
        const why = plan.signal.aborted ? 'stopped at the time limit' : `exited with ${code ?? signal}`;
        throw new BenchError(`${spec.name}: ${options.python} ${script} ${why}; stderr ends:\n${tail(stderr, 15)}`);
      }
    },
  };
}

/** The ipyparallel 7.x peer. */
export function ipyparallelSystem(options: PythonPeerOptions): BenchSystem {
  return pythonPeer(IPYPARALLEL, options);
}

/** The Dask distributed peer. */
export function daskSystem(options: PythonPeerOptions): BenchSystem {
  return pythonPeer(DASK, options);
}
