"""The production serving files parse and name the right model, paths and ports."""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import pytest
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, text_format

from data import encoding
from pipeline import configs
from serving import compat

SERVING = Path(__file__).resolve().parents[2] / "serving"


def tfrecord_bytes(records: list[bytes]) -> bytes:
    """TFRecord framing, written by TF itself."""
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "records")
        with tf.io.TFRecordWriter(path) as writer:
            for record in records:
                writer.write(record)
        return Path(path).read_bytes()


def test_models_config_parses_with_tf_serving_protos():
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse((SERVING / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    assert model.name == encoding.MODEL_NAME
    assert model.base_path == f"/models/{encoding.MODEL_NAME}"
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.latest.num_versions == 2
    assert set(model.version_labels) == {"stable", "canary"}
    assert model.version_labels["stable"] < model.version_labels["canary"]


def _message_class(proto_file: str, package: str, messages: dict[str, dict[str, tuple]]):
    """Message classes for TF Serving protos that tensorflow-serving-api does not ship.

    Field names and types copied from tensorflow_serving/config/monitoring_config.proto and
    servables/tensorflow/session_bundle_config.proto; text_format then rejects any unknown
    field or wrong type in our files.
    """
    from google.protobuf import wrappers_pb2

    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file = descriptor_pb2.FileDescriptorProto(name=proto_file, package=package, syntax="proto3",
                                              dependency=["google/protobuf/wrappers.proto"])
    field_type = descriptor_pb2.FieldDescriptorProto
    for name, fields in messages.items():
        message = file.message_type.add(name=name)
        for number, (field, (kind, repeated)) in enumerate(fields.items(), start=1):
            entry = message.field.add(name=field, number=number,
                                      label=field_type.LABEL_REPEATED if repeated
                                      else field_type.LABEL_OPTIONAL)
            if kind.startswith("."):
                entry.type, entry.type_name = field_type.TYPE_MESSAGE, kind
            else:
                entry.type = getattr(field_type, f"TYPE_{kind.upper()}")
    pool.Add(file)
    return {name: compat.message_class(pool.FindMessageTypeByName(f"{package}.{name}"))
            for name in messages}


def test_monitoring_config_enables_prometheus():
    classes = _message_class("monitoring_config.proto", "tensorflow.serving", {
        "PrometheusConfig": {"enable": ("bool", False), "path": ("string", False)},
        "MonitoringConfig": {"prometheus_config": (".tensorflow.serving.PrometheusConfig",
                                                   False)},
    })
    config = text_format.Parse((SERVING / "monitoring.config").read_text(),
                               classes["MonitoringConfig"]())
    assert config.prometheus_config.enable
    assert config.prometheus_config.path == "/monitoring/prometheus/metrics"


def test_batching_parameters_fit_two_cores():
    int64 = ".google.protobuf.Int64Value"
    classes = _message_class("session_bundle_config.proto", "tensorflow.serving", {
        "BatchingParameters": {
            "max_batch_size": (int64, False), "batch_timeout_micros": (int64, False),
            "num_batch_threads": (int64, False), "max_enqueued_batches": (int64, False),
            "allowed_batch_sizes": ("int64", True), "pad_variable_length_inputs": ("bool", False),
            "thread_pool_name": (".google.protobuf.StringValue", False),
            "enable_large_batch_splitting": ("bool", False),
            "max_execution_batch_size": (int64, False),
        }})
    params = text_format.Parse((SERVING / "batching_parameters.txt").read_text(),
                               classes["BatchingParameters"]())
    assert params.num_batch_threads.value == 2
    assert params.max_batch_size.value >= 256 and params.max_enqueued_batches.value > 0
    assert 0 < params.batch_timeout_micros.value <= 10_000


def test_docker_compose_runs_tf_serving_on_the_serving_dir():
    compose = yaml.safe_load((SERVING / "docker-compose.yml").read_text())
    (service,) = compose["services"].values()
    assert service["image"] == "tensorflow/serving:2.16.1"
    assert {p.split(":", 1)[1] for p in service["ports"]} == {"8500:8500", "8501:8501"}
    flags = dict(arg.lstrip("-").split("=", 1) for arg in service["command"])
    assert flags["port"] == "8500" and flags["rest_api_port"] == "8501"
    assert flags["enable_model_warmup"] == "true" and flags["enable_batching"] == "true"
    mounts = {container: host for host, container, _mode in
              (volume.rsplit(":", 2) for volume in service["volumes"])}
    for flag, local in (("model_config_file", "./models.config"),
                        ("batching_parameters_file", "./batching_parameters.txt"),
                        ("monitoring_config_file", "./monitoring.config")):
        assert mounts[flags[flag]] == local and (SERVING / local).is_file()
    serving_mount = next(c for c, h in mounts.items() if "runs/serving" in h)
    assert serving_mount == "/models"  # models.config's base_path is /models/names
    default_dir = Path(SERVING, next(h for h in mounts.values() if "runs/serving" in h)
                       .split(":-")[-1].rstrip("}")).resolve()
    assert default_dir == configs.DEFAULT_SERVING_DIR.resolve() or \
        "NAMEGEN_HOME" in os.environ


def test_kserve_manifest_uses_the_tensorflow_runtime():
    manifest = yaml.safe_load((SERVING / "kserve" / "inferenceservice.yaml").read_text())
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1"
    assert manifest["kind"] == "InferenceService"
    assert manifest["metadata"]["name"] == encoding.MODEL_NAME  # the name in /v1/models/<name>
    model = manifest["spec"]["predictor"]["model"]
    assert model["modelFormat"]["name"] == "tensorflow"
    assert model["runtime"] == "kserve-tensorflow-serving"
    assert model["storageUri"].rstrip("/").endswith(f"/{encoding.MODEL_NAME}")  # parent of N/


def test_warmup_bytes_are_a_tfrecord_of_prediction_logs():
    from tensorflow_serving.apis import prediction_log_pb2

    from components.trainer.warmup import WARMUP_BATCH_SIZES, warmup_requests

    data = warmup_requests(score_names=["Rex", "Ann"])
    offset, logs = 0, []
    while offset < len(data):  # TFRecord: length, crc, payload, crc
        (length,) = struct.unpack_from("<Q", data, offset)
        payload = data[offset + 12: offset + 12 + length]
        logs.append(prediction_log_pb2.PredictionLog.FromString(payload))
        offset += 12 + length + 4
    assert offset == len(data) and len(logs) == len(WARMUP_BATCH_SIZES) + 2
    assert all(log.WhichOneof("log_type") == "predict_log" for log in logs)
    assert {log.predict_log.request.model_spec.name for log in logs} == {encoding.MODEL_NAME}
    assert logs[-1].predict_log.request.inputs["name"].string_val == [b"Rex", b"Ann"]
    assert logs[-2].predict_log.request.model_spec.signature_name == "sample"
    assert data == tfrecord_bytes([log.SerializeToString(deterministic=True) for log in logs])


@pytest.mark.parametrize("path", ["models.config", "batching_parameters.txt",
                                  "monitoring.config", "docker-compose.yml",
                                  "kserve/inferenceservice.yaml", "README.md"])
def test_production_files_exist(path):
    assert (SERVING / path).is_file()
