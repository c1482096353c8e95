/**
 * `tscluster list`: the running clusters of every profile (or of one): profile, id, engines, pid, uptime. Files of
 * clusters whose processes are gone are reported and removed.
 * @module
 */
import { unlink } from 'node:fs/promises';
import { Client } from '../../client/client.js';
import { listProfiles } from '../../config/profile-create.js';
import { describeProfile } from '../../config/profile.js';
import { COMMON_USAGE, PROFILE_OPTIONS, handleCommonOptions, parseCommandArgs, profileFromArgs, stringArg, type Command } from '../args.js';
import { Reporter } from '../progress.js';
import type { JobStats } from '../../wire/stats.js';
import { describeId, findClusters, findOrphanFiles, isStale, removeClusterFiles, type FoundCluster } from '../../cluster/running.js';

const USAGE = `Usage: tscluster list [--profile NAME | --profile-dir DIR] [--json]

List the running clusters of every profile (or of one): profile, cluster id, registered engines, the pid of the
process that runs it, uptime, and the least walltime left of its engines' batch jobs (when they have one), then
each batch job with its scheduler's state and for how long it has had it (as the dashboard shows them), and the
jobs that ended while it ran. Files left by clusters whose processes are gone (stale entries) are
reported and removed.

Options:
  --profile NAME        only this profile
  --profile-dir DIR     only the profile in this directory
  --json                print the list as JSON
${COMMON_USAGE}`;

/** One row of `tscluster list`. */
interface Row {
  profile: string;
  clusterId: string;
  engines: number | null;
  pid: number;
  running: 'yes' | 'owner gone' | 'other host';
  uptimeSeconds: number;
  /** The least walltime left among its engines' batch jobs, in seconds; null when none has a walltime (or unknown). */
  walltimeLeftSeconds: number | null;
  profileDir: string;
  /** Batch jobs (or processes) that ended while the cluster ran: engines that died. */
  ended: { role: 'controller' | 'engines'; id: string; tail: string }[];
  /** Its batch jobs and their states, as the controller's statistics hold them (empty when unreachable or local). */
  jobs: JobStats[];
}

