"""Per-request limits and the bounded admission queue of `namegen serve` (no TensorFlow here).

TF Serving has no file like this: its limits are gRPC's max message size and the batching
queue's capacity (batching/batching_session.cc). These are ours, each answered with a clear
INVALID_ARGUMENT or RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import grpc
import numpy as np

from data import encoding
from serving.errors import ServingError


@dataclasses.dataclass
class Limits:
    """Per-request bounds, checked before any inference runs."""

    max_request_bytes: int = 1 << 20
    max_rows: int = 1024
    max_length: int = encoding.MAX_NAME_LENGTH
    min_temperature: float = 0.0
    max_temperature: float = 5.0
    max_prefix_chars: int = encoding.MAX_NAME_LENGTH

    def check(self, inputs: dict[str, np.ndarray]) -> None:
        def invalid(message: str) -> ServingError:
            return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)

        for name, array in inputs.items():
            rows = array.shape[0] if array.ndim else 1
            if rows > self.max_rows:
                raise invalid(f"{name} has {rows} rows; this server takes at most "
                              f"{self.max_rows} rows per request (--max-rows)")
        if "max_length" in inputs:
            too_long = inputs["max_length"][inputs["max_length"] > self.max_length]
            if too_long.size:
                raise invalid(f"max_length {int(too_long.flat[0])} is over this server's limit "
                              f"of {self.max_length} (--max-length)")
        if "temperature" in inputs:
            temperature = inputs["temperature"].astype(np.float64)
            outside = temperature[~((temperature >= self.min_temperature)
                                    & (temperature <= self.max_temperature))]
            if outside.size:
                raise invalid(f"temperature must be between {self.min_temperature:g} and "
                              f"{self.max_temperature:g}, got {float(outside.flat[0]):g}")
        for name in ("prefix", "name"):
            if name in inputs and inputs[name].dtype == object:
                for value in inputs[name].flat:
                    chars = len(value.decode("utf-8", errors="replace"))
                    if chars > self.max_prefix_chars:
                        raise invalid(f"{name} has {chars} characters; the limit is "
                                      f"{self.max_prefix_chars} (--max-prefix-chars)")


class Admission:
    """At most `running` requests infer at once and `queued` more wait; the rest get 429."""

    def __init__(self, running: int, queued: int):
        self.running, self.queued = running, queued
        self._admitted = threading.BoundedSemaphore(running + queued)
        self._slots = threading.BoundedSemaphore(running)

    @contextlib.contextmanager
    def slot(self):
        if not self._admitted.acquire(blocking=False):
            raise ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED,
                               f"server is at capacity ({self.running} running, {self.queued} "
                               "queued); retry later")
        try:
            with self._slots:
                yield
        finally:
            self._admitted.release()
