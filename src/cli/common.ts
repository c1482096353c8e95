/**
 * What every command shares: the version, `--log-level`, and exit codes (0 ok, 1 failure, 2 usage error).
 * @module
 */
import debug from 'debug';
import { readFileSync } from 'node:fs';
import { ConfigError, TsParallelError } from '../core/errors.js';

/** This package's version, from package.json. */
export function packageVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'tsparallel') return pkg.version ?? '0.0.0';
    } catch {
      // try the next place: the layout differs between source and compiled code
    }
  }
  return '0.0.0';
}

/** Turn on logging for a level: `debug` shows every tsparallel namespace; other levels keep the defaults. */
export function applyLogLevel(level: string | undefined): void {
  if (level === undefined) return;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new ConfigError(`--log-level takes debug, info, warn or error, got '${level}'`);
  }
  if (level === 'debug') debug.enable([process.env.DEBUG, 'tsparallel:*'].filter(Boolean).join(','));
}

/**
 * Treat a closed stdout or stderr (a pipe whose reader went away, as in `tscluster start | head -2`; a terminal that
 * closed) as nowhere to write rather than as an error: losing a command's lines must not crash the process that runs
 * a cluster, which would leave its files behind. Other stream errors still throw.
 */
export function ignoreClosedOutput(streams: readonly NodeJS.WriteStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'EIO' || err.code === 'ERR_STREAM_DESTROYED') return;
      throw err;
    });
  }
}

/** Print an error the way commands do and return the exit code: 2 for usage and config errors, 1 for the rest. */
export function reportError(err: unknown): number {
  const usage = err instanceof ConfigError;
  const text = err instanceof TsParallelError ? `${err.name}: ${err.message}` : err instanceof Error ? err.stack ?? err.message : String(err);
  process.stderr.write(text + '\n');
  return usage ? 2 : 1;
}
