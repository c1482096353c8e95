#!/usr/bin/env node
/**
 * `tscontroller`: the controller process. Launchers start it; it can be run by hand.
 * @module
 */
import { defaultTransports } from '../transport/builtin.js';
import { CONTROLLER_USAGE, parseControllerArgs, startController } from '../controller/main.js';
import { runRoleCommand } from './role-command.js';

runRoleCommand({
  usage: CONTROLLER_USAGE,
  parse: parseControllerArgs,
  start: (argv) => startController(argv, defaultTransports),
  started: (running) => {
    const { controller } = running as Awaited<ReturnType<typeof startController>>;
    process.stdout.write(`controller ready: clients connect with ${controller.connectionFiles[0]}\n`);
  },
});
