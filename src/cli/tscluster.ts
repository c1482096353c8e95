#!/usr/bin/env node
/**
 * `tscluster`: start, stop, grow and list clusters, manage profiles, show the configuration, and open the
 * interactive shell. `tscluster --help` lists the subcommands; `tscluster SUBCOMMAND --help` explains one.
 * Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
 * @module
 */
import 'reflect-metadata';
import { container } from 'tsyringe';
import { registerDefaults } from '../cluster/defaults.js';
import { closestMatch } from '../core/suggest.js';
import { ConfigError } from '../core/errors.js';
import { COMMON_USAGE, handleCommonOptions, parseCommandArgs, type Command } from './args.js';
import { configCommand } from './commands/config.js';
import { doctorCommand } from './commands/doctor.js';
import { dashboardCommand } from './commands/dashboard.js';
import { enginesCommand } from './commands/engines.js';
import { listCommand } from './commands/list.js';
import { profileCommand } from './commands/profile.js';
import { shellCommand } from './commands/shell.js';
import { startCommand } from './commands/start.js';
import { stopCommand } from './commands/stop.js';
import { ignoreClosedOutput, reportError } from './common.js';

/** The subcommands, in the order `--help` lists them. */
const COMMANDS: readonly Command[] = [profileCommand, startCommand, stopCommand, enginesCommand, listCommand, configCommand, doctorCommand, shellCommand, dashboardCommand];

const USAGE = `Usage: tscluster COMMAND [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(9)} ${c.summary}`).join('\n')}

Run \`tscluster COMMAND --help\` for a command's options. A typical session:
  tscluster profile create mycluster      # then edit its tsparallel.config.mjs
  tscluster start --profile mycluster -n 4
  tscluster shell --profile mycluster     # in another window; or Client.connect({ profile: 'mycluster' })

Options:
${COMMON_USAGE}

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.`;

async function main(argv: readonly string[]): Promise<number> {
  // Only the common options may come before the command (tscluster --log-level debug start …).
  let at = 0;
  while (at < argv.length && argv[at]!.startsWith('-')) at += argv[at] === '--log-level' ? 2 : 1;
  const name = argv[at];
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const { values } = parseCommandArgs(argv.slice(0, at), {}, USAGE);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    if (name === undefined) throw new ConfigError(`tscluster needs a command\n\n${USAGE}`);
    const meant = closestMatch(name, COMMANDS.map((c) => c.name));
    throw new ConfigError(`unknown command '${name}'${meant ? `; did you mean '${meant}'?` : ''} (commands: ${COMMANDS.map((c) => c.name).join(', ')}; see tscluster --help)`);
  }
  return command.run([...argv.slice(0, at), ...argv.slice(at + 1)]);
}

registerDefaults(container);
ignoreClosedOutput();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(reportError(err)),
);
