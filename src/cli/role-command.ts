/**
 * What `tscontroller` and `tsengine` share: parse, answer `--help`/`--version`, start the role, stop it on SIGTERM
 * or SIGINT, and exit with its code (2 for usage errors).
 * @module
 */
import type { RunningRole } from '../core/launcher.js';
import { applyLogLevel, packageVersion, reportError } from './common.js';

/** How one role command is made. */
export interface RoleCommand<A extends { help: boolean; version: boolean; logLevel?: string }> {
  /** The usage text. */
  usage: string;
  /** Parse the arguments (throws ConfigError on bad ones). */
  parse(argv: readonly string[]): A;
  /** Start the role. */
  start(argv: readonly string[]): Promise<RunningRole>;
  /** Called once the role runs (e.g. to print where to connect). */
  started?(running: RunningRole): void;
}

/** Run a role command with this process's arguments, and exit when the role ends. */
export function runRoleCommand<A extends { help: boolean; version: boolean; logLevel?: string }>(command: RoleCommand<A>): void {
  const argv = process.argv.slice(2);
  const main = async (): Promise<number> => {
    const args = command.parse(argv);
    if (args.help) return void process.stdout.write(command.usage + '\n'), 0;
    if (args.version) return void process.stdout.write(packageVersion() + '\n'), 0;
    applyLogLevel(args.logLevel);
    const running = await command.start(argv);
    const stop = () => void running.stop();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    command.started?.(running);
    return running.exited;
  };
  main().then(
    (code) => process.exit(code),
    (err) => process.exit(reportError(err)),
  );
}
