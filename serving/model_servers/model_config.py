"""Model server config: a ModelServerConfig's models, checked, and each model's version policy.

Follows TF Serving's model_servers/server_core.cc (config validation) and
config/model_server_config.proto with file_system_storage_path_source.cc's version policy
(latest N, all, specific).
"""

from __future__ import annotations

import os
from pathlib import Path

import grpc
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.errors import ServingError


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
