"""Bench W7, ipyparallel's client on a rig host: W2, W3 and W5 against a controller started elsewhere with
``ipcontroller --ip=*``. Usage: python3 w7_ipyparallel_client.py CLIENT_JSON SIZES_JSON; prints one JSON line."""
import json
import statistics
import sys
import time

import ipyparallel as ipp
import numpy as np


def log(what):
    print(f"w7 ipyparallel client: {what}", file=sys.stderr, flush=True)


def noop(*_args):
    return None


def main():
    url_file, sizes = sys.argv[1], json.loads(sys.argv[2])
    rc = ipp.Client(url_file, timeout=30)
    log("connected")
    rc.wait_for_engines(2, timeout=120)
    log("2 engines")
    one = rc[rc.ids[0]]
    hosts = rc[:].apply_sync(lambda: __import__("socket").gethostname())
    for _ in range(10):
        one.apply_sync(noop)
    lat = []
    for _ in range(sizes["w2Calls"]):
        t = time.perf_counter()
        one.apply_sync(noop)
        lat.append((time.perf_counter() - t) * 1e6)
    log("W2 done")
    lview = rc.load_balanced_view()
    lview.map(noop, range(20), chunksize=1, block=True)
    w3 = []
    for _ in range(sizes["runs"]):
        t = time.perf_counter()
        r = lview.map(noop, range(sizes["w3Tasks"]), chunksize=1, block=True)
        w3.append(sizes["w3Tasks"] / (time.perf_counter() - t))
        assert len(r) == sizes["w3Tasks"]
    log("W3 done")
    data = np.arange(sizes["w5PushBytes"] // 8, dtype=np.float64)
    push, pull = [], []
    dv = rc[:]
    for _ in range(sizes["runs"]):
        t = time.perf_counter()
        dv.push({"d": data}, block=True)
        push.append(2 * data.nbytes / 1e6 / (time.perf_counter() - t))
        t = time.perf_counter()
        back = dv.pull("d", block=True)
        pull.append(2 * data.nbytes / 1e6 / (time.perf_counter() - t))
        assert all(np.array_equal(b, data) for b in back)
    log("W5 done")
    print(json.dumps({
        "hosts": sorted(hosts),
        "call_median_us": statistics.median(lat),
        "tasks_per_s": statistics.median(w3),
        "push_MBps": statistics.median(push),
        "pull_MBps": statistics.median(pull),
    }), flush=True)
    rc.shutdown(hub=True, block=True)
    rc.close()


main()
