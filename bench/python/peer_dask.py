"""Dask distributed peer: ``LocalCluster(n_workers=n, threads_per_worker=1, processes=True)`` plus a ``Client``, bound
to 127.0.0.1, dashboard off. Dask has no engine namespaces: W5's push/pull is ``scatter`` to a named worker and
``gather`` back; its scatter/gather is the array split into one chunk per worker, scattered and gathered."""
import logging

import dask.bag as db
import numpy as np
from distributed import Client, LocalCluster

from driver import main


# The tasks are defined here, in __main__, so they travel to the engines by value: the engines cannot import this
# folder's modules.
def noop(*_args):
    return None


def pow10(x):
    return x ** 10

WORKER_WAIT_S = 300


class DaskSession:
    def __init__(self, engines, _tmp):
        self._stopped = False
        self.client = None
        self.cluster = LocalCluster(
            n_workers=engines,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
        try:
            self.client = Client(self.cluster)
            self.client.wait_for_workers(engines, timeout=WORKER_WAIT_S)
        except BaseException:
            self.stop()
            raise
        self.workers = sorted(self.client.scheduler_info()["workers"])
        self.engine_count = len(self.workers)
        self.data = {}

    def call_noop(self):
        return self.client.submit(noop, pure=False, workers=[self.workers[0]]).result()

    def balanced_noops(self, count):
        return self.client.gather(self.client.map(noop, range(count), pure=False))

    def map_pow10(self, length):
        # A Dask user maps over a large sequence with a bag, one partition per worker (as a direct view's map
        # sends one chunk per engine), not with one future per element.
        return db.from_sequence(range(length), npartitions=self.engine_count).map(pow10).compute()

    def push(self, name, data):
        self.data[name] = [self.client.scatter(data, workers=[w], hash=False) for w in self.workers]

    def pull(self, name):
        return self.client.gather(self.data.pop(name))

    def scatter(self, name, data):
        self.data[name] = self.client.scatter(np.array_split(data, self.engine_count), hash=False)

    def gather(self, name):
        return np.concatenate(self.client.gather(self.data.pop(name)))

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        self.data.clear()
        try:
            if self.client is not None:
                self.client.close()
        finally:
            self.cluster.close()


if __name__ == "__main__":
    main(DaskSession)
