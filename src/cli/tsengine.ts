#!/usr/bin/env node
/**
 * `tsengine`: an engine process. Launchers start it; a batch job or a remote host runs
 * `tsengine --connection-file FILE`.
 * @module
 */
import { defaultTransports } from '../cluster/defaults.js';
import { ENGINE_USAGE, parseEngineArgs, startEngine } from '../engine/main.js';
import { applyLogLevel, packageVersion, reportError } from './common.js';

async function main(argv: string[]): Promise<number> {
  const args = parseEngineArgs(argv);
  if (args.help) return void process.stdout.write(ENGINE_USAGE + '\n'), 0;
  if (args.version) return void process.stdout.write(packageVersion() + '\n'), 0;
  applyLogLevel(args.logLevel);
  const running = await startEngine(argv, defaultTransports);
  const stop = () => void running.stop();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  return running.exited;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => process.exit(reportError(err)),
);
