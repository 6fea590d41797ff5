"""Server-side batching, as TF Serving's `--enable_batching` does it (batching_session.cc).

Concurrent Predict calls to one servable and signature whose inputs agree on names, dtypes and
every dimension but the 0th queue together. A batch closes when it holds `max_batch_size` rows
or `batch_timeout_micros` after its first request; one of `num_batch_threads` threads then runs
it as one call, pads it up to the next `allowed_batch_sizes` entry, and splits every output back
by rows. A queue holding `max_enqueued_batches` batches answers UNAVAILABLE. Error texts and
defaults are TF Serving's (shared_batch_scheduler.h, batching_util.h, bundle_factory_util.h).

Two deliberate differences, both so that batching never changes an answer:
- requests whose per-row shapes differ never share a batch (TF Serving puts them in one batch
  and fails all of it with FAILED_PRECONDITION unless pad_variable_length_inputs is on);
- when a merged run fails, each request of the batch is re-run alone and gets its own result
  (TF Serving fails every request of the batch with the batch's error).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import threading
import time
from pathlib import Path

import grpc
import numpy as np

from serving import compat
from serving.errors import ServingError
from serving.model_servers import metrics as metrics_module

log = logging.getLogger("namegen.serve")

DEFAULT_THREAD_POOL = "model_server_batch_threads"  # --enable_batching without a file
FILE_THREAD_POOL = "batch_threads"  # SharedBatchScheduler::Options' default name


@dataclasses.dataclass(frozen=True)
class BatchingParameters:
    """tensorflow_serving/servables/tensorflow/session_bundle_config.proto's BatchingParameters,
    with SharedBatchScheduler's defaults for the fields a file leaves out."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 10
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    thread_pool_name: str = FILE_THREAD_POOL
    allowed_batch_sizes: tuple[int, ...] = ()
    pad_variable_length_inputs: bool = False

    def __post_init__(self) -> None:
        for name in ("max_batch_size", "max_enqueued_batches", "num_batch_threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.batch_timeout_micros < 0:
            raise ValueError(f"batch_timeout_micros must not be negative, got "
                             f"{self.batch_timeout_micros}")
        sizes = self.allowed_batch_sizes
        if sizes:
            if any(b <= a for a, b in zip(sizes, sizes[1:])) or sizes[0] < 1:
                raise ValueError("allowed_batch_sizes entries must be monotonically increasing")
            if sizes[-1] != self.max_batch_size:
                raise ValueError(f"Last entry in allowed_batch_sizes must match max_batch_size; "
                                 f"last entry was {sizes[-1]}; expected {self.max_batch_size}")


def _proto_class():
    """BatchingParameters' message class (tensorflow-serving-api does not ship this proto):
    the fields of session_bundle_config.proto, so text_format rejects unknown ones."""
    from google.protobuf import descriptor_pb2, descriptor_pool, wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    proto = descriptor_pb2.FileDescriptorProto(
        name="session_bundle_config.proto", package="tensorflow.serving", syntax="proto3",
        dependency=["google/protobuf/wrappers.proto"])
    field = descriptor_pb2.FieldDescriptorProto
    message = proto.message_type.add(name="BatchingParameters")
    for number, (name, kind) in enumerate([
            ("max_batch_size", ".google.protobuf.Int64Value"),
            ("batch_timeout_micros", ".google.protobuf.Int64Value"),
            ("max_enqueued_batches", ".google.protobuf.Int64Value"),
            ("num_batch_threads", ".google.protobuf.Int64Value"),
            ("thread_pool_name", ".google.protobuf.StringValue"),
            ("allowed_batch_sizes", "int64"), ("pad_variable_length_inputs", "bool"),
            ("enable_large_batch_splitting", ".google.protobuf.BoolValue"),
            ("max_execution_batch_size", ".google.protobuf.Int64Value")], start=1):
        entry = message.field.add(name=name, number=number, label=field.LABEL_OPTIONAL)
        if kind.startswith("."):
            entry.type, entry.type_name = field.TYPE_MESSAGE, kind
        else:
            entry.type = field.TYPE_INT64 if kind == "int64" else field.TYPE_BOOL
    message.field[5].label = field.LABEL_REPEATED  # allowed_batch_sizes
    pool.Add(proto)
    descriptor = pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    return compat.message_class(descriptor)


def read_parameters(path: str | os.PathLike) -> BatchingParameters:
    """A text-format BatchingParameters file; ValueError naming the file and the problem."""
    from google.protobuf import text_format

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"--batching_parameters_file {path}: cannot read: {error}") from None
    try:
        proto = text_format.Parse(text, _proto_class()())
    except text_format.ParseError as error:
        raise ValueError(f"Invalid protobuf file: '{path}': {error}") from None
    if proto.HasField("enable_large_batch_splitting") and proto.enable_large_batch_splitting.value:
        raise ValueError(f"{path}: enable_large_batch_splitting is not supported by namegen "
                         "serve; remove it (requests over max_batch_size are refused)")
    given = {name: getattr(proto, name).value for name in (
        "max_batch_size", "batch_timeout_micros", "max_enqueued_batches", "num_batch_threads",
        "thread_pool_name") if proto.HasField(name)}
    try:
        return BatchingParameters(**given, allowed_batch_sizes=tuple(proto.allowed_batch_sizes),
                                  pad_variable_length_inputs=proto.pad_variable_length_inputs)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def parameters_from_flags(enable_batching: bool,
                          parameters_file: str | None) -> BatchingParameters | None:
    """What `--enable_batching` and `--batching_parameters_file` mean (server.cc); None: off."""
    if not enable_batching:
        if parameters_file:
            raise ValueError("server_options.batching_parameters_file is set without setting "
                             "server_options.enable_batching to true.")
        return None
    if not parameters_file:
        return BatchingParameters(thread_pool_name=DEFAULT_THREAD_POOL)
    return read_parameters(parameters_file)


