"""The Python peers' driver: the same W1-W6 method as bench/lib/driver.ts, written once for ipyparallel and Dask.

A peer script builds a *session factory* (start n engines, connect a client) and calls ``main(factory)``. The
harness passes the plan as one JSON argument and reads one JSON object per line from this process's stdout:
``sample``, ``skip``, ``fail``, ``pids`` (processes below this one, for the harness's leak check) and ``done``.
Everything else the libraries print goes to stderr.
"""
import gc
import json
import os
import re
import signal
import sys
import time
import traceback

import numpy as np

STOP_TIMEOUT_S = 60
W2_WARMUP_CALLS = 10
W3_WARMUP_TASKS = 20
LINGER_TIMEOUT_S = 30

# The protocol stream is a private copy of stdout; sys.stdout is pointed at stderr so library chatter stays out of it.
_protocol = os.fdopen(os.dup(1), "w", buffering=1)
sys.stdout = sys.stderr


def emit(kind, **fields):
    _protocol.write(json.dumps({"type": kind, **fields}) + "\n")


class BenchError(Exception):
    """A workload returned a wrong result."""


def check_noops(results, count, what):
    results = list(results)
    if len(results) != count:
        raise BenchError(f"{what}: expected {count} results, got {len(results)}")
    for i, r in enumerate(results):
        if r is not None:
            raise BenchError(f"{what}: result {i} of a no-op is {r!r}, expected None")


def check_pow10(results, length):
    results = list(results)
    if len(results) != length:
        raise BenchError(f"W4: map over range({length}) returned {len(results)} results")
    for i, r in enumerate(results):
        if r != i ** 10:
            raise BenchError(f"W4: result {i} is {r!r}, expected {i ** 10}")


def make_payload(length, seed=0.0):
    return np.arange(length, dtype=np.float64) * 0.5 + seed


def check_same_array(actual, expected, what):
    actual = np.asarray(actual)
    if actual.shape != expected.shape or not np.array_equal(actual, expected):
        raise BenchError(f"{what}: the array that came back differs from the one sent (shape {actual.shape})")


def _status_kib(field):
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def measure_peak_growth(body):
    """Bytes by which the resident set rose above its starting level while ``body`` ran (kernel high-water mark),
    and that starting level in bytes."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = _status_kib("VmHWM")  # just after the reset: the current resident set
    body()
    return (_status_kib("VmHWM") - start) * 1024, start * 1024


def settled_rss_bytes():
    """The resident set in bytes once garbage is collected (numpy frees large arrays when their last reference goes)."""
    gc.collect()
    time.sleep(0.3)
    return _status_kib("VmRSS") * 1024


def descendants(root):
    by_parent = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split(" ")
        info = {"pid": int(entry), "state": rest[0], "ppid": int(rest[1]), "startTime": int(rest[19]), "command": cmd}
        by_parent.setdefault(info["ppid"], []).append(info)
    found, queue = [], [root]
    while queue:
        for child in by_parent.get(queue.pop(0), []):
            found.append(child)
            queue.append(child["pid"])
    return found


def track():
    """Report the processes below this one to the harness, and return them for ``wait_gone``."""
    processes = descendants(os.getpid())
    emit("pids", processes=processes)
    return processes


def _alive(process):
    try:
        with open(f"/proc/{process['pid']}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split(" ")
    except OSError:
        return False
    return int(rest[20]) == process["startTime"] and rest[1] != "Z"


def wait_gone(processes, timeout_s=LINGER_TIMEOUT_S):
    """Wait (untimed) until the session's processes have exited. ipyparallel's engine nannies outlive
    ``stop_cluster_sync()`` by a few seconds; the next measurement must not share the CPUs with them. Whatever is
    still alive at the timeout is left for the harness, which reports and kills it."""
    # Python's multiprocessing resource tracker (started by Dask) serves this interpreter until it exits.
    processes = [p for p in processes if "multiprocessing.resource_tracker" not in p["command"]]
    deadline = time.monotonic() + timeout_s
    while any(_alive(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.05)


def fail(workload, error):
    emit("fail", workload=workload, message=f"{type(error).__name__}: {error}", traceback=traceback.format_exc())


def skip_warm(workload):
    """bench/lib/driver.ts warms its Node systems up with as many untimed tasks per engine process as W3 runs on
    each of its two (80,000 for W6 at full sizes) before a ``warm_tasks_per_s``: minutes at the Python peers' pace,
    and CPython compiles nothing while it runs."""
    emit("skip", workload=workload, reason="warm_tasks_per_s: not measured for the Python peers (no JIT to warm; the warm-up would take minutes at their pace)")


def sample(workload, metric, value):
    emit("sample", workload=workload, metric=metric, value=value)


def stop_quietly(session, workload):
    try:
        session.stop()
    except Exception as error:  # noqa: BLE001 - reported, and the harness kills what is left
        fail(workload, error)


def ms_since(t0):
    return (time.perf_counter() - t0) * 1000


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_snapshot():
    """CPU seconds used so far by this process and each process below it (by pid and start time), as
    bench/lib/cpu.ts takes them."""
    own = os.times()
    children = {}
    for p in descendants(os.getpid()):
        try:
            with open(f"/proc/{p['pid']}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split(" ")
        except OSError:
            continue
        children[(p["pid"], p["startTime"])] = (int(rest[12]) + int(rest[13])) / CLK_TCK
    return own.user + own.system, children


def cpu_seconds_between(before, after):
    total = after[0] - before[0]
    for key, seconds in after[1].items():
        total += seconds - before[1].get(key, 0)
    return total


def idle_cpu_percent(ms):
    """The CPU the processes below this one use over ``ms`` while no task runs, in percent of one core, after a
    tenth as long (at most a second) for the last work's leftovers: as bench/lib/driver.ts measures it."""
    time.sleep(min(1000, ms / 10) / 1000)
    before = cpu_snapshot()
    time.sleep(ms / 1000)
    after = cpu_snapshot()
    children = cpu_seconds_between(before, after) - (after[0] - before[0])
    return 100 * children / (ms / 1000)


