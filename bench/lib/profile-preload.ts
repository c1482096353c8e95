/**
 * Loaded into every Node process the cluster starts during `npm run bench -- --profile` (through `NODE_OPTIONS=
 * --import=…`; Node 20 does not accept `--cpu-prof` there): starts V8's CPU profiler on the main thread at once and
 * writes `<role>-<pid>.cpuprofile` into `TSPARALLEL_PROFILE_DIR` when the process exits. The role is the command's
 * name (`tscontroller`, `tsengine`), else `node`. The inspector's callback API runs synchronously on its own thread,
 * so the profile can be taken and written inside the `exit` event.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

const dir = process.env.TSPARALLEL_PROFILE_DIR;
if (dir && isMainThread) {
  const script = path.basename(process.argv[1] ?? 'node').replace(/\.(js|ts)$/, '');
  const role = script === 'tscontroller' ? 'controller' : script === 'tsengine' ? 'engine' : script;
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // The interval the bench chose (bench/lib/profile.ts), else 100 µs (bench/w3-cpu.ts's few processes).
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.TSPARALLEL_PROFILE_INTERVAL_US) || 100 });
  const write = () =>
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(path.join(dir, `${role}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  if (process.env.TSPARALLEL_PROFILE_WINDOW === '1') {
    // Only between two SIGUSR2 (bench/w3-cpu.ts --profile): the steady state of a workload, without the start-up.
    let on = false;
    process.on('SIGUSR2', () => {
      if (on) write();
      else session.post('Profiler.start');
      on = !on;
    });
  } else {
    session.post('Profiler.start');
    process.once('exit', write);
  }
}