# --- the scheduler ------------------------------------------------------------------------------
class BatchingMetrics:
    """TF Serving's batching metrics (batching_util.h, batching_session.cc)."""

    def __init__(self, registry: metrics_module.Registry):
        sizes = metrics_module.exponential_buckets(1, 2, 14)
        prefix = "/tensorflow/serving/batching_session/"
        self.input_batch_size = metrics_module.Sampler(
            registry, prefix + "input_batch_size",
            "Tracks the batch size distribution on the inputs.", sizes)
        self.processed_batch_size = metrics_module.Sampler(
            registry, prefix + "processed_batch_size",
            "Tracks the batch size distribution on processing.", sizes)
        self.padding_size = metrics_module.Sampler(
            registry, prefix + "padding_size",
            "Tracks the padding size distribution on batches.", sizes, "execution_batch_size")
        self.queuing_latency = metrics_module.Sampler(
            registry, prefix + "queuing_latency",
            "Distribution of wall time spent (in microseconds) in queuing",
            metrics_module.exponential_buckets(100, 1.2, 52), "thread_pool_name")


class _Task:
    __slots__ = ("inputs", "rows", "enqueued", "done", "outputs", "error")

    def __init__(self, inputs: dict[str, np.ndarray], rows: int):
        self.inputs, self.rows = inputs, rows
        self.enqueued = time.monotonic()
        self.done = threading.Event()
        self.outputs: dict[str, np.ndarray] | None = None
        self.error: BaseException | None = None


class _Batch:
    def __init__(self):
        self.tasks: list[_Task] = []
        self.rows = 0
        self.opened = time.monotonic()
        self.closed = False


class _Queue:
    """The batches of one (servable, signature, input names/dtypes/shapes, outputs)."""

    def __init__(self, key: tuple, servable, signature_name: str, output_filter: tuple):
        self.key, self.servable = key, servable
        self.signature_name, self.output_filter = signature_name, output_filter
        self.batches: collections.deque[_Batch] = collections.deque()


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def batch_rows(inputs: dict[str, np.ndarray]) -> int:
    """The 0th dimension all inputs share (batching_util.h's ComputeTensorBatchSize)."""
    if not inputs:
        raise _invalid("Batching Run() must have at least one input tensor")
    sizes = set()
    for array in inputs.values():
        if array.ndim == 0:
            raise _invalid("Batching Run() input tensors must have at least one dimension")
        sizes.add(array.shape[0])
    if len(sizes) > 1:
        raise _invalid("Batching Run() input tensors must have equal 0th-dimension size")
    return sizes.pop()


