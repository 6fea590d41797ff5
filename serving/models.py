"""Loaded versions and their lifecycle: poll the base paths, load new, then unload old.

Follows TF Serving's ServerCore: a ModelServerConfig names each model's base path, version
policy (latest N, all, specific) and labels. A version that fails to load (half-written,
corrupt) is reported with its error and never displaces a version that is serving.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import re
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving import contract, model_dir
from serving.errors import ServingError, code_from_value

log = logging.getLogger("namegen.serve")

DEFAULT_SIGNATURE = contract.GENERATE_SIGNATURE
State = get_model_status_pb2.ModelVersionStatus.State


# --- configuration ------------------------------------------------------------------------------
def single_model_config(name: str,
                        base_path: str | os.PathLike) -> model_server_config_pb2.ModelConfig:
    """What `--model_name/--model_base_path` mean: one model, the latest version served."""
    config = model_server_config_pb2.ModelConfig(
        name=name, base_path=os.path.abspath(base_path), model_platform="tensorflow")
    config.model_version_policy.latest.num_versions = 1
    return config


def read_config_file(path: str | os.PathLike) -> list[model_server_config_pb2.ModelConfig]:
    """The models of a text ModelServerConfig (`--model_config_file`)."""
    try:
        config = text_format.Parse(Path(path).read_text(encoding="utf-8"),
                                   model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as error:
        raise ValueError(f"Invalid protobuf file: '{path}': {error}") from None
    try:
        models = checked_configs(config)
    except ServingError as error:
        raise ValueError(f"{path}: {error.message}") from None
    if not models:
        raise ValueError(f"{path}: model_config_list has no models")
    return models


def checked_configs(config: model_server_config_pb2.ModelServerConfig
                    ) -> list[model_server_config_pb2.ModelConfig]:
    """The config's models, validated, with TF Serving's default policy (latest 1) filled in."""
    if config.WhichOneof("config") == "custom_model_config":
        raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                           "custom_model_config is not supported; use model_config_list")
    models = [model_server_config_pb2.ModelConfig.FromString(m.SerializeToString())
              for m in config.model_config_list.config]
    names = set()
    for model in models:
        if not model.name or not model.base_path:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               "Every model config needs a name and a base_path")
        if model.name in names:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"Illegal to list model {model.name} multiple times in config "
                               "list")
        names.add(model.name)
        if model.model_platform not in ("", "tensorflow"):
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"model {model.name}: platform {model.model_platform!r} is not "
                               "supported (tensorflow only)")
        if not model.HasField("model_version_policy"):
            model.model_version_policy.latest.num_versions = 1
    return models


def aspired_versions(policy, present: list[int]) -> list[int]:
    """The versions a ServableVersionPolicy wants, from those on disk."""
    kind = policy.WhichOneof("policy_choice") or "latest"
    if kind == "all":
        return list(present)
    if kind == "specific":
        return [v for v in present if v in set(policy.specific.versions)]
    keep = max(policy.latest.num_versions, 1)
    return present[-keep:]


def _fingerprint(path: Path) -> tuple:
    """Changes whenever a file is added, removed or rewritten under `path`."""
    stats = []
    for root, _, files in os.walk(path):
        for name in files:
            try:
                info = os.stat(os.path.join(root, name))
            except OSError:
                continue
            stats.append((os.path.join(root, name), info.st_size, info.st_mtime_ns))
    return tuple(sorted(stats))


# --- one loaded version -------------------------------------------------------------------------
class Servable:
    """One SavedModel version, loaded once; runs its signatures in-process."""

    def __init__(self, name: str, version: int, path: Path):
        self.name, self.version, self.path = name, version, path
        saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        self.signature_defs: dict[str, meta_graph_pb2.SignatureDef] = dict(
            saved_model.meta_graphs[0].signature_def)
        self._loaded = tf.saved_model.load(str(path))
        self._functions = dict(self._loaded.signatures)

    def signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self._functions:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f'Serving signature key "{key}" not found.')
        return self.signature_defs[key]

    def input_dtypes(self, signature_name: str) -> dict[str, np.dtype]:
        inputs = self.signature(signature_name).inputs
        return {name: _numpy_dtype(info.dtype) for name, info in inputs.items()}

    def run(self, signature_name: str, inputs: dict[str, np.ndarray],
            output_filter: list[str] | tuple = ()) -> dict[str, np.ndarray]:
        """The signature's outputs for `inputs`, validated as TF Serving's predict_util does."""
        signature = self.signature(signature_name)
        expected, sent = set(signature.inputs), set(inputs)
        if expected != sent:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}."))
        for index, alias in enumerate(output_filter):
            if alias in output_filter[:index]:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"duplicate output tensor alias: {alias}")
            if alias not in signature.outputs:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                    f"output tensor alias not found in signature: {alias} Outputs expected to be "
                    f"in the set {{{','.join(sorted(signature.outputs))}}}."))
        tensors = {}
        for position, (name, array) in enumerate(sorted(inputs.items())):
            dtype = tf.dtypes.as_dtype(signature.inputs[name].dtype)
            given = tf.dtypes.as_dtype(array.dtype) if array.dtype != object else tf.string
            if given != dtype:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Expects arg[{position}] to be {type_string(dtype)} but "
                                   f"{type_string(given)} "
                                   f"is provided")
            tensors[name] = tf.constant(array, dtype)
        try:
            outputs = self._functions[signature_name or DEFAULT_SIGNATURE](**tensors)
        except tf.errors.OpError as error:
            raise ServingError(code_from_value(error.error_code),
                               clean_tf_message(error.message)) from None
        except (TypeError, ValueError) as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        wanted = output_filter or list(outputs)
        return {name: outputs[name].numpy() for name in wanted}


def type_string(dtype: tf.dtypes.DType) -> str:
    """TensorFlow's DataTypeString: 'float', 'double', 'int64', 'string', ..."""
    return types_pb2.DataType.Name(dtype.as_datatype_enum)[3:].lower()


