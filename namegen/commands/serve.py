"""The serving subcommands: `namegen serve` and `namegen bench serve`."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import serving
from data import encoding
from namegen import arguments
from namegen.errors import UserError
from pipeline import configs
from serving.model_servers import main_flags
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


@dataclasses.dataclass(frozen=True)
class ServeFlag:
    """One `namegen serve` flag. `name` is TF Serving's spelling where TF Serving has the flag
    (serving/model_servers/main_flags.py); the dashed spelling and `aliases` are accepted too."""

    name: str
    type: Callable[[str], object]  # arguments.flag_bool: a TF Serving bool flag
    default: object
    help: str
    aliases: tuple[str, ...] = ()



_LIMITS = Limits()
BOOL_TYPES = (arguments.flag_bool,)
# Each flag once; add a flag by adding a row. All are checked before TensorFlow is imported.
SERVE_FLAGS: tuple[ServeFlag, ...] = (
    ServeFlag("model_base_path", str, None, "folder holding numeric versions; a missing folder is "
              "polled until it appears, as TF Serving does (default: <serving dir>/<name>)"),
    ServeFlag("model_config_file", arguments.existing_file, None,
              "a text ModelServerConfig (models.config); replaces --model_name and "
              "--model_base_path"),
    ServeFlag("model_name", str, encoding.MODEL_NAME, "name clients use in /v1/models/<name>"),
    ServeFlag("port", arguments.port, 8500, "gRPC port (0: any free port)"),
    ServeFlag("rest_api_port", arguments.port, 8501, "REST port (0: any free port)"),
    ServeFlag("file_system_poll_wait_seconds", arguments.at_least(0, float), 1.0,
              "seconds between polls of the base paths for new versions",
              aliases=("--poll-seconds",)),
    ServeFlag("model_config_file_poll_wait_seconds", arguments.at_least(0, float), 0.0,
              "re-read --model_config_file this often and apply changes (0: never)"),
    ServeFlag("monitoring_config_file", arguments.existing_file, None,
              "a text MonitoringConfig; prometheus_config { enable: true } serves metrics at its "
              "path (default path /monitoring/prometheus/metrics)"),
    ServeFlag("enable_model_warmup", arguments.flag_bool, False,
              "replay assets.extra/tf_serving_warmup_requests on load (default false; TF "
              "Serving's default is true)"),
    ServeFlag("enable_batching", arguments.flag_bool, False,
              "merge concurrent Predict calls into batches (docs/SERVING.md; default false)"),
    ServeFlag("batching_parameters_file", arguments.existing_file, None,
              "a text BatchingParameters; needs --enable_batching (unset: TF Serving's defaults)"),
    ServeFlag("allow_version_labels_for_unavailable_models", arguments.flag_bool, False,
              "a new or unchanged version label may name a version that is not AVAILABLE"),
    ServeFlag("host", str, "127.0.0.1", "address to bind (TF Serving binds 0.0.0.0)"),
    ServeFlag("no_ui", arguments.flag_bool, False, "do not serve the playground page at / on "
              "the REST port, e.g. for production-like runs (default false)"),
    ServeFlag("max_request_bytes", arguments.at_least(1), _LIMITS.max_request_bytes,
              "largest request body accepted"),
    ServeFlag("max_rows", arguments.at_least(1), _LIMITS.max_rows, "most rows per request"),
    ServeFlag("max_length", arguments.at_least(1), _LIMITS.max_length,
              "largest max_length input accepted"),
    ServeFlag("min_temperature", arguments.at_least(0, float), _LIMITS.min_temperature,
              "lowest temperature input accepted"),
    ServeFlag("max_temperature", arguments.at_least(0, float), _LIMITS.max_temperature,
              "highest temperature input accepted"),
    ServeFlag("max_prefix_chars", arguments.at_least(0), _LIMITS.max_prefix_chars,
              "longest prefix or name input, in characters"),
    ServeFlag("max_concurrent_requests", arguments.at_least(1), os.cpu_count() or 2,
              "inferences running at once (default: the CPU count)"),
    ServeFlag("max_queued_requests", arguments.at_least(0), 256,
              "requests waiting for a slot before 429 / RESOURCE_EXHAUSTED"),
    ServeFlag("max_connections", arguments.at_least(1), 256, "open REST connections at once"),
    ServeFlag("read_timeout", arguments.at_least(0, float), 30.0,
              "seconds an idle REST keep-alive connection waits for its next request"),
    ServeFlag("rest_header_timeout", arguments.at_least(0, float), 10.0,
              "seconds from a REST request's first byte to the end of its head (else 408, "
              "then close)"),
    ServeFlag("rest_body_timeout", arguments.at_least(0, float), 30.0,
              "seconds from a REST request's head to the end of its declared body (else 408, "
              "then close)"),
    ServeFlag("allow_config_reload_rpc", arguments.flag_bool, True,
              "serve ModelService.HandleReloadConfigRequest (namegen's own flag; TF Serving "
              "always serves it). The gRPC port is an admin surface: keep it on loopback or "
              "behind a network policy"),
    ServeFlag("drain_seconds", arguments.at_least(0, float), 30.0,
              "on SIGTERM, how long in-flight requests may take"),
)


def option_strings(flag: ServeFlag) -> list[str]:
    """`--name`, then `--dashed-name` when it differs, then the aliases."""
    spellings = [f"--{flag.name}", f"--{flag.name.replace('_', '-')}", *flag.aliases]
    return list(dict.fromkeys(spellings))


class RefusedFlag(argparse.Action):
    """A TF Serving flag the stand-in does not implement: refused by name, never ignored."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        raise argparse.ArgumentError(self, REFUSED)


