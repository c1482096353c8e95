#!/usr/bin/env node
/**
 * `tsengine`: an engine process. Launchers start it; a batch job or a remote host runs
 * `tsengine --connection-file FILE`.
 * @module
 */
import { defaultTransports } from '../transport/builtin.js';
import { ENGINE_USAGE, parseEngineArgs, startEngine } from '../engine/main.js';
import { runRoleCommand } from './role-command.js';

runRoleCommand({ usage: ENGINE_USAGE, parse: parseEngineArgs, start: (argv) => startEngine(argv, defaultTransports, { killWhenStuck: true }) });
