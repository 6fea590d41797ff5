"""TF Serving's REST API: routes, bodies, error texts and status codes (docs/SERVING.md).

Follows model_servers/http_rest_api_handler.cc: /v1/models/... for status, metadata, predict,
classify and regress; request limits give clear 400s. The tensors' JSON encoding is in
json_tensor.py, Classify/Regress in inference.py.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import logging
import re
import socket
import time
import urllib.parse

import grpc
from tensorflow_serving.apis import get_model_metadata_pb2

from serving import compat, playground
from serving.errors import ServingError
from serving.model_servers import inference, json_tensor
from serving.model_servers.servable import DEFAULT_SIGNATURE

log = logging.getLogger("namegen.serve")

_INT64_MAX = 2**63 - 1
_CONTENT_LENGTH = re.compile(r"[0-9]{1,19}")
_PREDICT_ROUTE = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE)
_STATUS_ROUTE = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE)


def proto_json(message) -> dict:
    return compat.message_to_dict(message)


class DeadlineSocketReader(io.RawIOBase):
    """A connection's reads, bounded by one deadline for a whole part of the request (its head,
    its body) rather than by a timeout per read: a client trickling one byte at a time cannot
    hold the connection past the deadline. No deadline: each read waits up to `idle` seconds."""

    def __init__(self, sock: socket.socket, idle: float):
        self._sock, self.idle = sock, idle
        self.deadline: float | None = None
        self.expired = False  # a read hit the deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.deadline is None:
            self._sock.settimeout(self.idle)
        else:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.expired = True
                raise TimeoutError("request deadline passed")
            self._sock.settimeout(left)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            self.expired = self.deadline is not None
            raise


class RestHandler(http.server.BaseHTTPRequestHandler):
    """TF Serving's REST API (http_rest_api_handler.cc), JSON in and out."""

    protocol_version = "HTTP/1.1"
    server_version = "namegen-serve"
    sys_version = ""  # the Server header names no Python version
    server: http.server.ThreadingHTTPServer  # http_server.RestServer: .core, .ui, timeouts

    def setup(self) -> None:
        self.timeout = self.server.read_timeout
        super().setup()
        self._reader = DeadlineSocketReader(self.connection, self.server.read_timeout)
        self.rfile = io.BufferedReader(self._reader, 1 << 16)

    def version_string(self) -> str:
        return self.server_version

    def handle_one_request(self) -> None:
        """Waits (idle, --read-timeout) for a request's first byte, then gives its head one
        deadline; a head not complete in time gets 408 and the connection closes."""
        reader = self._reader
        reader.deadline, reader.expired = None, False
        try:
            if not self.rfile.peek(1):
                self.close_connection = True
                return
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        reader.deadline = time.monotonic() + self.server.header_timeout
        self._responded = False
        super().handle_one_request()
        if reader.expired and not self._responded:
            self.close_connection = True
            self._send_raw(408, {"error": "request head not received within "
                                 f"{self.server.header_timeout:g} s (--rest-header-timeout)"})

    def _send_raw(self, status: int, body: dict) -> None:
        """A whole response written directly (the request line may not have been parsed)."""
        payload = json_tensor.dumps(body)
        reason = self.responses.get(status, ("",))[0]
        with contextlib.suppress(OSError):
            self.connection.settimeout(self.server.read_timeout)
            self.connection.sendall(
                f"HTTP/1.1 {status} {reason}\r\nServer: {self.version_string()}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n".encode("ascii") + payload)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._responded = True
        self._reader.deadline = None  # writes: each waits up to --read-timeout
        with contextlib.suppress(OSError):
            self.connection.settimeout(self.server.read_timeout)
        super().send_response(code, message)

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (base class signature)
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:  # noqa: N802
        if self.server.ui and playground.serves("GET", self.path):  # the page at / (--no-ui)
            if self._discard_body():
                return playground.respond(self, self.server.core.manager)
            return
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
                if core.draining:  # (the body stays unread: the connection closes)
                    self.close_connection = True
                    raise ServingError(grpc.StatusCode.UNAVAILABLE, "server is shutting down")
                # every method reads its declared body: keep-alive never parses a body
                body = self._read_body()
                path = self.path.split("?", 1)[0]
                if method == "GET" and path == core.prometheus_path:
                    core.metrics.inflight.set(value=core.inflight)
                    self._reply_text(core.metrics.registry.page())
                    return
                status, body, code = 200, self._route(method, path, body), "OK"
            except ServingError as error:
                status, body, code = error.http_status, {"error": error.message}, error.code.name
            except TimeoutError:  # the body's deadline passed: 408, then close
                self.close_connection = True
                status, code = 408, "DEADLINE_EXCEEDED"
                body = {"error": f"request body not received within "
                                 f"{self.server.body_timeout:g} s (--rest-body-timeout)"}
            except ConnectionError:
                self.close_connection = True
                return  # the client left mid-body: no one to answer
            except RecursionError:  # belt and braces: no nesting may turn into a 5xx
                status, body, code = 400, {"error": "request nested too deeply"}, "INVALID_ARGUMENT"
            except Exception as error:  # noqa: BLE001  a bug must not take the server down
                log.exception("REST %s %s failed", method, self.path)
                status, body, code = 500, {"error": f"{type(error).__name__}: {error}"}, "INTERNAL"
            if self._api:
                core.record_request(self._model_name, self._api, "REST", code,
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

    def _route(self, method: str, path: str, body: bytes) -> dict:
        if not path.lower().startswith("/v1/"):
            raise ServingError(grpc.StatusCode.NOT_FOUND, f"Not found: {method} {path}")
        predict = _PREDICT_ROUTE.fullmatch(path) if method == "POST" else None
        status = _STATUS_ROUTE.fullmatch(path) if method == "GET" else None
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

    def _discard_body(self) -> bool:
        """Reads and drops the declared body (routes that take none); False after answering
        an error (the connection then closes)."""
        try:
            self._read_body()
            return True
        except ServingError as error:
            self._reply(error.http_status, {"error": error.message})
        except TimeoutError:
            self.close_connection = True
            self._reply(408, {"error": f"request body not received within "
                                       f"{self.server.body_timeout:g} s (--rest-body-timeout)"})
        except ConnectionError:
            self.close_connection = True
        return False

    def _read_body(self) -> bytes:
        """The declared body, whole, within --rest-body-timeout. A body that cannot be framed
        (chunked, a bad or repeated Content-Length) or is over the limit is refused and the
        connection closes, so no byte of it is ever read as the next request."""
        limit = self.server.core.limits.max_request_bytes
        if self.headers.get_all("Transfer-Encoding"):
            self.close_connection = True
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               "chunked request bodies are not supported; send Content-Length")
        declared = [v.strip() for v in self.headers.get_all("Content-Length") or []]
        if not declared:
            return b""
        if len(set(declared)) > 1 or not _CONTENT_LENGTH.fullmatch(declared[0]):
            self.close_connection = True
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"invalid Content-Length: {', '.join(declared)[:100]}")
        length = int(declared[0])
        if length > limit:
            self.close_connection = True  # the body stays unread
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                               f"request body of {length} bytes is over this server's limit "
                               f"of {limit} bytes (--max-request-bytes)")
        self._reader.deadline = time.monotonic() + self.server.body_timeout
        chunks, remaining = [], length
        while remaining:
            chunk = self.rfile.read1(min(remaining, 1 << 16))
            if not chunk:
                raise ConnectionError("client closed the connection mid-body")
            chunks.append(chunk)
            remaining -= len(chunk)
        self._reader.deadline = None
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
        request_input = inference.input_from_json(document, verb, core.limits.max_rows)
        core.limits.check_examples(*inference.input_size(request_input))
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
    """A URL's version number; any run of digits, however long, is a 400 past int64."""
    if text is None:
        return None
    if len(text.lstrip("0")) > 19 or int(text) > _INT64_MAX:
        raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                           f"Failed to convert version: {text} to numeric.")
    return int(text)


def metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> dict:
    """The REST metadata body: the model spec and the unpacked signature_def map."""
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    return {"model_spec": proto_json(response.model_spec),
            "metadata": {"signature_def": proto_json(signatures)}}
