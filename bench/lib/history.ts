/**
 * `npm run bench -- --record`: bench/RESULTS.md keeps the history of runs. Each recorded run is appended (never
 * rewritten) as a section with the date, the command, the commit (and whether the work tree had changes), the load
 * before and after, the table, the notes and the target lines.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { benchSourceDir } from './paths.js';

/** One run, as it goes into the history. */
export interface RecordedRun {
  /** The command line, as typed (e.g. `npm run bench -- --only W3`). */
  command: string;
  /** The header line the bench printed (cores, node, runs, load, sizes). */
  header: string;
  /** The table of medians. */
  table: string;
  /** Skips and failures. */
  notes: readonly string[];
  /** The target lines. */
  targets: readonly string[];
}

/** The commit the run measured: `abc1234`, with ` + uncommitted changes` when the work tree differs from it. */
export function currentCommit(cwd = benchSourceDir()): string {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' });
  if (head.status !== 0) return 'unknown (not a git checkout)';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8' });
  return `${head.stdout.trim()}${dirty.stdout.trim() ? ' + uncommitted changes' : ''}`;
}

/** The section appended for `run` (Markdown). */
export function historySection(run: RecordedRun, when = new Date(), commit = currentCommit()): string {
  const fence = '```';
  return [
    '',
    `## Run of ${when.toISOString().slice(0, 16).replace('T', ' ')} UTC (commit ${commit})`,
    '',
    `\`${run.command}\``,
    '',
    fence,
    run.header,
    '',
    run.table,
    ...(run.notes.length > 0 ? ['', ...run.notes] : []),
    ...(run.targets.length > 0 ? ['', 'targets (ratios of this run\'s medians):', ...run.targets] : []),
    fence,
    '',
  ].join('\n');
}

/** Append `run` to bench/RESULTS.md (or `file`); returns the file written. */
export async function recordRun(run: RecordedRun, file = path.join(benchSourceDir(), 'RESULTS.md')): Promise<string> {
  await appendFile(file, historySection(run));
  return file;
}
