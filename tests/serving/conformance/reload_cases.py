"""TF Serving's config validation on reload and at startup, as data.

Sources (tensorflow/serving):
- tensorflow_serving/model_servers/server_core.cc, the version with UriIsRelativePath and
  UpdateModelVersionLabelMap (ValidateModelConfigList, GetPlatform, ValidateNoModelsChange-
  Platforms, ReloadConfig, CreateStoragePathRoutes). The code index's listed commit
  1697e743b5a001d0f79274d94d2d8d570a09865b predates those two; the texts below are from the
  newer stored version (index id 1520596408, commit not given by the index).
- tensorflow_serving/model_servers/server_core_test.cc at
  028b9319c7236381efc36bbb217fa689a3552515: IllegalReconfigurationToCustomConfig,
  IllegalConfigModelTypeAndPlatformSet, DeprecatedModelTypeConfig, DuplicateModelNameInConfig,
  UnknownModelPlatform, ErroringModel ("Some models did not become available"; newer
  server_core.cc writes "N model(s) did not become available").
- model_service_impl.cc: HandleReloadConfigRequest answers in the response's status.

Each case reloads a server that serves model "a" (platform tensorflow, version 1 on disk) with
`config` (a text ModelServerConfig; {a} and {b} are absolute base paths) and expects `code`
with `message` in the response status. Refused configs leave the served models as they were.
"""

from __future__ import annotations

import dataclasses

SERVER_CORE = "server_core.cc:"
SERVER_CORE_TEST = "server_core_test.cc:ServerCoreTest."


@dataclasses.dataclass(frozen=True)
class ReloadCase:
    source: str
    config: str
    code: str = "OK"
    message: str = ""


def _model(name: str, base: str, extra: str = 'model_platform: "tensorflow"') -> str:
    return f'config {{ name: "{name}" base_path: "{base}" {extra} }}'


def _list(*models: str) -> str:
    return "model_config_list { " + " ".join(models) + " }"


RELOAD_CASES = [
    ReloadCase(SERVER_CORE + "ValidateModelConfigList (absolute base paths)",
               _list(_model("a", "relative/a")), "INVALID_ARGUMENT",
               "Expected model a to have an absolute path or URI; got base_path()=relative/a"),
    ReloadCase(SERVER_CORE_TEST + "DuplicateModelNameInConfig",
               _list(_model("a", "{a}"), _model("a", "{b}")), "INVALID_ARGUMENT",
               "Illegal to list model a multiple times in config list"),
    ReloadCase(SERVER_CORE + "GetPlatform (neither)",
               _list(_model("a", "{a}", extra="")), "INVALID_ARGUMENT",
               "Illegal setting neither ModelServerConfig::model_type (deprecated) nor "
               "ModelServerConfig::model_platform."),
    ReloadCase(SERVER_CORE_TEST + "IllegalConfigModelTypeAndPlatformSet",
               _list(_model("a", "{a}", 'model_platform: "tensorflow" model_type: TENSORFLOW')),
               "INVALID_ARGUMENT",
               "Illegal setting both ModelServerConfig::model_type (deprecated) and "
               "ModelServerConfig::model_platform."),
    ReloadCase(SERVER_CORE + "ValidateNoModelsChangePlatforms",
               _list(_model("a", "{a}", 'model_platform: "other"')), "INVALID_ARGUMENT",
               "Illegal to change a model's platform. For model a platform was tensorflow and "
               "new platform requested is other"),
    ReloadCase(SERVER_CORE_TEST + "UnknownModelPlatform",
               _list(_model("a", "{a}"), _model("b", "{b}", 'model_platform: "other"')),
               "INVALID_ARGUMENT", "Model b requests unsupported platform other"),
    ReloadCase(SERVER_CORE_TEST + "IllegalReconfigurationToCustomConfig",
               "custom_model_config { }", "FAILED_PRECONDITION",
               "Cannot transition to requested config. It is only legal to transition from "
               "one ModelConfigList to another."),
    ReloadCase(SERVER_CORE + "UpdateModelVersionLabelMap",
               _list(_model("a", "{a}", 'model_platform: "tensorflow" '
                                        'version_labels { key: "stable" value: 7 }')),
               "FAILED_PRECONDITION",
               "Request to assign label to version 7 of model a, which is not currently "
               "available for inference"),
    ReloadCase(SERVER_CORE + "ReloadConfig (CONFIG_NOT_SET: no action)", ""),
    ReloadCase(SERVER_CORE_TEST + "DeprecatedModelTypeConfig",
               _list(_model("a", "{a}", "model_type: TENSORFLOW"))),
]

# Startup configs that TF Serving refuses (main.cc exits with "Failed to start server"):
# {good} is a model folder with a loadable version 1, {corrupt} one whose only version does not
# load. Each must make `namegen serve` exit non-zero.
STARTUP_FAILURES = [
    (SERVER_CORE_TEST + "ErroringModel", _list(_model("a", "{corrupt}")),
     "did not become available"),
    (SERVER_CORE + "UpdateModelVersionLabelMap",
     _list(_model("a", "{good}", 'model_platform: "tensorflow" '
                                 'version_labels { key: "stable" value: 9 }')),
     "Request to assign label to version 9 of model a"),
    (SERVER_CORE + "ValidateModelConfigList (absolute base paths)",
     _list(_model("a", "relative/a")), "to have an absolute path or URI"),
]
