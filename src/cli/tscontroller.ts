#!/usr/bin/env node
/**
 * `tscontroller`: the controller process. Launchers start it; it can be run by hand.
 * @module
 */
import { CONTROLLER_USAGE, parseControllerArgs, startController } from '../controller/main.js';
import { defaultTransports } from '../cluster/defaults.js';
import { applyLogLevel, packageVersion, reportError } from './common.js';

async function main(argv: string[]): Promise<number> {
  const args = parseControllerArgs(argv);
  if (args.help) return void process.stdout.write(CONTROLLER_USAGE + '\n'), 0;
  if (args.version) return void process.stdout.write(packageVersion() + '\n'), 0;
  applyLogLevel(args.logLevel);
  const running = await startController(argv, defaultTransports);
  const stop = () => void running.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`controller ready: clients connect with ${running.controller.connectionFiles[0]}\n`);
  return running.exited;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(reportError(err)),
);
