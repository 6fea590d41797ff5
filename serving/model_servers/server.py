"""`namegen serve`: builds the server from its flags, runs it, drains it on SIGTERM.

Follows TF Serving's model_servers/main.cc (flags) and server.cc (BuildAndStart: model config,
batching, monitoring, warmup, then the gRPC and REST listeners). The flags themselves are
declared in namegen/commands/serve.py (which fills in the default model base path); TF
Serving's own list is main_flags.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import NoReturn

from serving.model_servers import batching_session, metrics
from serving.model_servers.http_server import drain, start
from serving.model_servers.limits import Limits
from serving.model_servers.manager import ModelManager
from serving.model_servers.server_core import ConfigFileWatcher, ModelServer

log = logging.getLogger("namegen.serve")


def model_configs_from(args: argparse.Namespace) -> list:
    from serving.model_servers import model_config as models

    if args.model_config_file:
        return models.read_config_file(args.model_config_file)
    return [models.single_model_config(args.model_name, args.model_base_path)]


def serve(args: argparse.Namespace) -> NoReturn:
    """Runs until SIGTERM/SIGINT, then drains and exits 0."""
    logging.basicConfig(level=logging.INFO, format="namegen serve: %(message)s", stream=sys.stderr)
    limits = Limits(args.max_request_bytes, args.max_rows, args.max_length,
                    args.min_temperature, args.max_temperature, args.max_prefix_chars)
    batching_parameters = batching_session.parameters_from_flags(args.enable_batching,
                                                         args.batching_parameters_file)
    manager = ModelManager(model_configs_from(args), args.file_system_poll_wait_seconds)
    core = ModelServer(manager, limits, args.max_concurrent_requests, args.max_queued_requests,
                       prometheus_path=metrics.prometheus_path(args.monitoring_config_file),
                       batching=batching_parameters,
                       allow_unavailable_labels=args.allow_version_labels_for_unavailable_models)
    if batching_parameters:
        log.info("server-side batching on: %s", batching_parameters)
    if args.enable_model_warmup:
        manager.warmup_runner = core.warmup
    manager.start()
    problem = core.startup_problem()
    if problem:  # as TF Serving: an orchestrator sees the failure and restarts or alerts
        log.error("Failed to start server. Error: %s", problem)
        _exit(1)
    if args.model_config_file and args.model_config_file_poll_wait_seconds > 0:
        ConfigFileWatcher(core, args.model_config_file,
                          args.model_config_file_poll_wait_seconds).start()
    for name, config in manager.configs.items():
        log.info("model %s from %s: versions %s available", name, config.base_path,
                 manager.available(name) or ("none: the base path does not exist"
                                             if manager.missing_base_path(name) else "none yet"))
    endpoints = start(core, args.host, args.port, args.rest_api_port, args.read_timeout,
                      args.max_connections, ui=not args.no_ui,
                      header_timeout=args.rest_header_timeout,
                      body_timeout=args.rest_body_timeout,
                      allow_reload=args.allow_config_reload_rpc)
    print(f"namegen serve: REST on http://{args.host}:{endpoints.rest_port}  "
          f"gRPC on grpc://{args.host}:{endpoints.grpc_port}", flush=True)
    if core.prometheus_path:
        log.info("Prometheus metrics on http://%s:%d%s", args.host, endpoints.rest_port,
                 core.prometheus_path)
    if not args.no_ui:
        print(f"namegen serve: playground on http://{args.host}:{endpoints.rest_port}/",
              flush=True)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(3600):
        pass
    log.info("draining in-flight requests (up to %gs)", args.drain_seconds)
    drained = drain(core, endpoints, args.drain_seconds)
    log.info("stopped%s", "" if drained else " (some requests were still running)")
    _exit(0)


def _exit(code: int) -> NoReturn:
    """Flushes and leaves: TensorFlow's and gRPC's native threads can abort the interpreter's
    own teardown (SIGABRT), so the process leaves without it."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
