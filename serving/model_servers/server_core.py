"""The server core shared by REST and gRPC: lookups, limits, admission, draining, reloads.

Follows model_servers/server_core.cc (the ServerCore both APIs call, config reloads) with
servables/tensorflow/get_model_metadata_impl.cc and predict_impl.cc.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from pathlib import Path

import grpc
import numpy as np
from tensorflow_serving.apis import get_model_metadata_pb2

from serving.errors import ServingError
from serving.model_servers import metrics, model_config
from serving.model_servers.batching_session import Batcher, BatchingParameters
from serving.model_servers.limits import Admission, Limits
from serving.model_servers.manager import ModelManager
from serving.model_servers.servable import Servable
from serving.model_servers.warmup import read_warmup_requests

log = logging.getLogger("namegen.serve")

MAX_WARMUP_RECORDS = 1000  # TF Serving's cap on a version's warmup file


class ModelServer:
    """Looks up servables, applies limits and admission, and runs predictions."""

    def __init__(self, manager: ModelManager, limits: Limits | None = None,
                 max_concurrent: int = 2, max_queued: int = 32,
                 prometheus_path: str | None = None,
                 batching: BatchingParameters | None = None,
                 allow_unavailable_labels: bool = False):
        self.manager = manager
        # --allow_version_labels_for_unavailable_models
        self.allow_unavailable_labels = allow_unavailable_labels
        self.limits = limits or Limits()
        self.admission = Admission(max_concurrent, max_queued)
        self.metrics = manager.metrics = manager.metrics or metrics.ServingMetrics()
        self.prometheus_path = prometheus_path  # None: no metrics route
        # --enable_batching: Predict calls merge in the batcher, whose queue bound and threads
        # replace the admission slots (TF Serving has no admission queue of its own).
        self.batcher = Batcher(batching, self.metrics.registry) if batching else None
        self._inflight = 0
        self._inflight_lock = threading.Condition()
        self._reload_lock = threading.Lock()
        self.draining = False

    def reload_config(self, model_configs: list) -> None:
        """A new model list (HandleReloadConfigRequest or an edited --model_config_file)."""
        with self._reload_lock:
            self.manager.check_labels(model_configs, self.allow_unavailable_labels)
            self.manager.reload_config(model_configs)

    def reload_config_proto(self, config) -> None:
        """HandleReloadConfigRequest: validated against the models served now, as
        ServerCore::ReloadConfig does; an empty ModelServerConfig takes no action."""
        with self._reload_lock:
            models = model_config.checked_configs(config, list(self.manager.configs.values()))
            if models is None:
                log.info("Taking no action for empty config.")
                return
            self.manager.check_labels(models, self.allow_unavailable_labels)
            self.manager.reload_config(models)

    def startup_problem(self) -> str | None:
        """Why the server cannot serve its startup config (a model none of whose versions
        loads, a label on an unavailable version), as TF Serving's ServerCore::Create fails;
        None when it can."""
        problems = self.manager.unavailable_models()
        if problems:
            return (f"{len(problems)} model(s) did not become available: "
                    "{" + ", ".join("{" + p + "}" for p in problems) + ", }")
        try:
            self.manager.check_labels(list(self.manager.configs.values()),
                                      self.allow_unavailable_labels)
        except ServingError as error:
            return f"{error.code.name}: {error.message}"
        return None

    @contextlib.contextmanager
    def tracked(self):
        """Counts a request as in flight, for draining."""
        with self._inflight_lock:
            self._inflight += 1
        try:
            yield
        finally:
            with self._inflight_lock:
                self._inflight -= 1
                self._inflight_lock.notify_all()

    @property
    def inflight(self) -> int:
        """Requests being served now (REST and gRPC)."""
        with self._inflight_lock:
            return self._inflight

    def wait_idle(self, timeout: float) -> bool:
        with self._inflight_lock:
            return self._inflight_lock.wait_for(lambda: self._inflight == 0, timeout)

    def predict(self, servable: Servable, signature_name: str, inputs: dict[str, np.ndarray],
                output_filter: list[str] | tuple = ()) -> dict[str, np.ndarray]:
        self.limits.check(inputs)
        if self.batcher:
            return self.batcher.run(servable, signature_name, inputs, output_filter)
        with self.admission.slot():
            return servable.run(signature_name, inputs, output_filter)

    def predict_protos(self, servable: Servable, signature_name: str, protos,
                       output_filter: list[str] | tuple = ()) -> dict[str, np.ndarray]:
        """gRPC Predict: declared shapes checked first, then decoded inside the admission
        queue (with batching, the batcher's bounded queue takes its place)."""
        for name, proto in protos.items():
            self.limits.check_declared(name, declared_dims(proto), item_bytes(proto.dtype))
        if self.batcher:
            return self.predict(servable, signature_name, tensors_from_protos(protos),
                                output_filter)
        with self.admission.slot():
            inputs = tensors_from_protos(protos)
            self.limits.check(inputs)
            return servable.run(signature_name, inputs, output_filter)

    def model_label(self, name: str) -> str:
        """The metrics label for a requested model: its name when the server knows it, one
        fixed label otherwise (the page stays small whatever clients send)."""
        return name if name in self.manager.configs else metrics.UNKNOWN_MODEL

    def record_request(self, name: str, api: str, entrypoint: str, status: str,
                       seconds: float) -> None:
        self.metrics.record_request(self.model_label(name), api, entrypoint, status, seconds)

    def metadata(self, servable: Servable,
                 fields: list[str]) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not fields:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               "GetModelMetadataRequest must specify at least one metadata_field")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        for field in fields:
            if field != "signature_def":
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Metadata field {field} is not supported")
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in servable.signature_defs.items():
                signatures.signature_def[key].CopyFrom(signature)
            response.metadata["signature_def"].Pack(signatures)
        return response

    def warmup(self, servable: Servable) -> int:
        """Replays a version's warmup PredictLogs (load fails if one fails, as in TF Serving)."""
        records = read_warmup_requests(servable.path)
        if len(records) > MAX_WARMUP_RECORDS:
            raise ValueError(f"Number of warmup records exceeds the maximum "
                             f"({MAX_WARMUP_RECORDS}) at {servable.path}")
        for record in records:
            if record.WhichOneof("log_type") != "predict_log":
                raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                                   f"warmup {record.WhichOneof('log_type')} is not supported")
            request = record.predict_log.request
            servable.run(request.model_spec.signature_name,
                         tensors_from_protos(request.inputs), list(request.output_filter))
        return len(records)


