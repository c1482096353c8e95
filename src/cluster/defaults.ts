/**
 * The composition root: which implementation answers each DI token unless the host application registered its own.
 * @module
 */
import 'reflect-metadata';
import { fileURLToPath } from 'node:url';
import type { DependencyContainer } from 'tsyringe';
import { LAUNCHER_REGISTRY, LauncherRegistry, ROLE_RUNNER, type LauncherRole, type RoleRunner, type RunningRole } from '../core/launcher.js';
import { get, provideDefault } from '../core/tokens.js';
import { TRANSPORT_FACTORY, type TransportFactory } from '../core/transport.js';
import { startController } from '../controller/main.js';
import { startEngine } from '../engine/main.js';
import { IsolatedNamespace } from '../engine/namespace.js';
import { builtinLaunchers } from '../launchers/builtin.js';
import { defaultTransports } from '../transport/builtin.js';

export { defaultTransports };

/** Runs controllers and engines inside this process; engines get isolated namespaces. */
export class InProcessRoleRunner implements RoleRunner {
  constructor(private readonly transports: TransportFactory) {}
  async run(role: LauncherRole, args: readonly string[]): Promise<RunningRole> {
    if (role === 'controller') return startController(args, this.transports);
    return startEngine(args, this.transports, { namespace: new IsolatedNamespace() });
  }
}

/**
 * Register the defaults for every token the container (or its parents) does not have yet: the transport factory,
 * a launcher registry holding the built-in launchers, and the in-process role runner.
 */
export function registerDefaults(container: DependencyContainer): DependencyContainer {
  provideDefault(container, TRANSPORT_FACTORY, () => defaultTransports);
  provideDefault(container, LAUNCHER_REGISTRY, () => {
    const registry = new LauncherRegistry();
    for (const plugin of builtinLaunchers) registry.register(plugin);
    return registry;
  });
  provideDefault(container, ROLE_RUNNER, () => new InProcessRoleRunner(get(container, TRANSPORT_FACTORY)));
  return container;
}

/** How this installation starts a role's program: node and the compiled CLI script (or tsx and the source). */
export function roleProgram(role: LauncherRole): string[] {
  const name = role === 'controller' ? 'tscontroller' : 'tsengine';
  const fromSource = import.meta.url.endsWith('.ts');
  const script = fileURLToPath(new URL(`../cli/${name}${fromSource ? '.ts' : '.js'}`, import.meta.url));
  // From source, children load tsx by its resolved URL, so they start from any current directory.
  return fromSource ? [process.execPath, '--import', import.meta.resolve('tsx'), script] : [process.execPath, script];
}
