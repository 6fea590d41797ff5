"""`namegen serve`: TF Serving's REST and gRPC contract, served in-process from the model tree.

Routes, bodies, error texts and status codes follow tensorflow/serving (docs/SERVING.md). On
top: configurable request limits (clear 400s), a bounded admission queue (429 /
RESOURCE_EXHAUSTED when full) and a draining shutdown on SIGTERM. The gRPC services are in
serving/grpc_api.py, Classify/Regress/MultiInference in serving/inference.py.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.server
import logging
import math
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from concurrent import futures
from typing import NoReturn

import grpc
from tensorflow_serving.apis import get_model_metadata_pb2

from pipeline import compat, configs
from serving import batching, grpc_api, inference, json_tensor, metrics, playground
from serving.core import ConfigFileWatcher, ModelServer
from serving.errors import ServingError
from serving.limits import Limits
from serving.models import DEFAULT_SIGNATURE, ModelManager

log = logging.getLogger("namegen.serve")

_INT64_MAX = 2**63 - 1
_PREDICT_ROUTE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS_ROUTE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE)


def proto_json(message) -> dict:
    return compat.message_to_dict(message)


# --- REST ---------------------------------------------------------------------------------------
class RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST API (http_rest_api_handler.cc), JSON in and out."""

    protocol_version = "HTTP/1.1"
    server_version = "namegen-serve"
    server: RestServer

    def setup(self) -> None:
        self.timeout = self.server.read_timeout
        super().setup()

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (base class signature)
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802
        if self.server.ui and playground.serves("GET", self.path):  # the page at / (--no-ui)
            return playground.respond(self, self.server.core.manager)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        core = self.server.core
        self._api, self._model_name = "", ""
        began = time.monotonic()
        with core.tracked():
            try:
                if core.draining:
                    self.close_connection = True
                    raise ServingError(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
                path = self.path.split("?", 1)[0]
                if method == "GET" and path == core.prometheus_path:
                    core.metrics.inflight.set(value=core.inflight)
                    self._reply_text(core.metrics.registry.page())
                    return
                status, body, code = 200, self._route(method, path), "OK"
            except ServingError as error:
                status, body, code = error.http_status, {"error": error.message}, error.code.name
            except TimeoutError:
                self.close_connection = True
                return  # a client too slow to send its body: drop it
            except RecursionError:  # belt and braces: no nesting may turn into a 5xx
                status, body, code = 400, {"error": "request nested too deeply"}, "INVALID_ARGUMENT"
            except Exception as error:  # noqa: BLE001  a bug must not take the server down
                log.exception("REST %s %s failed", method, self.path)
                status, body, code = 500, {"error": f"{type(error).__name__}: {error}"}, "INTERNAL"
            if self._api:
                core.metrics.record_request(self._model_name, self._api, "REST", code,
                                            time.monotonic() - began)
            self._reply(status, body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """HTTP-level errors (bad request line, headers too long) as JSON, then close."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # always answer with a status line, never HTTP/0.9
        if code == 501:  # a method with no do_* handler: TF Serving's 400, not a 5xx
            code, message = 400, f"Malformed request: {self.command} {self.path}"
        self._reply(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def _reply(self, status: int, body: dict) -> None:
        self._send(status, "application/json", json_tensor.dumps(body))

    def _reply_text(self, text: str) -> None:
        self._send(200, "text/plain; version=0.0.4; charset=utf-8", text.encode("utf-8"))

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def _route(self, method: str, path: str) -> dict:
        if not path.lower().startswith("/v1/"):
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Not found: {method} {path}")
        predict = _PREDICT_ROUTE.fullmatch(path) if method == "POST" else None
        status = _STATUS_ROUTE.fullmatch(path) if method == "GET" else None
        if method == "POST":
            body = self._read_body()  # read even on errors, so keep-alive stays in sync
        if predict:
            name, version, label, verb = predict.groups()
            self._api, self._model_name = verb.lower(), _unquote(name)
            if verb.lower() == "predict":
                return self._predict(_unquote(name), _version(version), _unquote(label), body)
            return self._classify_or_regress(_unquote(name), _version(version), _unquote(label),
                                             verb.lower(), body)
        if status:
            name, version, label, metadata = status.groups()
            if not name:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   "Missing model name in request.")
            manager = self.server.core.manager
            if metadata:
                self._api, self._model_name = "metadata", _unquote(name)
                servable = manager.servable(_unquote(name), _version(version), _unquote(label))
                response = self.server.core.metadata(servable, ["signature_def"])
                return metadata_json(response)
            # As TF Serving's REST status handler: a label is not resolved, every version of
            # the model is listed.
            version = None if label else _version(version)
            return proto_json(manager.status(_unquote(name), version))
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"Malformed request: {method} {path}")

    def _read_body(self) -> bytes:
        limit = self.server.core.limits.max_request_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               "chunked request bodies are not supported; send Content-Length")
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            self.close_connection = True  # the body stays unread
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"request body of {self.headers.get('Content-Length')} bytes is "
                               f"over this server's limit of {limit} bytes (--max-request-bytes)")
        deadline = time.monotonic() + self.server.read_timeout
        chunks, remaining = [], length
        while remaining:
            chunk = self.rfile.read1(min(remaining, 1 << 16))
            if not chunk:
                raise TimeoutError("client closed the connection mid-body")
            chunks.append(chunk)
            remaining -= len(chunk)
            if time.monotonic() > deadline:
                raise TimeoutError("request body took too long")
        return b"".join(chunks)

    def _predict(self, name: str, version: int | None, label: str | None, body: bytes) -> dict:
        core = self.server.core
        document = json_tensor.parse_body(body)
        signature_name = json_tensor.signature_name(document)
        servable = core.manager.servable(name, version, label)
        key = signature_name or DEFAULT_SIGNATURE
        if key not in servable.signature_defs:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f'Serving signature name: "{key}" not found in signature def')
        inputs, form = json_tensor.request_tensors(document,
                                                   servable.input_dtypes(signature_name))
        outputs = core.predict(servable, signature_name, inputs)
        return json_tensor.response_body(outputs, form)

    def _classify_or_regress(self, name: str, version: int | None, label: str | None,
                             verb: str, body: bytes) -> dict:
        core = self.server.core
        document = json_tensor.parse_body(body)
        signature_name = json_tensor.signature_name(document)
        request_input = inference.input_from_json(document, verb)
        servable = core.manager.servable(name, version, label)
        with core.admission.slot():
            if verb == "classify":
                return inference.classification_json(
                    inference.classify(servable, signature_name, request_input))
            return inference.regression_json(
                inference.regress(servable, signature_name, request_input))


def _unquote(text: str | None) -> str | None:
    """A percent-decoded path segment (model names and labels, as TF Serving decodes them)."""
    return None if text is None else urllib.parse.unquote(text)


def _version(text: str | None) -> int | None:
    if text is None:
        return None
    if int(text) > _INT64_MAX:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Failed to convert version: {text} to numeric.")
    return int(text)


def metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> dict:
    """The REST metadata body: the model spec and the unpacked signature_def map."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    return {"model_spec": proto_json(response.model_spec),
            "metadata": {"signature_def": proto_json(signatures)}}


class RestServer(http.server.ThreadingHTTPServer):
    """One thread per connection, capped; idle or slow connections time out."""

    daemon_threads = True
    block_on_close = False
    ui = True  # serve the playground page (serving/playground.py)

    def __init__(self, address: tuple[str, int], core: ModelServer, read_timeout: float,
                 max_connections: int):
        self.core, self.read_timeout = core, read_timeout
        self._connections = threading.BoundedSemaphore(max_connections)
        # The listen backlog: socketserver's default of 5 resets connections when dozens of
        # clients connect at once (64 clients in `namegen bench serve` got ECONNRESET).
        self.request_queue_size = max_connections
        super().__init__(address, RestHandler)

    def process_request(self, request, client_address) -> None:
        if not self._connections.acquire(blocking=False):
            with contextlib.suppress(OSError):
                body = json_tensor.dumps({"error": "too many open connections"})
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: "
                                b"application/json\r\nConnection: close\r\nContent-Length: "
                                + str(len(body)).encode() + b"\r\n\r\n" + body)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()


