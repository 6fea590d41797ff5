"""The machine a bench ran on, and its measured fp32 matmul limit."""

from __future__ import annotations

import os
import statistics
import time


def machine() -> dict:
    """nproc, CPU model and the load average, for the report."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import tensorflow as tf

    return {"nproc": os.cpu_count(), "cpu_model": model, "load_average": os.getloadavg(),
            "tensorflow": tf.__version__, "gpus": len(tf.config.list_physical_devices("GPU")),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


class MatmulLimit:
    """fp32 matmul GFLOP/s at one shape, re-measured whenever asked (the load changes).

    Sustained: total FLOPs over total wall time of back-to-back calls, the same estimator as
    the workloads' (characters per epoch over the epoch's wall time).
    """

    def __init__(self, m: int, k: int, n: int):
        import tensorflow as tf

        self.shape = (m, k, n)
        self.a = tf.random.normal([m, k])
        self.b = tf.random.normal([k, n])
        self.matmul = tf.function(lambda a, b: tf.matmul(a, b))
        self.matmul(self.a, self.b)
        self.samples: list[float] = []

    def measure(self, seconds: float = 0.4) -> float:
        m, k, n = self.shape
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or calls < 5:
            self.matmul(self.a, self.b).numpy()
            calls += 1
        gflops = 2 * m * k * n * calls / (time.perf_counter() - started) / 1e9
        self.samples.append(gflops)
        return gflops

    @property
    def gflops(self) -> float:
        return statistics.median(self.samples)
