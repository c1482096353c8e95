/**
 * The vocabulary of the benchmark harness: workloads, samples, sizes, and the {@link EngineSystem} adapter every
 * Node-side system implements so that one driver ({@link ./driver.ts}) runs the same method on all of them.
 * @module
 */

/** The six workloads of issue 6 and issue 16's W8 scale test (see bench/README.md for the exact method of each). */
export const WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W5', 'W6', 'W8'] as const;

/** One workload's id. */
export type WorkloadId = (typeof WORKLOADS)[number];

/** One measured value of one metric in one run of one workload. */
export interface Sample {
  /** The workload it belongs to. */
  workload: WorkloadId;
  /** The metric's name; its unit is the name's suffix (`_ms`, `_us`, `_per_s`, `_MBps`, `_ratio`). */
  metric: string;
  /** The measured value. */
  value: number;
}

/** The problem sizes of one bench run; the defaults are issue 6's, `--quick` and the smoke test shrink them. */
export interface Sizes {
  /** W2: sequential blocking no-op calls per run. */
  w2Calls: number;
  /** W3: no-op tasks submitted at once through the load balancer. */
  w3Tasks: number;
  /** W4: the lengths of the two maps of `x => x ** 10` (the seed's 15, then the large one). */
  w4Lengths: readonly [number, number];
  /** W5: bytes of the Float64Array pushed to each engine and pulled back. */
  w5PushBytes: number;
  /** W5: number of float64 elements scattered over the engines and gathered back. */
  w5ScatterLength: number;
  /** W6: number of engines started. */
  w6Engines: number;
  /** W6: no-op tasks submitted at once through the load balancer across those engines. */
  w6Tasks: number;
  /** W8: engines added to a running cluster (several per process, `tsengine --count`). */
  w8Engines: number;
  /** W8: engines per process (`tsengine --count K`). */
  w8PerProcess: number;
  /** W8: no-op tasks through the load balancer across all of them. */
  w8Tasks: number;
  /** W8: how long a peer (ipyparallel) may keep adding engines, in seconds; it reports how many it got. */
  w8PeerLimitS: number;
  /** W8: how long the idle cluster's CPU is watched (`idle_cpu_pct`), in ms. */
  w8IdleMs: number;
}

/** Everything the driver needs to run one system's workloads. */
export interface RunPlan {
  /** The workloads to run, in order. */
  workloads: readonly WorkloadId[];
  /** How many times each workload is repeated. */
  runs: number;
  /** Problem sizes. */
  sizes: Sizes;
  /** A scratch directory for profiles; removed by the caller. */
  tmpDir: string;
  /** Aborts the system's run (the harness's per-system time limit). */
  signal: AbortSignal;
}

/** Where a system's run reports what it measured, what it skipped, and which processes it started. */
export interface Reporter {
  /** One measured value. */
  sample(sample: Sample): void;
  /** A workload (or part of one) that this system cannot run, and why. */
  skip(workload: WorkloadId, reason: string): void;
  /** A workload that failed; the run goes on with the next workload. */
  fail(workload: WorkloadId, error: unknown): void;
  /** Record the processes that exist now below `rootPid` (default: this process), so the end check can find leaks. */
  trackDescendants(rootPid?: number): void;
}

/**
 * A started cluster (or pool) of engines with a client attached. Optional members are workloads the system has no
 * equivalent for; the driver skips those with a line that says so.
 */
export interface EngineSession {
  /** The number of engines the client sees. */
  readonly engineCount: number;
  /** W2: one blocking no-op call on engine 0; resolves to the call's result (expected `null`/`undefined`). */
  callNoop(): Promise<unknown>;
  /** W3/W6: `count` no-op tasks submitted at once through the load balancer; resolves to their results. */
  balancedNoops?(count: number): Promise<readonly unknown[]>;
  /** Why {@link balancedNoops} is missing, if it is. */
  readonly balancedMissingReason?: string;
  /** W4: map `x => x ** 10` over `range(length)` across all engines; resolves to the results in order. */
  mapPow10(length: number): Promise<ArrayLike<number>>;
  /** W5: push `data` to every engine under `name`. */
  push?(name: string, data: Float64Array): Promise<void>;
  /** W5: pull `name` from every engine, one value per engine. */
  pull?(name: string): Promise<readonly ArrayLike<number>[]>;
  /** W5: split `data` over the engines under `name`. */
  scatter?(name: string, data: Float64Array): Promise<void>;
  /** W5: gather `name` from the engines, concatenated in engine order. */
  gather?(name: string): Promise<ArrayLike<number>>;
  /** Why W5 is missing, if it is. */
  readonly dataMissingReason?: string;
  /** Close the client and stop every engine process (and the controller); harmless to call twice. */
  stop(): Promise<void>;
}

/** A cluster of many engines for W8 (the scale test), with a client attached. */
export interface ScaleSession {
  /** The engines the client sees (all registered). */
  readonly engineCount: number;
  /** Milliseconds from starting the added engines until the client saw every one registered. */
  readonly registerMs: number;
  /** One no-op `apply` on every engine at once (a broadcast); resolves to one result per engine. */
  broadcastNoop(): Promise<readonly unknown[]>;
  /** `count` no-op tasks through the load balancer across every engine. */
  balancedNoops(count: number): Promise<readonly unknown[]>;
  /** The controller's resident memory in bytes, when it can be read. */
  controllerRssBytes?(): number | undefined;
  /**
   * Kill one engine process (SIGKILL) with all its engines, and wait until the client sees them gone: resolves to
   * how many engines went and the milliseconds that took. Run last: the session then has fewer engines.
   */
  loseProcess?(): Promise<{ engines: number; ms: number }>;
  /** Stop every engine process and the controller; harmless to call twice. */
  stop(): Promise<void>;
}

/** `unsupported` of a system run for the cost of safety only (`*-curve`): W2, W3 and W5, nothing else. */
export const SAFETY_WORKLOADS_ONLY: Partial<Record<WorkloadId, string>> = Object.fromEntries(
  (['W1', 'W4', 'W6', 'W8'] as const).map((w) => [w, 'the cost of safety is measured on W2, W3 and W5 only']),
);

/** A Node-side system: our library, a worker pool, or the raw ZeroMQ floor. */
export interface EngineSystem {
  /** The name used in the table and the JSON lines (`tsparallel`, `piscina`, …). */
  readonly name: string;
  /** Workloads this system does not take part in at all, with the reason (printed once). */
  readonly unsupported?: Partial<Record<WorkloadId, string>>;
  /** `undefined` when the system can run here, else why not and how to fix it. */
  unavailableReason(): Promise<string | undefined>;
  /** Start `engines` engines and connect a client; resolves when the client sees all of them ready. */
  start(engines: number, plan: RunPlan): Promise<EngineSession>;
  /** W8: a cluster with `engines` engines added, several per process; absent where the system has no such thing. */
  startScale?(engines: number, plan: RunPlan): Promise<ScaleSession>;
}

/** A system as the harness sees it: something that runs a plan and reports samples. */
export interface BenchSystem {
  /** The name used in the table and the JSON lines. */
  readonly name: string;
  /** `undefined` when the system can run here, else why not and how to fix it. */
  unavailableReason(): Promise<string | undefined>;
  /** Run the plan's workloads, reporting every sample; must stop every process it started, even on failure. */
  run(plan: RunPlan, reporter: Reporter): Promise<void>;
}
