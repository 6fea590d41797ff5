"""`namegen serve`: TF Serving's REST and gRPC contract, served in-process from the model tree.

Routes, bodies, error texts and status codes follow tensorflow/serving (see
shared/docs/tf-serving-contract.md). On top: configurable request limits (clear 400s), a bounded
admission queue (429 / RESOURCE_EXHAUSTED when full) and a draining shutdown on SIGTERM.
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
from concurrent import futures
from typing import NoReturn

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from pipeline import configs
from serving import contract, json_tensor
from serving.errors import ServingError
from serving.limits import Admission, Limits
from serving.models import ModelManager, Servable, read_warmup_requests

log = logging.getLogger("namegen.serve")

MAX_WARMUP_RECORDS = 1000  # TF Serving's cap on a version's warmup file
_INT64_MAX = 2**63 - 1
_PREDICT_ROUTE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS_ROUTE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE)


# --- the server core shared by REST and gRPC ---------------------------------------------------
class ModelServer:
    """Looks up servables, applies limits and admission, and runs predictions."""

    def __init__(self, manager: ModelManager, limits: Limits | None = None,
                 max_concurrent: int = 2, max_queued: int = 32):
        self.manager = manager
        self.limits = limits or Limits()
        self.admission = Admission(max_concurrent, max_queued)
        self._inflight = 0
        self._inflight_lock = threading.Condition()
        self.draining = False

    @contextlib.contextmanager
    def tracked(self):
        """Counts a request as in flight, for draining."""
        with self._inflight_lock:
            self._inflight += 1
        try:
            yield
        finally:
            with self._inflight_lock:
                self._inflight -= 1
                self._inflight_lock.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self._inflight_lock:
            return self._inflight_lock.wait_for(lambda: self._inflight == 0, timeout)

    def predict(self, servable: Servable, signature_name: str, inputs: dict[str, np.ndarray],
                output_filter: list[str] | tuple = ()) -> dict[str, np.ndarray]:
        self.limits.check(inputs)
        with self.admission.slot():
            return servable.run(signature_name, inputs, output_filter)

    def metadata(self, servable: Servable,
                 fields: list[str]) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not fields:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               "GetModelMetadataRequest must specify at least one metadata_field")
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        for field in fields:
            if field != "signature_def":
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Metadata field {field} is not supported")
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in servable.signature_defs.items():
                signatures.signature_def[key].CopyFrom(signature)
            response.metadata["signature_def"].Pack(signatures)
        return response

    def warmup(self, servable: Servable) -> int:
        """Replays a version's warmup PredictLogs (load fails if one fails, as in TF Serving)."""
        records = read_warmup_requests(servable.path)
        if len(records) > MAX_WARMUP_RECORDS:
            raise ValueError(f"Number of warmup records exceeds the maximum "
                             f"({MAX_WARMUP_RECORDS}) at {servable.path}")
        for record in records:
            if record.WhichOneof("log_type") != "predict_log":
                raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                                   f"warmup {record.WhichOneof('log_type')} is not supported")
            request = record.predict_log.request
            servable.run(request.model_spec.signature_name, tensors_from_protos(request.inputs),
                         list(request.output_filter))
        return len(records)


def tensors_from_protos(protos) -> dict[str, np.ndarray]:
    try:
        return {name: tf.make_ndarray(proto) for name, proto in protos.items()}
    except (TypeError, ValueError) as error:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"bad TensorProto: {error}") from None


