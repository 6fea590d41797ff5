"""Pusher executor: atomic, sequentially numbered versions in TF Serving's layout."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import uuid

from absl import logging
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from pipeline.failpoints import failpoint
from serving.model_dir import GATE_FILE

SOURCE_MARKER = os.path.join("assets.extra", "pushed_from.txt")
GATE_METRICS = ("eval_nats_per_char", "novelty", "validity", "length_tv_distance", "casing")


def numeric_versions(base: str) -> list[int]:
    """Version folders TF Serving would load (numeric names only), ascending."""
    if not os.path.isdir(base):
        return []
    return sorted(int(n) for n in os.listdir(base) if n.isdigit())


@contextlib.contextmanager
def push_lock(base: str):
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, ".push.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def gate_record(blessing) -> dict:
    """The evaluation gate's verdict and metrics, from the ModelBlessing's custom properties."""
    record = {"blessed": bool(blessing.get_int_custom_property("blessed")),
              "reason": blessing.get_string_custom_property("reason")}
    for key in GATE_METRICS:
        if blessing.has_custom_property(key):
            record[key] = blessing.get_float_custom_property(key)
    return record


def push_atomically(model_path: str, base: str, gate: dict | None = None) -> int:
    """Copy a SavedModel into base/.incoming-*, then rename it to base/<next version>.

    TF Serving ignores non-numeric folders, so readers never see a partial version. A model
    already pushed from the same source (a re-run after a crash) keeps its version. The gate's
    record, when given, goes in with it (assets.extra/gate.json).
    """
    source = os.path.realpath(model_path)
    with push_lock(base):
        for version in numeric_versions(base):
            marker = os.path.join(base, str(version), SOURCE_MARKER)
            if os.path.exists(marker) and open(marker).read() == source:
                logging.info("model %s is already version %d", source, version)
                return version
        for stale in os.listdir(base):
            if stale.startswith(".incoming-"):
                shutil.rmtree(os.path.join(base, stale), ignore_errors=True)
        incoming = os.path.join(base, f".incoming-{uuid.uuid4().hex}")
        try:
            shutil.copytree(source, incoming)
            with open(os.path.join(incoming, SOURCE_MARKER), "w") as f:
                f.write(source)
            if gate is not None:
                with open(os.path.join(incoming, GATE_FILE), "w", encoding="utf-8") as f:
                    json.dump(gate, f, indent=1, ensure_ascii=False)
            version = max(numeric_versions(base), default=0) + 1
            failpoint("push-before-rename")
            os.rename(incoming, os.path.join(base, str(version)))
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
    failpoint("push-after-rename")
    return version


class Executor(tfx_pusher.Executor):
    """TFX Pusher with atomic local pushes and versions 1, 2, 3, ..."""

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination
        )
        base = destination.filesystem.base_directory
        if "://" in base:  # object stores: TFX's copy (saved_model.pb written last)
            return super().Do(input_dict, output_dict, exec_properties)
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY]
        )
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        blessings = input_dict.get(standard_component_specs.MODEL_BLESSING_KEY) or []
        gate = gate_record(blessings[0]) if blessings else None
        version = push_atomically(model_path, base, gate)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=os.path.join(base, str(version)),
                         pushed_version=str(version))
        logging.info("pushed version %d to %s", version, base)
