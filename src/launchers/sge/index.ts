/**
 * The `sge` launcher for Grid Engine: the plugin, its options, the job-script writer, and the parsers of the tools' output.
 * @module
 */
export * from './launcher.js';
export * from './options.js';
export * from './script.js';
export * from './parse.js';
