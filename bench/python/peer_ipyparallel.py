"""ipyparallel peer: a local cluster started the way a user starts one (``ipp.Cluster(n).start_and_connect_sync()``),
a DirectView for W2/W4/W5 and a LoadBalancedView for W3/W6. Everything listens on 127.0.0.1."""
import logging
import re
import tempfile
import time

import ipyparallel as ipp

from driver import main


# The tasks are defined here, in __main__, so they travel to the engines by value: the engines cannot import this
# folder's modules.
def noop(*_args):
    return None


def pow10(x):
    return x ** 10

ENGINE_WAIT_S = 300


class IpyparallelSession:
    def __init__(self, engines, tmp):
        self.cluster = ipp.Cluster(
            n=engines,
            profile_dir=tempfile.mkdtemp(prefix="ipp-", dir=tmp),
            controller_ip="127.0.0.1",
            log_level=logging.WARNING,
        )
        self.rc = None
        try:
            self.rc = self.cluster.start_and_connect_sync()
            self.rc.wait_for_engines(engines, timeout=ENGINE_WAIT_S)
        except BaseException:
            self.stop()
            raise
        self.engine_count = len(self.rc.ids)
        self.one = self.rc[self.rc.ids[0]]
        self.all = self.rc[:]
        self.balanced = self.rc.load_balanced_view()
        self._stopped = False

    def call_noop(self):
        return self.one.apply_sync(noop)

    def balanced_noops(self, count):
        return self.balanced.map(noop, range(count), chunksize=1, block=True)

    def map_pow10(self, length):
        return self.all.map_sync(pow10, range(length))

    def push(self, name, data):
        self.all.push({name: data}, block=True)

    def pull(self, name):
        return self.all.pull(name, block=True)

    def scatter(self, name, data):
        self.all.scatter(name, data, block=True)

    def gather(self, name):
        return self.all.gather(name, block=True)

    @staticmethod
    def start_scale(target, limit_s, tmp):
        return IpyparallelScale(target, limit_s, tmp)

    def stop(self):
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        try:
            if self.rc is not None:
                self.rc.close()
        finally:
            self.cluster.stop_cluster_sync()


W8_BATCH = 16
W8_MIN_FREE_BYTES = 4 * 1024**3
W8_MIN_FREE_FRACTION = 0.25


def _meminfo(field):
    with open("/proc/meminfo") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024


def _mem_available():
    return _meminfo("MemAvailable")


def _memory_floor():
    """Free memory W8 leaves to the rest of the machine: the larger of 4 GiB and a quarter of it."""
    return max(W8_MIN_FREE_BYTES, W8_MIN_FREE_FRACTION * _meminfo("MemTotal"))


class IpyparallelScale:
    """W8: a controller, then engines added in batches of W8_BATCH (``start_engines_sync``) until ``target`` engines
    are registered or ``limit_s`` seconds have passed, or the next batch would bring free memory below the larger of
    4 GiB and a quarter of the machine's (each engine is a Python process with its nanny, ~100 MB together; a first
    run without this estimate took a 23 GB machine to zero free memory at 176 engines). ``register_ms`` is the time from the first batch until adding stopped: every engine
    started was registered, or the limit was reached (then it is about ``limit_s``)."""

    def __init__(self, target, limit_s, tmp):
        self.cluster = ipp.Cluster(
            n=0,
            profile_dir=tempfile.mkdtemp(prefix="ipp-", dir=tmp),
            controller_ip="127.0.0.1",
            log_level=logging.WARNING,
        )
        self.rc = None
        self._stopped = False
        try:
            self.cluster.start_controller_sync()
            self.rc = self.cluster.connect_client_sync()
            t0 = time.perf_counter()
            deadline = t0 + limit_s
            started = 0
            floor = _memory_floor()
            per_batch = 0
            while started < target and time.perf_counter() < deadline and _mem_available() - 2 * per_batch > floor:
                batch = min(W8_BATCH, target - started)
                before = _mem_available()
                self.cluster.start_engines_sync(n=batch)
                started += batch
                # Let this batch register before the next, so a slow start shows as fewer engines, not a pile-up.
                while len(self.rc.ids) < started and time.perf_counter() < deadline:
                    time.sleep(0.05)
                per_batch = max(per_batch, before - _mem_available())
            while len(self.rc.ids) < started and time.perf_counter() < deadline:
                time.sleep(0.05)
            self.register_ms = (time.perf_counter() - t0) * 1000
            self.engine_count = len(self.rc.ids)
            if self.engine_count == 0:
                raise RuntimeError(f"no engine registered in {limit_s} s")
            self.all = self.rc[:]
            self.balanced = self.rc.load_balanced_view()
        except BaseException:
            self.stop()
            raise

    def broadcast_noop(self):
        return self.all.apply_sync(noop)

    def balanced_noops(self, count):
        return self.balanced.map(noop, range(count), chunksize=1, block=True)

    def controller_rss_bytes(self):
        pid = getattr(getattr(self.cluster, "controller", None), "process", None)
        pid = getattr(pid, "pid", None)
        if pid is None:
            return None
        try:
            with open(f"/proc/{pid}/status") as f:
                return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1)) * 1024
        except OSError:
            return None

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.rc is not None:
                self.rc.close()
        finally:
            self.cluster.stop_cluster_sync()


if __name__ == "__main__":
    main(IpyparallelSession)