def declared_dims(proto) -> list[int]:
    """A TensorProto's declared dimension sizes (as sent, possibly negative)."""
    return [dim.size for dim in proto.tensor_shape.dim]


def item_bytes(dtype_enum: int) -> int:
    """Bytes one element of a dtype takes once decoded (a pointer for strings, 1 at least)."""
    import tensorflow as tf

    try:
        dtype = tf.dtypes.as_dtype(dtype_enum)
    except TypeError:
        return 1  # not a dtype: make_ndarray refuses it (INVALID_ARGUMENT)
    return 8 if dtype == tf.string else max(dtype.size, 1)


def tensors_from_protos(protos) -> dict[str, np.ndarray]:
    """Request TensorProtos as arrays, or INVALID_ARGUMENT."""
    import tensorflow as tf

    try:
        return {name: tf.make_ndarray(proto) for name, proto in protos.items()}
    except Exception as error:  # noqa: BLE001  any TensorProto a client sends is its error
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"bad TensorProto: {type(error).__name__}: {error}"[:500]) from None


class ConfigFileWatcher:
    """Re-reads --model_config_file every `seconds` and reloads the models when it changed
    (--model_config_file_poll_wait_seconds). A file that does not parse is logged and skipped;
    the models being served stay as they are."""

    def __init__(self, core: ModelServer, path: str | Path, seconds: float):
        self.core, self.path, self.seconds = core, Path(path), seconds
        self._last = self._read_text()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="config-poller", daemon=True)

    def _read_text(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except OSError:
            return None

    def start(self) -> ConfigFileWatcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def check(self) -> bool:
        """Reloads if the file changed since the last read; True when it reloaded."""
        text = self._read_text()
        if text is None or text == self._last:
            return False
        self._last = text
        try:
            configs = model_config.read_config_file(
                self.path, list(self.core.manager.configs.values()))
            self.core.reload_config(configs)
        except (ValueError, OSError) as error:
            log.warning("%s not reloaded: %s", self.path, error)
            return False
        except ServingError as error:
            log.warning("%s not reloaded: %s: %s", self.path, error.code.name, error.message)
            return False
        log.info("reloaded %s: models %s", self.path, ", ".join(c.name for c in configs))
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.check()
            except Exception:  # noqa: BLE001  keep watching whatever one pass hit
                log.exception("config reload failed")