def time_balanced(session, count, what, cpu=None):
    check_noops(session.balanced_noops(W3_WARMUP_TASKS), W3_WARMUP_TASKS, f"{what} warm-up")
    before = cpu_snapshot() if cpu else None
    t0 = time.perf_counter()
    results = session.balanced_noops(count)
    seconds = time.perf_counter() - t0
    if cpu:
        cpu(cpu_seconds_between(before, cpu_snapshot()) * 1e6 / count)
    check_noops(results, count, what)
    return count / seconds


def run_middle(w, session, sizes):
    if w == "W2":
        for _ in range(W2_WARMUP_CALLS):
            check_noops([session.call_noop()], 1, "W2 warm-up")
        per_call_us, results = [], []
        for _ in range(sizes["w2Calls"]):
            t0 = time.perf_counter()
            results.append(session.call_noop())
            per_call_us.append((time.perf_counter() - t0) * 1e6)
        check_noops(results, sizes["w2Calls"], "W2")
        per_call_us.sort()
        n = len(per_call_us)
        med = per_call_us[n // 2] if n % 2 else (per_call_us[n // 2 - 1] + per_call_us[n // 2]) / 2
        p99 = per_call_us[max(0, -(-99 * n // 100) - 1)]
        sample("W2", "call_median_us", med)
        sample("W2", "call_p99_us", p99)
    elif w == "W3":
        cpu = []
        sample("W3", "tasks_per_s", time_balanced(session, sizes["w3Tasks"], "W3", cpu.append))
        sample("W3", "cpu_us_per_task", cpu[0])
    elif w == "W4":
        for length in sizes["w4Lengths"]:
            t0 = time.perf_counter()
            results = session.map_pow10(length)
            ms = ms_since(t0)
            check_pow10(results, length)
            sample("W4", f"map_{length}_ms", ms)
    elif w == "W5":
        payload = make_payload(sizes["w5PushBytes"] // 8)
        engines = session.engine_count
        times, pulled = {}, []

        def push_pull():
            t0 = time.perf_counter()
            session.push("a", payload)
            times["push"] = time.perf_counter() - t0
            t1 = time.perf_counter()
            pulled.extend(session.pull("a"))
            times["pull"] = time.perf_counter() - t1

        growth, start_bytes = measure_peak_growth(push_pull)
        if len(pulled) != engines:
            raise BenchError(f"W5: pull returned {len(pulled)} values, expected {engines}")
        for i, value in enumerate(pulled):
            check_same_array(value, payload, f"W5 pull from engine {i}")
        pulled.clear()
        after_bytes = settled_rss_bytes()
        megabytes = engines * sizes["w5PushBytes"] / 1e6
        sample("W5", "push_MBps", megabytes / times["push"])
        sample("W5", "pull_MBps", megabytes / times["pull"])
        sample("W5", "peak_mem_ratio", growth / sizes["w5PushBytes"])
        sample("W5", "rss_after_pull_ratio", after_bytes / start_bytes)
        whole = make_payload(sizes["w5ScatterLength"], 1.0)
        t2 = time.perf_counter()
        session.scatter("part", whole)
        scatter_s = time.perf_counter() - t2
        t3 = time.perf_counter()
        gathered = session.gather("part")
        gather_s = time.perf_counter() - t3
        check_same_array(gathered, whole, "W5 gather")
        scatter_mb = sizes["w5ScatterLength"] * 8 / 1e6
        sample("W5", "scatter_MBps", scatter_mb / scatter_s)
        sample("W5", "gather_MBps", scatter_mb / gather_s)


def run(start, plan):
    """Run the plan's workloads with sessions made by ``start(n, tmp_dir)``; every session is stopped."""
    runs, sizes, tmp = plan["runs"], plan["sizes"], plan["tmpDir"]
    wanted = plan["workloads"]
    if "W1" in wanted:
        try:
            for _ in range(runs):
                t0 = time.perf_counter()
                session = start(2, tmp)
                start_ms = ms_since(t0)
                processes = track()
                if session.engine_count != 2:
                    stop_quietly(session, "W1")
                    raise BenchError(f"W1: client sees {session.engine_count} engines, expected 2")
                t1 = time.perf_counter()
                session.stop()
                sample("W1", "start_ms", start_ms)
                sample("W1", "stop_ms", ms_since(t1))
                wait_gone(processes)
        except Exception as error:  # noqa: BLE001 - reported per workload, the run goes on
            fail("W1", error)

    middle = [w for w in wanted if w in ("W2", "W3", "W4", "W5")]
    if middle:
        session, processes = None, []
        try:
            session = start(2, tmp)
            processes = track()
        except Exception as error:  # noqa: BLE001
            for w in middle:
                fail(w, error)
        if session is not None:
            try:
                for w in middle:
                    try:
                        for _ in range(runs):
                            run_middle(w, session, sizes)
                    except Exception as error:  # noqa: BLE001
                        fail(w, error)
            finally:
                stop_quietly(session, middle[0])
                wait_gone(processes)

    if "W6" in wanted:
        skip_warm("W6")
        try:
            for _ in range(runs):
                gc.collect()  # as bench/lib/driver.ts: earlier workloads' garbage is not part of a timed start
                t0 = time.perf_counter()
                session = start(sizes["w6Engines"], tmp)
                start_ms = ms_since(t0)
                processes = track()
                try:
                    if session.engine_count != sizes["w6Engines"]:
                        raise BenchError(f"W6: client sees {session.engine_count} engines, expected {sizes['w6Engines']}")
                    sample("W6", "start_ms", start_ms)
                    sample("W6", "tasks_per_s", time_balanced(session, sizes["w6Tasks"], "W6"))
                finally:
                    t1 = time.perf_counter()
                    stop_quietly(session, "W6")
                    sample("W6", "stop_ms", ms_since(t1))
                    wait_gone(processes)
        except Exception as error:  # noqa: BLE001
            fail("W6", error)

    if "W8" in wanted:
        scale = getattr(start, "start_scale", None)
        if scale is None:
            emit("skip", workload="W8", reason="no way to start engines in batches within a time limit")
        else:
            skip_warm("W8")
            try:
                # Once, not ``runs`` times: adding engines may take the whole time limit (five minutes by default).
                run_scale(scale, sizes, tmp)
            except Exception as error:  # noqa: BLE001
                fail("W8", error)


W8_BROADCASTS = 5


def run_scale(scale, sizes, tmp):
    """W8 as bench/lib/driver.ts runs it (broadcasts, the idle cluster's CPU, then tasks), except that a peer adds
    engines until it has ``w8Engines`` or its time limit (``w8PeerLimitS``) has passed, and reports how many it got
    (``engines``)."""
    gc.collect()
    session = scale(sizes["w8Engines"], sizes["w8PeerLimitS"], tmp)
    processes = track()
    try:
        sample("W8", "engines", session.engine_count)
        sample("W8", "register_ms", session.register_ms)
        check_noops(session.broadcast_noop(), session.engine_count, "W8 broadcast warm-up")
        times = []
        for _ in range(W8_BROADCASTS):
            t0 = time.perf_counter()
            results = session.broadcast_noop()
            times.append(ms_since(t0))
            check_noops(results, session.engine_count, "W8 broadcast")
        times.sort()
        sample("W8", "broadcast_ms", times[len(times) // 2])
        sample("W8", "idle_cpu_pct", idle_cpu_percent(sizes["w8IdleMs"]))
        sample("W8", "tasks_per_s", time_balanced(session, sizes["w8Tasks"], "W8"))
        rss = session.controller_rss_bytes()
        if rss is not None:
            sample("W8", "controller_rss_MB", rss / 1e6)
    finally:
        stop_quietly(session, "W8")
        wait_gone(processes)


def _terminate(_signum, _frame):
    # The harness's time limit: unwind through the ``finally`` blocks so clusters are stopped.
    raise KeyboardInterrupt("terminated by the bench harness (time limit)")


def main(start):
    signal.signal(signal.SIGTERM, _terminate)
    plan = json.loads(sys.argv[1])
    try:
        run(start, plan)
    finally:
        emit("done")
