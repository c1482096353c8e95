"""ipyparallel peer: a local cluster started the way a user starts one (``ipp.Cluster(n).start_and_connect_sync()``),
a DirectView for W2/W4/W5 and a LoadBalancedView for W3/W6. Everything listens on 127.0.0.1."""
import logging
import tempfile

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

    def stop(self):
        if getattr(self, "_stopped", False):
            return
        self._stopped = True
        try:
            if self.rc is not None:
                self.rc.close()
        finally:
            self.cluster.stop_cluster_sync()


if __name__ == "__main__":
    main(IpyparallelSession)
