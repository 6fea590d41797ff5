"""Loaded versions and their lifecycle: poll the base paths, load new, then unload old.

Follows TF Serving's model_servers/server_core.cc and core/aspired_versions_manager.cc: each
model's base path is polled, the versions its policy aspires to are loaded, and the rest
unloaded. A version that fails to load (half-written, corrupt) is reported with its error and
never displaces a version that is serving.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import threading
import time
from pathlib import Path

import grpc
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving import model_dir
from serving.errors import ServingError, code_from_value
from serving.model_servers.model_config import aspired_versions
from serving.model_servers.servable import Servable

log = logging.getLogger("namegen.serve")

State = get_model_status_pb2.ModelVersionStatus.State
MISSING_LOG_SECONDS = 30.0  # how often a missing base path is logged again


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
        self._missing_logged: dict[str, float] = {}  # model -> when its missing path was logged

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

    def missing_base_path(self, name: str) -> str | None:
        """TF Serving's words when a model's base path does not exist (None when it does)."""
        config = self.configs.get(name)
        if config is None or os.path.isdir(config.base_path):
            return None
        return (f"FileSystemStoragePathSource encountered a file-system access error: Could not "
                f"find base path {config.base_path} for servable {name}")

    def _log_missing_base_path(self, name: str) -> None:
        """As TF Serving does on its polls, at most every MISSING_LOG_SECONDS per model."""
        problem = self.missing_base_path(name)
        if problem is None:
            self._missing_logged.pop(name, None)
            return
        now = time.monotonic()
        if now - self._missing_logged.get(name, -MISSING_LOG_SECONDS) >= MISSING_LOG_SECONDS:
            self._missing_logged[name] = now
            log.warning("%s (polling every %gs until it appears)", problem, self.poll_seconds)

    def _poll_model(self, name: str, config) -> None:
        self._log_missing_base_path(name)
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

    # config checks
    def check_labels(self, configs: list[model_server_config_pb2.ModelConfig],
                     allow_unavailable: bool = False) -> None:
        """Every label names an AVAILABLE version, or TF Serving's FAILED_PRECONDITION
        (server_core.cc's UpdateModelVersionLabelMap). allow_unavailable
        (--allow_version_labels_for_unavailable_models): a new or unchanged label may name
        any version."""
        with self._lock:
            for config in configs:
                states = self._versions.get(config.name, {})
                old = self.configs[config.name].version_labels if config.name in self.configs \
                    else {}
                for label, version in config.version_labels.items():
                    if allow_unavailable and (label not in old or old[label] == version):
                        continue
                    state = states.get(version)
                    if state is None or state.state != State.AVAILABLE:
                        raise ServingError(
                            grpc.StatusCode.FAILED_PRECONDITION,
                            f"Request to assign label to version {version} of model "
                            f"{config.name}, which is not currently available for inference")

    def unavailable_models(self) -> list[str]:
        """Models with versions on disk of which none loaded, each with its first error (a
        model with no version yet is waiting for a push, not failing)."""
        problems = []
        with self._lock:
            for name in self.configs:
                states = self._versions.get(name, {})
                if states and not any(s.state == State.AVAILABLE for s in states.values()):
                    version = max(states)
                    problems.append(f"{{name: {name} version: {version}}} due to error: "
                                    f"{states[version].error_code.name}: "
                                    f"{states[version].error_message}")
        return problems

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
            missing = self.missing_base_path(name)
            raise ServingError(grpc.StatusCode.NOT_FOUND,
                               f"Could not find any versions of model {name}"
                               + (f" ({missing})" if missing else ""))
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