REFUSED = ("is a tensorflow_model_server flag that the namegen serve stand-in does not support; "
           "remove it (flag table: docs/SERVING.md)")


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    for flag in SERVE_FLAGS:
        shape = ({"nargs": "?", "const": True, "metavar": "BOOL"} if flag.type in BOOL_TYPES
                 else {"metavar": flag.name.upper()})
        parser.add_argument(*option_strings(flag), dest=flag.name, type=flag.type,
                            default=flag.default, help=flag.help, **shape)
    implemented = {flag.name for flag in SERVE_FLAGS}
    for tf_flag in main_flags.TF_SERVING_FLAGS:
        if tf_flag.name not in implemented:
            parser.add_argument(f"--{tf_flag.name}", action=RefusedFlag, nargs="?",
                                default=argparse.SUPPRESS, metavar="X",
                                help="refused: a TF Serving flag the stand-in does not implement")
    parser.set_defaults(validate=validate_serve)


def validate_serve(args: argparse.Namespace) -> None:
    """Checks between flags, before TensorFlow is imported."""
    if args.model_config_file and args.model_base_path:
        raise UserError("--model_config_file and --model_base_path exclude each other; "
                        "give one (the config file names the base paths)")
    if args.min_temperature > args.max_temperature:
        raise UserError(f"--min_temperature {args.min_temperature:g} is above "
                        f"--max_temperature {args.max_temperature:g}; lower it or raise the max")
    if args.port and args.port == args.rest_api_port:
        raise UserError(f"--rest_api_port {args.rest_api_port} is the same as --port; "
                        "give the REST API its own port")
    if args.batching_parameters_file and not args.enable_batching:
        raise UserError("server_options.batching_parameters_file is set without setting "
                        "server_options.enable_batching to true. (TF Serving's text; add "
                        "--enable_batching=true or drop the file)")


def add_bench_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(validate=arguments.paths_must_exist(
        "--model", fix="; pass a version, model or serving folder (namegen run writes one)"))
    parser.add_argument("--model", default=str(configs.DEFAULT_SERVING_DIR),
                        help="a version folder, a model folder or a serving dir (newest version)")
    parser.add_argument("--clients", default="8", type=arguments.int_list,
                        help="concurrent clients, or a comma list (e.g. 8,64): a cell each")
    parser.add_argument("--seconds", type=arguments.at_least(0, float), default=10.0,
                        help="duration of each cell")
    parser.add_argument("--batch-sizes", default="1,32,256", type=arguments.int_list,
                        help="names per request, a comma list: a cell each")
    parser.add_argument("--protocols", default="rest,grpc",
                        type=arguments.choice_list("rest", "grpc"), help="rest, grpc or both")
    parser.add_argument("--batching", choices=("off", "on", "both"), default="off",
                        help="server-side batching (--enable_batching) off, on, or each cell "
                        "with both (one server per mode)")
    parser.add_argument("--batching-parameters-file", type=arguments.existing_file,
                        default=str(BATCHING_PARAMETERS),
                        help="the server's --batching_parameters_file when batching is on "
                        "(default: serving/batching_parameters.txt)")
    parser.add_argument("--client-timeout", type=float, default=120.0,
                        help="seconds a client waits for one answer before counting an error")
    parser.add_argument("--json", default="bench-serve.json", help="where to write the results")
    parser.add_argument("--server-arg", action="append",
                        help="extra `namegen serve` argument (repeatable), e.g. "
                        "--server-arg=--max-concurrent-requests=4")