/** `tscluster list`. */
export const listCommand: Command = {
  name: 'list',
  summary: 'list running clusters (profile, id, engines, pid, uptime); clean stale entries',
  usage: USAGE,
  async run(argv) {
    const { values } = parseCommandArgs(argv, { ...PROFILE_OPTIONS, json: { type: 'boolean' } }, USAGE);
    const done = handleCommonOptions(values, USAGE);
    if (done !== undefined) return done;
    const out = new Reporter('tscluster list', stringArg(values, 'log-level'));
    const profiles = values.profile !== undefined || values['profile-dir'] !== undefined ? [profileFromArgs(values)] : await listProfiles();
    const rows: Row[] = [];
    for (const profile of profiles) {
      const clusters = await findClusters(profile);
      const live: FoundCluster[] = [];
      for (const c of clusters) {
        if (isStale(c)) {
          const removed = await removeClusterFiles(profile, c.info);
          out.warn(`stale: cluster ${describeId(c.info.clusterId)} of ${describeProfile(profile)} is not running (process ${c.info.pid} is gone); removed ${removed.join(', ')}`);
        } else {
          live.push(c);
          rows.push(await describeRow(c));
        }
      }
      for (const file of await findOrphanFiles(profile, live)) {
        await unlink(file).catch(() => {});
        out.warn(`stale: removed ${file} (its process is gone)`);
      }
    }
    if (values.json) {
      out.print(JSON.stringify(rows, null, 2));
      return 0;
    }
    if (rows.length === 0) {
      out.print('no running clusters');
      return 0;
    }
    const withWalltime = rows.some((r) => r.walltimeLeftSeconds !== null);
    const table = [
      ['PROFILE', 'CLUSTER-ID', 'ENGINES', 'PID', 'UPTIME', ...(withWalltime ? ['WALLTIME-LEFT'] : [])],
      ...rows.map((r) => [
        r.profile,
        r.clusterId || '(default)',
        r.engines === null ? '?' : String(r.engines),
        r.running === 'yes' ? String(r.pid) : `${r.pid} (${r.running})`,
        formatUptime(r.uptimeSeconds),
        ...(withWalltime ? [r.walltimeLeftSeconds === null ? '-' : formatUptime(r.walltimeLeftSeconds)] : []),
      ]),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) out.print(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
    for (const r of rows) {
      const where = `${r.profile}/${r.clusterId || '(default)'}`;
      const lastLines = (tail: string) => tail.trimEnd().split('\n').slice(-3).join(' | ');
      for (const j of r.jobs) {
        const tail = lastLines(r.ended.find((e) => e.id === j.jobId)?.tail ?? j.message ?? '');
        out.print(`  ${where}: ${describeJob(j)}${tail ? `: ${tail}` : ''}`);
      }
      for (const e of r.ended) {
        if (r.jobs.some((j) => j.jobId === e.id)) continue;
        const last = lastLines(e.tail);
        out.print(`  ${where}: ${e.role === 'engines' ? 'engine' : 'controller'} job ${e.id} ended${last ? `: ${last}` : ''}`);
      }
    }
    return 0;
  },
};

async function describeRow(c: FoundCluster): Promise<Row> {
  let engines: number | null = null;
  let walltimeLeftSeconds: number | null = null;
  let jobs: JobStats[] = [];
  try {
    const client = await Client.connect({ connectionFile: c.info.connectionFiles.client, timeoutMs: 3000 });
    try {
      engines = client.ids.length;
      const ends = [...client.engines.values()].flatMap((e) => (e.jobEnd === undefined ? [] : [e.jobEnd]));
      if (ends.length) walltimeLeftSeconds = Math.max(0, Math.round((Math.min(...ends) - Date.now()) / 1000));
      // The jobs as the dashboard shows them; a cursor past every event keeps the reply small.
      jobs = (await client.controllerStats({ since: { seq: Number.MAX_SAFE_INTEGER, t: Date.now() }, timeoutMs: 3000 })).snapshot.jobs ?? [];
    } finally {
      await client.close();
    }
  } catch {
    // unreachable controller (another host, or busy): the count shows as '?'
  }
  return {
    profile: c.profile.name,
    clusterId: c.info.clusterId,
    engines,
    pid: c.info.pid,
    running: c.ownerAlive === undefined ? 'other host' : c.ownerAlive ? 'yes' : 'owner gone',
    uptimeSeconds: Math.max(0, Math.round((Date.now() - Date.parse(c.info.created)) / 1000)),
    walltimeLeftSeconds,
    profileDir: c.profile.dir,
    ended: [
      ...(c.info.launchers?.controller?.ended ?? []).map((e) => ({ role: 'controller' as const, id: e.id, tail: e.stderrTail ?? '' })),
      ...(c.info.launchers?.engines ?? []).flatMap((l) => (l.ended ?? []).map((e) => ({ role: 'engines' as const, id: e.id, tail: e.stderrTail ?? '' }))),
    ],
    jobs,
  };
}

/** `engine set 0 job 101.server (pbs): running (R) for 3m05s`. */
function describeJob(j: JobStats): string {
  const holds = j.role === 'controller' ? 'controller' : `engine set ${j.set}`;
  const raw = j.rawState && j.rawState.toLowerCase() !== j.state ? ` (${j.rawState})` : '';
  return `${holds} job ${j.jobId} (${j.launcher}): ${j.state}${raw} for ${formatUptime(Math.max(0, Math.round((Date.now() - j.since) / 1000)))}`;
}

/** `12s`, `3m05s`, `2h07m`, `3d04h`. */
export function formatUptime(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const pad = (n: number) => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad(seconds % 60)}s`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h${pad(Math.floor((seconds % 3600) / 60))}m`;
  return `${Math.floor(seconds / 86400)}d${pad(Math.floor((seconds % 86400) / 3600))}h`;
}