def proto_json(message) -> dict:
    return json_format.MessageToDict(message, preserving_proto_field_name=True,
                                     including_default_value_fields=True)


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
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        core = self.server.core
        with core.tracked():
            try:
                if core.draining:
                    self.close_connection = True
                    raise ServingError(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
                status, body = 200, self._route(method, self.path.split("?", 1)[0])
            except ServingError as error:
                status, body = error.http_status, {"error": error.message}
            except TimeoutError:
                self.close_connection = True
                return  # a client too slow to send its body: drop it
            except Exception as error:  # noqa: BLE001  a bug must not take the server down
                log.exception("REST %s %s failed", method, self.path)
                status, body = 500, {"error": f"{type(error).__name__}: {error}"}
            self._reply(status, body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """HTTP-level errors (bad request line, headers too long) as JSON, then close."""
        self.close_connection = True
        self.request_version = "HTTP/1.1"  # always answer with a status line, never HTTP/0.9
        if code == 501:  # a method with no do_* handler: TF Serving's 400, not a 5xx
            code, message = 400, f"Malformed request: {self.command} {self.path}"
        self._reply(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def _reply(self, status: int, body: dict) -> None:
        payload = json_tensor.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
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
            return self._predict(name, _version(version), label, verb.lower(), body)
        if status:
            name, version, label, metadata = status.groups()
            if not name:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   "Missing model name in request.")
            manager = self.server.core.manager
            if metadata:
                servable = manager.servable(name, _version(version), label)
                response = self.server.core.metadata(servable, ["signature_def"])
                return metadata_json(response)
            return proto_json(manager.status(name, _version(version), label))
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

    def _predict(self, name: str, version: int | None, label: str | None, verb: str,
                 body: bytes) -> dict:
        core = self.server.core
        document = json_tensor.parse_body(body)
        signature_name = json_tensor.signature_name(document)
        servable = core.manager.servable(name, version, label)
        if verb != "predict":
            if "examples" not in document:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                    f"JSON Value: {json_tensor.value_to_string(document)} When method is {verb}, "
                    "key 'examples' is expected and was not found"))
            method = servable.signature(signature_name).method_name
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                f"Expected {verb} signature method_name to be tensorflow/serving/{verb}. "
                f"Was: {method}"))
        inputs, form = json_tensor.request_tensors(document,
                                                   servable.input_dtypes(signature_name))
        outputs = core.predict(servable, signature_name, inputs)
        return json_tensor.response_body(outputs, form)


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

    def __init__(self, address: tuple[str, int], core: ModelServer, read_timeout: float,
                 max_connections: int):
        self.core, self.read_timeout = core, read_timeout
        self._connections = threading.BoundedSemaphore(max_connections)
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


# --- gRPC ---------------------------------------------------------------------------------------
def _spec_version(spec) -> tuple[int | None, str | None]:
    return (spec.version.value if spec.HasField("version") else None), (spec.version_label or None)


def _grpc_call(core: ModelServer, context, work):
    with core.tracked():
        try:
            return work()
        except ServingError as error:
            context.abort(error.code, error.message)
        except Exception as error:  # noqa: BLE001
            log.exception("gRPC call failed")
            context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata; Classify, Regress, MultiInference are UNIMPLEMENTED."""

    def __init__(self, core: ModelServer):
        self.core = core

    def Predict(self, request, context):  # noqa: N802
        def work():
            spec = request.model_spec
            servable = self.core.manager.servable(spec.name, *_spec_version(spec))
            outputs = self.core.predict(servable, spec.signature_name,
                                        tensors_from_protos(request.inputs),
                                        list(request.output_filter))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = spec.signature_name or contract.GENERATE_SIGNATURE
            for name, array in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(array))
            return response

        return _grpc_call(self.core, context, work)

    def GetModelMetadata(self, request, context):  # noqa: N802
        def work():
            spec = request.model_spec
            servable = self.core.manager.servable(spec.name, *_spec_version(spec))
            return self.core.metadata(servable, list(request.metadata_field))

        return _grpc_call(self.core, context, work)


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus; HandleReloadConfigRequest is UNIMPLEMENTED."""

    def __init__(self, core: ModelServer):
        self.core = core

    def GetModelStatus(self, request, context):  # noqa: N802
        spec = request.model_spec
        return _grpc_call(self.core, context,
                          lambda: self.core.manager.status(spec.name, *_spec_version(spec)))


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
          max_connections: int = 256) -> Endpoints:
    """Binds and serves REST (a thread) and gRPC; port 0 picks a free port."""
    workers = core.admission.running + core.admission.queued
    grpc_server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        maximum_concurrent_rpcs=workers,
        options=[("grpc.max_receive_message_length", core.limits.max_request_bytes),
                 ("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(core), grpc_server)
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelService(core), grpc_server)
    bound_grpc = grpc_server.add_insecure_port(f"{host}:{grpc_port}")
    if not bound_grpc:
        raise OSError(f"cannot bind gRPC to {host}:{grpc_port}")
    rest = RestServer((host, rest_port), core, read_timeout, max_connections)
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
    manager = ModelManager(model_configs_from(args), args.poll_seconds)
    core = ModelServer(manager, limits, args.max_concurrent_requests, args.max_queued_requests)
    if args.enable_model_warmup:
        manager.warmup_runner = core.warmup
    manager.start()
    for name, config in manager.configs.items():
        log.info("model %s from %s: versions %s available", name, config.base_path,
                 manager.available(name) or "none yet")
    endpoints = start(core, args.host, args.port, args.rest_api_port, args.read_timeout,
                      args.max_connections)
    print(f"namegen serve: REST on http://{args.host}:{endpoints.rest_port}  "
          f"gRPC on grpc://{args.host}:{endpoints.grpc_port}", flush=True)
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