def _numpy_dtype(dtype_enum: int) -> np.dtype:
    dtype = tf.dtypes.as_dtype(dtype_enum)
    return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)


_ASSERTION = re.compile(r"assertion failed: \[(.*?)\](?: \[(.*)\])?$", re.S)


def clean_tf_message(message: str) -> str:
    """A TF op error without the graph trace: 'prefix has characters outside ...: [é]'."""
    lines = [line for line in message.splitlines()
             if line.strip() and not line.startswith(("Graph execution error", "Detected at node",
                                                      "<stack traces", "\t [[", " [["))]
    text = " ".join(lines).strip()
    text = re.sub(r"\s*\[\[\{\{node [^]]*\]\]", "", text)
    text = re.sub(r"\s*\[Op:[^]]*\]$", "", text)
    text = re.sub(r" \[Condition x == y did not hold.*", "", text, flags=re.S)
    match = _ASSERTION.search(text)
    if not match:
        return text
    return f"{match.group(1)} [{match.group(2)}]" if match.group(2) else match.group(1)


# --- the lifecycle ------------------------------------------------------------------------------
@dataclasses.dataclass
class VersionState:
    state: int = State.START
    error_code: grpc.StatusCode = grpc.StatusCode.OK
    error_message: str = ""
    servable: Servable | None = None
    fingerprint: tuple = ()


