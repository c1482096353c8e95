// An example tsparallel launcher plugin, small enough to copy: `niced` starts the controller or the engines as
// local processes, like the built-in `local` launcher, but at a lower CPU priority (a "nice" value), so a cluster
// on a workstation leaves the desktop responsive.
//
// Use it from a config file:
//   export default {
//     plugins: ['tsparallel-launcher-niced'],            // or a path: './examples/custom-launcher/index.mjs'
//     engines: { launcher: 'niced' },
//     launchers: { niced: { niceness: 15 } },
//   };
//
// A plugin is a plain object: a name, a zod schema for its options (what users write under launchers.<name>), and
// create(context, options) returning a Launcher. tsparallel validates the options before calling create.
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { z } from 'zod';

/**
 * The options users may write under `launchers.niced`. A strict object: a misspelled key (`nicenes`) is an error
 * naming the key meant, not silently ignored.
 */
const options = z.strictObject({
  /** The nice value of every process (0 = normal, 19 = lowest priority). */
  niceness: z.number().int().min(0).max(19).default(10),
  /** How long stop() waits after SIGTERM before SIGKILL, in ms. */
  graceMs: z.number().int().nonnegative().default(5000),
});

/**
 * A launcher: starts `context.n` processes of `[...context.program, ...context.args]` and tracks them until they
 * exit. It implements the whole Launcher contract: state, pids, jobIds, start, stop, signal, onExit.
 * @implements {import('tsparallel/launchers').Launcher}
 */
class NicedLauncher {
  name = 'niced';
  state = 'idle';
  jobIds = [];
  #context;
  #options;
  #children = new Map(); // pid -> { child, exited: Promise<void> }
  #handlers = [];
  #stopping;

  /**
   * @param {import('tsparallel/launchers').LauncherContext} context
   * @param {z.infer<typeof options>} opts
   */
  constructor(context, opts) {
    this.#context = context;
    this.#options = opts;
  }

  get pids() {
    return [...this.#children.keys()];
  }

  /** Adds an exit handler; returns the function that removes it. */
  onExit(handler) {
    this.#handlers.push(handler);
    return () => {
      const i = this.#handlers.indexOf(handler);
      if (i >= 0) this.#handlers.splice(i, 1);
    };
  }

  async start({ signal } = {}) {
    signal?.throwIfAborted();
    this.state = 'starting';
    const { program, args, env, role, n } = this.#context;
    const count = role === 'controller' ? 1 : n;
    for (let i = 0; i < count; i++) {
      const child = spawn(program[0], [...program.slice(1), ...args], {
        env: { ...process.env, ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      // A spawn error (missing program) surfaces as 'error' and then 'close'.
      await new Promise((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      }).catch(async (err) => {
        await this.stop();
        throw err;
      });
      try {
        setPriority(child.pid, this.#options.niceness);
      } catch {
        // Not allowed here (e.g. no permission): the process still runs, at normal priority.
      }
      let stderrTail = '';
      child.stderr.on('data', (chunk) => (stderrTail = (stderrTail + chunk).slice(-2000)));
      const exited = new Promise((resolve) =>
        child.once('close', (code, sig) => {
          this.#children.delete(child.pid);
          for (const h of this.#handlers) h({ id: String(child.pid), code, signal: sig, stderrTail });
          if (this.#children.size === 0) this.state = 'stopped';
          resolve();
        }),
      );
      this.#children.set(child.pid, { child, exited });
    }
    this.state = 'running';
  }

  stop({ graceMs = this.#options.graceMs } = {}) {
    this.#stopping ??= (async () => {
      const running = [...this.#children.values()];
      for (const { child } of running) child.kill('SIGTERM');
      const timer = setTimeout(() => running.forEach(({ child }) => child.kill('SIGKILL')), graceMs);
      await Promise.all(running.map((r) => r.exited));
      clearTimeout(timer);
      this.state = 'stopped';
    })();
    return this.#stopping;
  }

  async signal(sig) {
    for (const { child } of this.#children.values()) child.kill(sig);
  }
}

/** @type {import('tsparallel/launchers').LauncherPlugin<z.infer<typeof options>>} */
const niced = {
  name: 'niced',
  description: 'local processes at a lower CPU priority (example plugin)',
  options,
  create: (context, opts) => new NicedLauncher(context, opts),
};

export default niced;