# --- running both -------------------------------------------------------------------------------
@dataclasses.dataclass
class Endpoints:
    rest: RestServer
    grpc_server: grpc.Server
    rest_port: int
    grpc_port: int
    host: str


def start(core: ModelServer, host: str = "127.0.0.1", grpc_port: int = 8500,
          rest_port: int = 8501, read_timeout: float = 30.0,
          max_connections: int = 256, ui: bool = True) -> Endpoints:
    """Binds and serves REST (a thread) and gRPC; port 0 picks a free port."""
    # Every admitted request, or with batching (no admission slots) as many calls as REST
    # takes connections: beyond the pool gRPC itself answers RESOURCE_EXHAUSTED.
    workers = max(core.admission.running + core.admission.queued, max_connections)
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        maximum_concurrent_rpcs=workers,
        options=[("grpc.max_receive_message_length", core.limits.max_request_bytes),
                 ("grpc.so_reuseport", 0)])
    grpc_api.add_services(core, grpc_server)
    bound_grpc = grpc_server.add_insecure_port(f"{host}:{grpc_port}")
    if not bound_grpc:
        raise OSError(f"cannot bind gRPC to {host}:{grpc_port}")
    rest = RestServer((host, rest_port), core, read_timeout, max_connections)
    rest.ui = ui
    grpc_server.start()
    threading.Thread(target=rest.serve_forever, name="rest", daemon=True).start()
    return Endpoints(rest, grpc_server, rest.server_address[1], bound_grpc, host)


