#!/usr/bin/env node
/**
 * `tsengine`: an engine process. Launchers start it; a batch job or a remote host runs
 * `tsengine --connection-file FILE`.
 * @module
 */
import { defaultTransports } from '../transport/builtin.js';
import { ENGINE_USAGE, parseEngineArgs, startEngine } from '../engine/main.js';
import { runRoleCommand } from './role-command.js';

runRoleCommand({
  usage: ENGINE_USAGE,
  parse: parseEngineArgs,
  start: async (argv) => {
    const running = await startEngine(argv, defaultTransports, { killWhenStuck: true });
    // An engine that stops on its own says why on stderr (its log file), not only in a debug line.
    void running.engine.stopped.then(() => {
      if (running.engine.stopReason) process.stderr.write(`tsengine: engine ${running.engine.id} ${running.engine.stopReason}\n`);
    });
    return running;
  },
});
