"""Pusher executor: atomic, sequentially numbered versions in TF Serving's layout."""

from __future__ import annotations

import json
import os

from absl import logging
from tfx.components.pusher import executor as tfx_pusher
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.pusher import versions
from pipeline import configs
from pipeline.failpoints import failpoint
from serving.contract import GATE_FILE

GATE_METRICS = ("eval_nats_per_char", "novelty", "validity", "length_tv_distance", "casing")


def gate_record(blessing) -> dict:
    """The evaluation gate's verdict and metrics, from the ModelBlessing's custom properties."""
    record = {"blessed": bool(blessing.get_int_custom_property("blessed")),
              "reason": blessing.get_string_custom_property("reason")}
    for key in GATE_METRICS:
        if blessing.has_custom_property(key):
            record[key] = blessing.get_float_custom_property(key)
    return record


def push_atomically(model_path: str, base: str, keep: int = 0, gate: dict | None = None,
                    config_files: tuple[str, ...] = ()) -> int:
    """Copy a SavedModel to base/<next version> atomically (versions.write_version).

    A model already pushed from the same source (a re-run after a crash) keeps its version.
    keep > 0: the newest `keep` versions stay afterwards, and every version in use (labels and
    `specific` policies in models.config files: versions.in_use_versions). The gate's record,
    when given, goes in with the copy (assets.extra/gate.json), before the rename.
    """

    def write_gate(incoming: str) -> None:
        with open(os.path.join(incoming, GATE_FILE), "w", encoding="utf-8") as f:
            json.dump(gate, f, indent=1, ensure_ascii=False)

    source = os.path.realpath(model_path)
    with versions.push_lock(base):
        version = versions.write_version(source, base, marker=source, keep=keep,
                                         edit=write_gate if gate is not None else None,
                                         config_files=config_files)
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
        config = json.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
                            or "null") or {}
        keep = int(config.get("keep_versions", configs.KEEP_VERSIONS))
        config_files = tuple(filter(None, [config.get("model_config_file")]))
        version = push_atomically(model_path, base, keep=keep, gate=gate,
                                  config_files=config_files)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=os.path.join(base, str(version)),
                         pushed_version=str(version))
        logging.info("pushed version %d to %s", version, base)
