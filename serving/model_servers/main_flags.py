"""Every command-line flag of `tensorflow_model_server`, as data: name, type and default.

Re-expressed from TF Serving's own sources (tensorflow/serving at commit
94f2d6944f310069ebd527a52649fe3c001c38e3):
- tensorflow_serving/model_servers/main.cc: the `flag_list` of tensorflow::Flag (names, in order);
- tensorflow_serving/model_servers/server.h: `Server::Options`, the field each flag sets (types and
  defaults). `cpus` marks a default computed from the machine's CPU count.

`namegen serve` accepts the flags it implements in this spelling and refuses the others by name
(namegen/commands/serve.py); docs/SERVING.md has the table.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TfServingFlag:
    name: str
    type: str  # "int32", "int64", "float", "bool" or "string", as in server.h
    default: object  # server.h's default; "" for an empty string


CPUS = "cpus"  # NumSchedulableCPUs()

TF_SERVING_FLAGS: tuple[TfServingFlag, ...] = (
    TfServingFlag("port", "int32", 8500),
    TfServingFlag("grpc_socket_path", "string", ""),
    TfServingFlag("rest_api_port", "int32", 0),
    TfServingFlag("rest_api_num_threads", "int32", f"4 * {CPUS}"),
    TfServingFlag("rest_api_timeout_in_ms", "int32", 30000),
    TfServingFlag("rest_api_enable_cors_support", "bool", False),
    TfServingFlag("enable_batching", "bool", False),
    TfServingFlag("allow_version_labels_for_unavailable_models", "bool", False),
    TfServingFlag("batching_parameters_file", "string", ""),
    TfServingFlag("enable_per_model_batching_parameters", "bool", False),
    TfServingFlag("model_config_file", "string", ""),
    TfServingFlag("model_config_file_poll_wait_seconds", "int32", 0),
    TfServingFlag("model_name", "string", "default"),  # main.cc: (default "default")
    TfServingFlag("model_base_path", "string", ""),
    TfServingFlag("num_load_threads", "int32", 0),
    TfServingFlag("num_unload_threads", "int32", 0),
    TfServingFlag("max_num_load_retries", "int32", 5),
    TfServingFlag("load_retry_interval_micros", "int64", 60_000_000),
    TfServingFlag("file_system_poll_wait_seconds", "int32", 1),
    TfServingFlag("flush_filesystem_caches", "bool", True),
    TfServingFlag("tensorflow_session_parallelism", "int64", 0),
    TfServingFlag("tensorflow_session_config_file", "string", ""),
    TfServingFlag("tensorflow_intra_op_parallelism", "int64", 0),
    TfServingFlag("tensorflow_inter_op_parallelism", "int64", 0),
    TfServingFlag("use_alts_credentials", "bool", False),
    TfServingFlag("ssl_config_file", "string", ""),
    TfServingFlag("platform_config_file", "string", ""),
    TfServingFlag("per_process_gpu_memory_fraction", "float", 0.0),
    TfServingFlag("saved_model_tags", "string", ""),
    TfServingFlag("grpc_channel_arguments", "string", ""),
    TfServingFlag("grpc_max_threads", "int32", f"4 * {CPUS}"),
    TfServingFlag("enable_model_warmup", "bool", True),
    TfServingFlag("num_request_iterations_for_warmup", "int32", 0),
    TfServingFlag("version", "bool", False),
    TfServingFlag("monitoring_config_file", "string", ""),
    TfServingFlag("remove_unused_fields_from_bundle_metagraph", "bool", True),
    TfServingFlag("prefer_tflite_model", "bool", False),
    TfServingFlag("num_tflite_pools", "int32", CPUS),
    TfServingFlag("num_tflite_interpreters_per_pool", "int32", 1),
    TfServingFlag("enable_signature_method_name_check", "bool", False),
    TfServingFlag("xla_cpu_compilation_enabled", "bool", False),
    TfServingFlag("enable_profiler", "bool", True),
    TfServingFlag("thread_pool_factory_config_file", "string", ""),
)

BY_NAME = {flag.name: flag for flag in TF_SERVING_FLAGS}