class ModelManager:
    """Serves the versions each model's policy aspires to; polls its base path for changes."""

    def __init__(self, configs: list[model_server_config_pb2.ModelConfig],
                 poll_seconds: float = 1.0, warmup_runner=None, metrics=None):
        self.configs = {config.name: config for config in configs}
        self.poll_seconds = poll_seconds
        self.warmup_runner = warmup_runner  # called with each new Servable; None: no warmup
        self.metrics = metrics  # a serving.metrics.ServingMetrics, or None
        self._versions: dict[str, dict[int, VersionState]] = {name: {} for name in self.configs}
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()  # one poll or reload at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # lifecycle
    def start(self) -> None:
        self.poll()
        self._thread = threading.Thread(target=self._poll_loop, name="version-poller",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # noqa: BLE001  keep polling whatever one pass hit
                log.exception("version poll failed")

    def poll(self) -> None:
        """One pass over every model: load what is aspired and new, then unload the surplus."""
        with self._poll_lock:
            for name, config in list(self.configs.items()):
                self._poll_model(name, config)

    def reload_config(self, configs: list[model_server_config_pb2.ModelConfig]) -> None:
        """Replaces the model list whole, as ServerCore::ReloadConfig does: new models load,
        removed models unload, labels and policies change; requests in flight keep the
        servable they hold. Returns once the new config's aspired versions were tried."""
        wanted = {config.name: config for config in configs}
        with self._poll_lock:
            with self._lock:
                for name, states in self._versions.items():
                    if name in wanted:
                        continue
                    for number, state in states.items():
                        if state.state == State.AVAILABLE:
                            state.state, state.servable = State.END, None
                            log.info("unloaded %s version %d (model removed)", name, number)
                for name in wanted:
                    self._versions.setdefault(name, {})
                self.configs = wanted
        self.poll()
        gc.collect()

    def _poll_model(self, name: str, config) -> None:
        folders = model_dir.version_folders(config.base_path)
        present = list(folders)
        aspired = aspired_versions(config.model_version_policy, present)
        for version in sorted(aspired, reverse=True):
            self._maybe_load(name, version, folders[version])
        with self._lock:
            states = self._versions[name]
            available = sorted(v for v, s in states.items() if s.state == State.AVAILABLE)
            keep = [v for v in available if v in aspired]
            # Availability first: if an aspired version failed, keep serving the newest ones
            # that still load, up to the policy's count.
            wanted = len(aspired) if aspired else 0
            for version in reversed(available):
                if len(keep) >= wanted:
                    break
                if version not in keep and version in present:
                    keep.append(version)
            unloaded = [v for v in available if v not in keep]
            for version in unloaded:
                state = states[version]
                state.state, state.servable = State.END, None
                log.info("unloaded %s version %d", name, version)
        if unloaded:
            # A loaded SavedModel sits in reference cycles: without a collection its memory
            # stays until a rare full GC, and the server grows with every push (the soak).
            gc.collect()

    def _maybe_load(self, name: str, version: int, path: Path) -> None:
        with self._lock:
            current = self._versions[name].get(version)
        if current and current.state == State.AVAILABLE:
            return
        fingerprint = _fingerprint(path)
        if (current and current.state == State.END and current.fingerprint == fingerprint
                and current.error_code != grpc.StatusCode.OK):
            return  # failed before, and nothing changed on disk since
        # (a version unloaded cleanly loads again when aspired again, e.g. once a newer
        # version is removed, as in TF Serving)
        with self._lock:
            self._versions[name][version] = VersionState(State.LOADING, fingerprint=fingerprint)
        began = time.monotonic()
        try:
            if not (path / "saved_model.pb").is_file():
                raise ServingError(grpc.StatusCode.NOT_FOUND,
                                   "Could not find SavedModel .pb or .pbtxt at supplied export "
                                   f"directory path: {path} (incomplete version?)")
            servable = Servable(name, version, path)
            if self.warmup_runner:
                replayed = self.warmup_runner(servable)
                log.info("%s version %d: replayed %d warmup requests", name, version, replayed)
        except Exception as error:  # noqa: BLE001  any failure makes the version not loadable
            code = (error.code if isinstance(error, ServingError) else
                    code_from_value(error.error_code) if isinstance(error, tf.errors.OpError)
                    else grpc.StatusCode.UNKNOWN)
            message = f"{type(error).__name__}: {error}" if code == grpc.StatusCode.UNKNOWN \
                else str(error)
            log.warning("%s version %d is not loadable: %s", name, version, message)
            if self.metrics:
                self.metrics.record_load(str(path), False, time.monotonic() - began)
            with self._lock:
                self._versions[name][version] = VersionState(
                    State.END, code, message.splitlines()[0][:500], fingerprint=fingerprint)
            return
        with self._lock:
            self._versions[name][version] = VersionState(State.AVAILABLE, servable=servable,
                                                         fingerprint=fingerprint)
        log.info("%s version %d is AVAILABLE", name, version)
        if self.metrics:
            self.metrics.record_load(str(path), True, time.monotonic() - began)

    # lookups
    def resolve_version(self, name: str, version: int | None, label: str | None) -> int | None:
        """The version a label names; `version` itself otherwise (None means latest)."""
        if not name:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               "ModelSpec has no name specified.")
        if label:
            labels = self.configs[name].version_labels if name in self.configs else {}
            if label not in labels:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Unrecognized servable version label: {label}")
            return int(labels[label])
        return version

    def servable(self, name: str, version: int | None = None,
                 label: str | None = None) -> Servable:
        """The loaded version for a request, or TF Serving's NOT_FOUND."""
        version = self.resolve_version(name, version, label)
        with self._lock:
            states = self._versions.get(name, {})
            loaded = {v: s.servable for v, s in states.items() if s.state == State.AVAILABLE}
        if version is None and loaded:
            return loaded[max(loaded)]
        if version is not None and version in loaded:
            return loaded[version]
        wanted = f"Latest({name})" if version is None else f"Specific({name}, {version})"
        raise ServingError(grpc.StatusCode.NOT_FOUND, f"Servable not found for request: {wanted}")

    def status(self, name: str, version: int | None = None,
               label: str | None = None) -> get_model_status_pb2.GetModelStatusResponse:
        """GetModelStatus: every version seen (newest first), or the one asked for."""
        version = self.resolve_version(name, version, label)
        with self._lock:
            states = dict(self._versions.get(name, {}))
        if not states:
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Could not find any versions of model {name}")
        if version is not None:
            if version not in states:
                raise ServingError(grpc.StatusCode.NOT_FOUND,
                                   f"Could not find version {version} of model {name}")
            states = {version: states[version]}
        response = get_model_status_pb2.GetModelStatusResponse()
        for number in sorted(states, reverse=True):
            state = states[number]
            entry = response.model_version_status.add(version=number, state=state.state)
            entry.status.error_code = state.error_code.value[0]
            entry.status.error_message = state.error_message
        return response

    def available(self, name: str) -> list[int]:
        with self._lock:
            return sorted(v for v, s in self._versions.get(name, {}).items()
                          if s.state == State.AVAILABLE)

