"""The serving subcommands: `namegen serve` and `namegen bench serve`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import serving
from data import encoding
from pipeline import configs
from serving.model_servers.limits import Limits

# The production batching parameters for real TF Serving, also the bench's default.
BATCHING_PARAMETERS = Path(serving.__file__).with_name("batching_parameters.txt")


def cmd_serve(args: argparse.Namespace) -> int:
    from serving.model_servers import server

    if not args.model_config_file and not args.model_base_path:
        args.model_base_path = os.path.join(configs.DEFAULT_SERVING_DIR, args.model_name)
    return server.serve(args)


def cmd_bench_serve(args: argparse.Namespace) -> int:
    from namegen.bench import serve as bench

    return bench.run(args)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--model-base-path",
                       help="folder holding numeric versions (default: <serving dir>/<name>)")
    where.add_argument("--model-config-file", "--model_config_file",
                       help="a text ModelServerConfig (models.config)")
    parser.add_argument("--model-name", default=encoding.MODEL_NAME)
    parser.add_argument("--port", type=int, default=8500, help="gRPC port (0: any free port)")
    parser.add_argument("--rest-api-port", type=int, default=8501,
                        help="REST port (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: local)")
    parser.add_argument("--no-ui", action="store_true",
                        help="do not serve the playground page at / (and /playground/versions) "
                        "on the REST port, e.g. for production-like runs")
    parser.add_argument("--poll-seconds", type=float, default=1.0,
                        help="file system poll period for new versions")
    parser.add_argument("--model-config-file-poll-wait-seconds",
                        "--model_config_file_poll_wait_seconds", type=float, default=0,
                        help="re-read --model-config-file this often and apply changes "
                        "(0: never, as in TF Serving)")
    parser.add_argument("--monitoring-config-file", "--monitoring_config_file",
                        help="a text MonitoringConfig; prometheus_config { enable: true } serves "
                        "metrics at its path (default /monitoring/prometheus/metrics)")
    parser.add_argument("--enable-model-warmup", action="store_true",
                        help="replay assets.extra/tf_serving_warmup_requests on load")
    parser.add_argument("--enable-batching", "--enable_batching", nargs="?", const=True,
                        default=False, type=_flag_value, metavar="BOOL",
                        help="merge concurrent Predict calls into batches, as TF Serving does "
                        "(docs/SERVING.md, 'Server-side batching')")
    parser.add_argument("--batching-parameters-file", "--batching_parameters_file",
                        help="a text BatchingParameters (max_batch_size, batch_timeout_micros, "
                        "...); needs --enable_batching; default: TF Serving's defaults")
    limits = Limits()
    parser.add_argument("--max-request-bytes", type=int, default=limits.max_request_bytes)
    parser.add_argument("--max-rows", type=int, default=limits.max_rows)
    parser.add_argument("--max-length", type=int, default=limits.max_length)
    parser.add_argument("--min-temperature", type=float, default=limits.min_temperature)
    parser.add_argument("--max-temperature", type=float, default=limits.max_temperature)
    parser.add_argument("--max-prefix-chars", type=int, default=limits.max_prefix_chars)
    parser.add_argument("--max-concurrent-requests", type=int, default=os.cpu_count() or 2,
                        help="inferences running at once")
    parser.add_argument("--max-queued-requests", type=int, default=256,
                        help="requests waiting for a slot before 429 / RESOURCE_EXHAUSTED")
    parser.add_argument("--max-connections", type=int, default=256)
    parser.add_argument("--read-timeout", type=float, default=30.0,
                        help="seconds a REST client may take to send a request")
    parser.add_argument("--drain-seconds", type=float, default=30.0,
                        help="on SIGTERM, how long in-flight requests may take")
    # Hostile clients and admin surface (issue 23).
    parser.add_argument("--rest-header-timeout", type=float, default=10.0,
                        help="seconds from a REST request's first byte to the end of its head "
                        "(else 408, then close)")
    parser.add_argument("--rest-body-timeout", type=float, default=30.0,
                        help="seconds from a REST request's head to the end of its declared "
                        "body (else 408, then close)")
    parser.add_argument("--allow-config-reload-rpc", "--allow_config_reload_rpc", nargs="?",
                        const=True, default=True, type=_flag_value, metavar="BOOL",
                        help="serve ModelService.HandleReloadConfigRequest (namegen's own flag; "
                        "TF Serving always serves it). The gRPC port is an admin surface: "
                        "keep it on loopback or behind a network policy")
    parser.add_argument("--allow-version-labels-for-unavailable-models",
                        "--allow_version_labels_for_unavailable_models", nargs="?", const=True,
                        default=False, type=_flag_value, metavar="BOOL",
                        help="a new or unchanged version label may name a version that is not "
                        "AVAILABLE (TF Serving's flag)")


def _flag_value(text: str) -> bool:
    """A TF Serving bool flag's value: --flag, --flag=true, --flag=false."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1")


def add_bench_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=str(configs.DEFAULT_SERVING_DIR),
                        help="a version folder, a model folder or a serving dir (newest version)")
    parser.add_argument("--clients", default="8",
                        help="concurrent clients, or a comma list (e.g. 8,64): a cell each")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each cell")
    parser.add_argument("--batch-sizes", default="1,32,256")
    parser.add_argument("--protocols", default="rest,grpc")
    parser.add_argument("--batching", choices=("off", "on", "both"), default="off",
                        help="server-side batching (--enable_batching) off, on, or each cell "
                        "with both (one server per mode)")
    parser.add_argument("--batching-parameters-file",
                        default=str(BATCHING_PARAMETERS),
                        help="the server's --batching_parameters_file when batching is on "
                        "(default: serving/batching_parameters.txt)")
    parser.add_argument("--client-timeout", type=float, default=120.0,
                        help="seconds a client waits for one answer before counting an error")
    parser.add_argument("--json", default="bench-serve.json", help="where to write the results")
    parser.add_argument("--server-arg", action="append",
                        help="extra `namegen serve` argument (repeatable), e.g. "
                        "--server-arg=--max-concurrent-requests=4")