class Batcher:
    """Queues per signature, `num_batch_threads` threads shared by all (SharedBatchScheduler)."""

    def __init__(self, parameters: BatchingParameters,
                 registry: metrics_module.Registry | None = None):
        self.parameters = parameters
        self.metrics = BatchingMetrics(registry or metrics_module.Registry())
        self._cond = threading.Condition()
        self._queues: dict[tuple, _Queue] = {}  # insertion order: round-robin over queues
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"{parameters.thread_pool_name}"
                                          f"-{i}", daemon=True)
                         for i in range(parameters.num_batch_threads)]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Runs what is queued, then ends the batch threads."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def queued_tasks(self) -> int:
        """Requests waiting in a queue, not yet taken by a batch thread."""
        with self._cond:
            return sum(len(b.tasks) for q in self._queues.values() for b in q.batches)

    def run(self, servable, signature_name: str, inputs: dict[str, np.ndarray],
            output_filter: list[str] | tuple = ()) -> dict[str, np.ndarray]:
        """The outputs of this request, computed in a batch with concurrent ones."""
        signature = servable.signature(signature_name)
        dtypes = servable.input_dtypes(signature_name)
        if (set(inputs) != set(signature.inputs) or len(set(output_filter)) < len(output_filter)
                or not set(output_filter) <= set(signature.outputs)
                or any(dtypes[name] != array.dtype for name, array in inputs.items())):
            # Not this signature's inputs/outputs: the servable answers with its validation
            # error, as TF Serving's predict_util does before the batching session.
            return servable.run(signature_name, inputs, output_filter)
        rows = batch_rows(inputs)
        for array in inputs.values():
            self.metrics.input_batch_size.add(sample=array.shape[0])
        if rows > self.parameters.max_batch_size:
            raise _invalid(f"Task size {rows} is larger than maximum input batch size "
                           f"{self.parameters.max_batch_size}")
        pad = self.parameters.pad_variable_length_inputs
        shapes = tuple((name, str(array.dtype), array.ndim if pad else array.shape[1:])
                       for name, array in sorted(inputs.items()))
        key = (id(servable), signature_name or "", shapes, tuple(output_filter))
        task = _Task(inputs, rows)
        self._enqueue(key, servable, signature_name, tuple(output_filter), task)
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _enqueue(self, key: tuple, servable, signature_name: str, output_filter: tuple,
                 task: _Task) -> None:
        limit = self.parameters.max_batch_size
        with self._cond:
            if self._stopping:
                raise ServingError(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
            queue = self._queues.get(key)
            if queue is None or queue.servable is not servable:
                queue = self._queues[key] = _Queue(key, servable, signature_name, output_filter)
            batch = queue.batches[-1] if queue.batches else None
            if batch is None or batch.closed or batch.rows + task.rows > limit:
                if batch is not None:
                    batch.closed = True
                if len(queue.batches) >= self.parameters.max_enqueued_batches:
                    raise ServingError(grpc.StatusCode.UNAVAILABLE,
                                       "The batch scheduling queue to which this task was "
                                       "submitted is full")
                batch = _Batch()
                queue.batches.append(batch)
            batch.tasks.append(task)
            batch.rows += task.rows
            if batch.rows >= limit:
                batch.closed = True
            self._cond.notify_all()

    def _next_batch(self) -> tuple[_Queue | None, _Batch | None, float | None]:
        """A batch ready to run (closed, or open past its timeout), or how long to wait."""
        now, wait = time.monotonic(), None
        timeout = self.parameters.batch_timeout_micros / 1e6
        for key, queue in list(self._queues.items()):
            batch = queue.batches[0]
            due = batch.opened + timeout
            if batch.closed or due <= now or self._stopping:
                queue.batches.popleft()
                batch.closed = True
                del self._queues[key]
                if queue.batches:  # to the back: queues take turns
                    self._queues[key] = queue
                return queue, batch, None
            wait = due - now if wait is None else min(wait, due - now)
        return None, None, wait

    def _work(self) -> None:
        while True:
            with self._cond:
                while True:
                    queue, batch, wait = self._next_batch()
                    if batch is not None or (self._stopping and not self._queues):
                        break
                    self._cond.wait(wait)
            if batch is None:
                return
            now = time.monotonic()
            for task in batch.tasks:
                self.metrics.queuing_latency.add(self.parameters.thread_pool_name,
                                                 sample=(now - task.enqueued) * 1e6)
            try:
                self._run_batch(queue, batch.tasks)
            finally:
                for task in batch.tasks:
                    task.done.set()

    def _run_batch(self, queue: _Queue, tasks: list[_Task]) -> None:
        """One merged run split back by rows; on failure each task alone."""
        try:
            merged, sizes = self._merge(tasks)
            outputs = queue.servable.run(queue.signature_name, merged, queue.output_filter)
            for task, part in zip(tasks, self._split(outputs, sizes)):
                task.outputs = part
        except Exception as error:  # noqa: BLE001  every task gets an answer, whatever failed
            if len(tasks) == 1:
                tasks[0].error = error
                return
            log.info("a batch of %d requests failed (%s); running them one by one", len(tasks),
                     error)
            for task in tasks:
                self._run_batch(queue, [task])

    def _merge(self, tasks: list[_Task]) -> tuple[dict[str, np.ndarray], list[int]]:
        """The tasks' inputs concatenated on dimension 0, padded as TF Serving pads."""
        rows = sum(task.rows for task in tasks)
        allowed = self.parameters.allowed_batch_sizes
        execution = next((size for size in allowed if size >= rows), rows) if rows else 0
        padding = execution - rows
        self.metrics.padding_size.add(str(execution), sample=padding)
        self.metrics.processed_batch_size.add(sample=execution)
        merged = {}
        for name in tasks[0].inputs:
            arrays = [task.inputs[name] for task in tasks]
            if self.parameters.pad_variable_length_inputs:
                arrays = _pad_to_common_shape(arrays)
            if padding:
                source = next(a for a in reversed(arrays) if a.shape[0])
                arrays.append(np.repeat(source[:1], padding, axis=0))
            merged[name] = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        sizes = [task.rows for task in tasks] + ([padding] if padding else [])
        return merged, sizes

    @staticmethod
    def _split(outputs: dict[str, np.ndarray], sizes: list[int]) -> list[dict[str, np.ndarray]]:
        total = sum(sizes)
        for tensor in outputs.values():
            if tensor.ndim == 0:
                raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                                   "Batched output tensor has 0 dimensions")
            if tensor.shape[0] != total:
                raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                                   "Batched output tensor's 0th dimension does not equal the "
                                   "sum of the 0th dimension sizes of the input tensors")
        bounds = np.cumsum(sizes)[:-1]
        parts = {name: np.split(tensor, bounds) for name, tensor in outputs.items()}
        return [{name: parts[name][i] for name in outputs} for i in range(len(sizes))]


def _pad_to_common_shape(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Each array padded after its data, in dimensions 1.., to the largest size any has there,
    with its own first element (batching_util.cc's AddPadding)."""
    widest = np.max([a.shape for a in arrays], axis=0)
    padded = []
    for array in arrays:
        gaps = [(0, 0)] + [(0, int(w - s)) for w, s in zip(widest[1:], array.shape[1:])]
        if not any(after for _, after in gaps):
            padded.append(array)
            continue
        if array.size == 0:
            raise _invalid("Got empty tensor in batch of non-empty tensors.")
        if array.ndim > 6:
            raise _invalid("Only tensors with rank from 1 to 6 can be padded.")
        padded.append(np.pad(array, gaps, mode="constant", constant_values=array.flat[0]))
    return padded