def drain(core: ModelServer, endpoints: Endpoints, grace: float = 30.0) -> bool:
    """Stops taking requests, lets in-flight ones finish (up to `grace` s); True if all did."""
    core.draining = True
    endpoints.rest.shutdown()
    endpoints.rest.server_close()
    stopped = endpoints.grpc_server.stop(grace)
    idle = core.wait_idle(grace)
    stopped.wait(grace)
    if core.batcher:
        core.batcher.stop(grace)
    core.manager.stop()
    return idle


# --- the command --------------------------------------------------------------------------------
def model_configs_from(args: argparse.Namespace) -> list:
    from serving import models

    if args.model_config_file:
        return models.read_config_file(args.model_config_file)
    base = args.model_base_path or os.path.join(configs.DEFAULT_SERVING_DIR, args.model_name)
    return [models.single_model_config(args.model_name, base)]


def serve(args: argparse.Namespace) -> NoReturn:
    """Runs until SIGTERM/SIGINT, then drains and exits 0."""
    logging.basicConfig(level=logging.INFO, format="namegen serve: %(message)s", stream=sys.stderr)
    if not (math.isfinite(args.min_temperature) and args.min_temperature <= args.max_temperature):
        raise ValueError("--min-temperature must be finite and <= --max-temperature")
    limits = Limits(args.max_request_bytes, args.max_rows, args.max_length,
                    args.min_temperature, args.max_temperature, args.max_prefix_chars)
    batching_parameters = batching.parameters_from_flags(args.enable_batching,
                                                         args.batching_parameters_file)
    manager = ModelManager(model_configs_from(args), args.poll_seconds)
    core = ModelServer(manager, limits, args.max_concurrent_requests, args.max_queued_requests,
                       prometheus_path=metrics.prometheus_path(args.monitoring_config_file),
                       batching=batching_parameters)
    if batching_parameters:
        log.info("server-side batching on: %s", batching_parameters)
    if args.enable_model_warmup:
        manager.warmup_runner = core.warmup
    manager.start()
    if args.model_config_file and args.model_config_file_poll_wait_seconds > 0:
        ConfigFileWatcher(core, args.model_config_file,
                          args.model_config_file_poll_wait_seconds).start()
    for name, config in manager.configs.items():
        log.info("model %s from %s: versions %s available", name, config.base_path,
                 manager.available(name) or "none yet")
    endpoints = start(core, args.host, args.port, args.rest_api_port, args.read_timeout,
                      args.max_connections, ui=not args.no_ui)
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
    # Everything is drained and flushed; TensorFlow's and gRPC's native threads can abort the
    # interpreter's own teardown (SIGABRT), so the process leaves without it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

