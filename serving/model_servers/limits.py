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
        """Rows, and the sampling inputs' ranges; an input of another dtype than the limit
        expects is left to the signature's own dtype check (INVALID_ARGUMENT, never INTERNAL)."""
        for name, array in inputs.items():
            self.check_rows(name, array.shape[0] if array.ndim else 1)
        max_length = _numbers(inputs.get("max_length"))
        if max_length is not None:
            too_long = max_length[~(max_length <= self.max_length)]
            if too_long.size:
                raise _invalid(f"max_length {too_long.flat[0]!s} is over this server's limit "
                               f"of {self.max_length} (--max-length)")
        temperature = _numbers(inputs.get("temperature"))
        if temperature is not None:
            temperature = temperature.astype(np.float64)
            outside = temperature[~((temperature >= self.min_temperature)
                                    & (temperature <= self.max_temperature))]
            if outside.size:
                raise _invalid(f"temperature must be between {self.min_temperature:g} and "
                               f"{self.max_temperature:g}, got {float(outside.flat[0]):g}")
        for name in ("prefix", "name"):
            if name in inputs and inputs[name].dtype == object:
                for value in inputs[name].flat:
                    text = (value.decode("utf-8", errors="replace")
                            if isinstance(value, bytes) else str(value))
                    if len(text) > self.max_prefix_chars:
                        raise _invalid(f"{name} has {len(text)} characters; the limit is "
                                       f"{self.max_prefix_chars} (--max-prefix-chars)")

    def check_rows(self, name: str, rows: int) -> None:
        if rows > self.max_rows:
            raise _invalid(f"{name} has {rows} rows; this server takes at most "
                           f"{self.max_rows} rows per request (--max-rows)")

    def check_examples(self, rows: int, decoded_bytes: int) -> None:
        """Classify, Regress, MultiInference: the same row and byte bounds as Predict."""
        self.check_rows("examples", rows)
        if decoded_bytes > self.max_request_bytes:
            raise _invalid(f"examples take {decoded_bytes} bytes with their context merged in, "
                           f"over this server's limit of {self.max_request_bytes} bytes per "
                           "request (--max-request-bytes)")

    def check_declared(self, name: str, dims: list[int], item_bytes: int) -> None:
        """A tensor's declared shape, before anything is allocated for it: sizes not negative,
        at most max_rows rows, and at most max_request_bytes once decoded."""
        if any(size < 0 for size in dims):
            raise _invalid(f"{name} declares a negative dimension in shape {dims}")
        if dims:
            self.check_rows(name, dims[0])
        elements = 1
        for size in dims:
            elements *= size
            if elements * item_bytes > self.max_request_bytes:
                raise _invalid(f"{name} declares shape {dims[:8]}{'...' if len(dims) > 8 else ''}"
                               f", over this server's limit of {self.max_request_bytes} bytes "
                               "per request once decoded (--max-request-bytes)")


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _numbers(array: np.ndarray | None) -> np.ndarray | None:
    """The array when it holds booleans, integers or floats; None otherwise."""
    if array is None or array.dtype.kind not in "biuf":
        return None
    return array


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
