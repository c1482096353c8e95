/**
 * The bench's command line: `--runs N`, `--quick`, `--only W2,W3`, `--systems tsparallel,ipyparallel`, `--json`,
 * `--no-install`, `--python PATH`, `--timeout-min M`, `--w8-peer-limit-s S`, `--profile [W]`, `--record`. Unknown flags are errors that list the known ones.
 * @module
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '../../src/core/errors.js';
import { WORKLOADS, type Sizes, type WorkloadId } from './types.js';

/** The systems the harness knows, ours first (the ratio columns divide by the others). */
export const SYSTEMS = ['tsparallel', 'tsparallel-curve', 'ipyparallel', 'dask', 'piscina', 'workerpool', 'zeromq', 'zeromq-curve'] as const;

/** One system's name. */
export type SystemName = (typeof SYSTEMS)[number];

/** Issue 6's sizes. */
export const FULL_SIZES: Sizes = {
  w2Calls: 1000,
  w3Tasks: 10_000,
  w4Lengths: [15, 100_000],
  w5PushBytes: 100_000_000,
  w5ScatterLength: 10_000_000,
  w6Engines: 16,
  w6Tasks: 10_000,
  w8Engines: 1000,
  w8PerProcess: 100,
  w8Tasks: 10_000,
  w8PeerLimitS: 300,
  w8IdleMs: 10_000,
};

/** `--quick`: the same workloads, smaller where a run would take long, one run. */
export const QUICK_SIZES: Sizes = {
  w2Calls: 200,
  w3Tasks: 2_000,
  w4Lengths: [15, 100_000],
  w5PushBytes: 20_000_000,
  w5ScatterLength: 2_000_000,
  w6Engines: 16,
  w6Tasks: 2_000,
  w8Engines: 1000,
  w8PerProcess: 100,
  w8Tasks: 2_000,
  w8PeerLimitS: 60,
  w8IdleMs: 5_000,
};

/** The smoke test's sizes: just enough to exercise every code path and check every result. */
export const TINY_SIZES: Sizes = {
  w2Calls: 5,
  w3Tasks: 20,
  w4Lengths: [15, 100],
  w5PushBytes: 80_000,
  w5ScatterLength: 10_000,
  w6Engines: 3,
  w6Tasks: 20,
  w8Engines: 6,
  w8PerProcess: 3,
  w8Tasks: 20,
  w8PeerLimitS: 60,
  w8IdleMs: 500,
};

/** The parsed command line. */
export interface BenchOptions {
  runs: number;
  sizes: Sizes;
  workloads: WorkloadId[];
  systems: SystemName[];
  json: boolean;
  /** Whether missing Debian packages for the Python peers may be installed with apt-get (only as root). */
  install: boolean;
  /** The Python interpreter that sees Debian's packages. */
  python: string;
  /** Per-system time limit, in milliseconds. */
  timeoutMs: number;
  /** `--profile [W]`: the one workload to run on tsparallel with CPU profiles of every process (see lib/profile.ts). */
  profile?: WorkloadId;
  /** `--record`: append this run's table, command, commit and load to bench/RESULTS.md. */
  record: boolean;
}

const USAGE = `usage: node dist/bench/run.js [--runs N] [--quick] [--only W1,W2,…] [--systems ${SYSTEMS.join(',')}]
                             [--json] [--no-install] [--python /usr/bin/python3] [--timeout-min 15]
                             [--w8-peer-limit-s 300] [--profile [W3]] [--record]`;

function listOf<T extends string>(value: string | undefined, allowed: readonly T[], flag: string): T[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (bad.length > 0 || items.length === 0) {
    throw new ConfigError(`${flag} ${value}: unknown ${bad.join(', ') || '(empty list)'}; choose from ${allowed.join(',')}\n${USAGE}`);
  }
  return items as T[];
}

/** Parse `argv` (without node and the script). @throws ConfigError naming the bad flag and the allowed values. */
export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  // `--profile` takes an optional workload: alone (last, or before another flag) it means W3.
  const args = argv.flatMap((a, i) => (a === '--profile' && (i === argv.length - 1 || argv[i + 1]!.startsWith('--')) ? [a, 'W3'] : [a]));
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        only: { type: 'string' },
        systems: { type: 'string' },
        json: { type: 'boolean', default: false },
        'no-install': { type: 'boolean', default: false },
        python: { type: 'string' },
        'timeout-min': { type: 'string' },
        'w8-peer-limit-s': { type: 'string' },
        profile: { type: 'string' },
        record: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    throw new ConfigError(`${(error as Error).message}\n${USAGE}`, { cause: error });
  }
  const v = parsed.values;
  if (v.help) throw new ConfigError(USAGE);
  const runs = v.runs === undefined ? (v.quick ? 1 : 3) : Number(v.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new ConfigError(`--runs ${v.runs}: use a whole number ≥ 1, e.g. --runs 3`);
  const timeoutMin = v['timeout-min'] === undefined ? 15 : Number(v['timeout-min']);
  if (!(timeoutMin > 0)) throw new ConfigError(`--timeout-min ${v['timeout-min']}: use a positive number of minutes, e.g. 15`);
  const sizes = { ...(v.quick ? QUICK_SIZES : FULL_SIZES) };
  if (v['w8-peer-limit-s'] !== undefined) {
    sizes.w8PeerLimitS = Number(v['w8-peer-limit-s']);
    if (!(sizes.w8PeerLimitS > 0)) throw new ConfigError(`--w8-peer-limit-s ${v['w8-peer-limit-s']}: use a positive number of seconds, e.g. 300`);
  }
  const profile = listOf(v.profile, WORKLOADS, '--profile');
  if (profile && profile.length !== 1) throw new ConfigError(`--profile ${v.profile}: profile one workload at a time, e.g. --profile W3`);
  return {
    // A profiled run is one workload, once, on tsparallel only.
    runs: profile && v.runs === undefined ? 1 : runs,
    sizes,
    workloads: profile ?? listOf(v.only, WORKLOADS, '--only') ?? [...WORKLOADS],
    systems: profile ? ['tsparallel'] : (listOf(v.systems, SYSTEMS, '--systems') ?? [...SYSTEMS]),
    json: v.json,
    install: !v['no-install'],
    python: v.python ?? process.env.TSPARALLEL_BENCH_PYTHON ?? '/usr/bin/python3',
    timeoutMs: timeoutMin * 60_000,
    profile: profile?.[0],
    record: v.record,
  };
}
