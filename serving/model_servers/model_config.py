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

TENSORFLOW_PLATFORM = "tensorflow"


# --- configuration ------------------------------------------------------------------------------
def single_model_config(name: str,
                        base_path: str | os.PathLike) -> model_server_config_pb2.ModelConfig:
    """What `--model_name/--model_base_path` mean: one model, the latest version served."""
    config = model_server_config_pb2.ModelConfig(
        name=name, base_path=os.path.abspath(base_path), model_platform="tensorflow")
    config.model_version_policy.latest.num_versions = 1
    return config


def read_config_file(path: str | os.PathLike, previous: list | None = None,
                     ) -> list[model_server_config_pb2.ModelConfig]:
    """The models of a text ModelServerConfig (`--model_config_file`); `previous`: the models
    served now, when the file is re-read (checked_configs)."""
    try:
        config = text_format.Parse(Path(path).read_text(encoding="utf-8"),
                                   model_server_config_pb2.ModelServerConfig())
    except text_format.ParseError as error:
        raise ValueError(f"Invalid protobuf file: '{path}': {error}") from None
    try:
        models = checked_configs(config, previous)
    except ServingError as error:
        raise ValueError(f"{path}: {error.code.name}: {error.message}") from None
    if not models:
        raise ValueError(f"{path}: model_config_list has no models")
    return models


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def platform(model: model_server_config_pb2.ModelConfig) -> str:
    """A model's platform, with the deprecated model_type, as server_core.cc's GetPlatform."""
    if model.model_type != model_server_config_pb2.MODEL_TYPE_UNSPECIFIED:
        if model.model_platform:
            raise _invalid("Illegal setting both ModelServerConfig::model_type (deprecated) "
                           "and ModelServerConfig::model_platform.")
        if model.model_type != model_server_config_pb2.TENSORFLOW:
            raise _invalid(f"ModelServerConfig::model_type choice {model.model_type} not "
                           "supported.")
        return TENSORFLOW_PLATFORM
    if not model.model_platform:
        raise _invalid("Illegal setting neither ModelServerConfig::model_type (deprecated) "
                       "nor ModelServerConfig::model_platform.")
    return model.model_platform


def _is_relative(path: str) -> bool:
    """A base_path with no URI scheme that is not absolute (server_core.cc's
    UriIsRelativePath)."""
    return "://" not in path and not path.startswith("/")


def checked_configs(config: model_server_config_pb2.ModelServerConfig,
                    previous: list[model_server_config_pb2.ModelConfig] | None = None,
                    ) -> list[model_server_config_pb2.ModelConfig] | None:
    """The config's models, validated in ServerCore::ReloadConfig's order and with its codes
    and texts, with TF Serving's default policy (latest 1) filled in. `previous`: the models
    served now (None at startup). Returns None for an empty ModelServerConfig (no action)."""
    kind = config.WhichOneof("config")
    if previous is not None and kind == "custom_model_config":
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                           "Cannot transition to requested config. It is only legal to "
                           "transition from one ModelConfigList to another.")
    if kind is None:
        return None  # "Taking no action for empty config."
    if kind == "custom_model_config":
        raise _invalid("Missing custom_model_config_loader in ServerCore Options")
    models = [model_server_config_pb2.ModelConfig.FromString(m.SerializeToString())
              for m in config.model_config_list.config]
    names = set()
    for model in models:
        if model.name in names:
            raise _invalid(f"Illegal to list model {model.name} multiple times in config list")
        names.add(model.name)
    for model in models:
        if _is_relative(model.base_path):
            raise _invalid(f"Expected model {model.name} to have an absolute path or URI; got "
                           f"base_path()={model.base_path}")
    old_platforms = {m.name: platform(m) for m in previous or []}
    for model in models:
        new_platform = platform(model)
        old = old_platforms.get(model.name)
        if old is not None and old != new_platform:
            raise _invalid(f"Illegal to change a model's platform. For model {model.name} "
                           f"platform was {old} and new platform requested is {new_platform}")
    for model in models:
        if platform(model) != TENSORFLOW_PLATFORM:
            raise _invalid(f"Model {model.name} requests unsupported platform "
                           f"{platform(model)}")
        if not model.name:
            raise _invalid("ModelSpec has no name specified.")
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
