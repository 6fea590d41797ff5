"""One client against all the others (issue 23): each test is a finding of the hostile-client
review, sent to `namegen serve` on TF Serving's half_plus_two model, and what must hold. No
wall-clock bounds: a slow client is slow by a count of tiny sends, and each outcome is a
response (or a closed connection) awaited with a generous cap.
"""

from __future__ import annotations

import json
import socket
import threading

import grpc
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from tests.serving.conformance import half_plus_two
from tests.support.fuzzing import fuzz
from tests.support.serving_helpers import start_local_server

MODEL = "half"
METRICS = "/monitoring/prometheus/metrics"
MAX_ROWS = 16
MAX_BYTES = 1 << 16
CAP = 120.0  # seconds any single read may wait: generous, never reached when things work


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    half_plus_two.build(root / MODEL / "1")
    config = root / "models.config"
    config.write_text(f'model_config_list {{ config {{ name: "{MODEL}" base_path: '
                      f'"{root / MODEL}" model_platform: "tensorflow" }} }}')
    server = start_local_server(root / MODEL, config_file=config, prometheus_path=METRICS,
                                max_rows=MAX_ROWS, max_request_bytes=MAX_BYTES)
    yield server
    server.stop()


@pytest.fixture
def deadlines(local):
    """Short head and body deadlines, and a long per-read timeout (a trickle never trips it)."""
    rest = local.endpoints.rest
    saved = rest.read_timeout, getattr(rest, "header_timeout", None), \
        getattr(rest, "body_timeout", None)
    rest.read_timeout, rest.header_timeout, rest.body_timeout = 30.0, 0.5, 0.5
    yield rest
    rest.read_timeout, rest.header_timeout, rest.body_timeout = saved


def _connect(local) -> socket.socket:
    return socket.create_connection(("127.0.0.1", local.endpoints.rest_port), timeout=CAP)


def _read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _trickle(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Sends data one byte per 0.1 s until it is all sent, the server closes, or stop."""
    for byte in data:
        if stop.wait(0.1):
            return
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return


def _status_lines(raw: bytes) -> list[str]:
    return [line for line in raw.decode("latin-1").split("\r\n") if line.startswith("HTTP/1.")]


def _stub(local):
    channel = grpc.insecure_channel(local.grpc_target,
                                    options=[("grpc.max_send_message_length", 1 << 26)])
    return channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


# --- REST: deadlines ---------------------------------------------------------------------------
def test_a_request_head_trickled_byte_by_byte_gets_408_then_close(local, deadlines):
    """Each byte arrives well within the per-read timeout; the head's one deadline still ends
    it with a 408 and a closed connection (a slot is never held for as long as a client
    trickles)."""
    head = (f"GET /v1/models/{MODEL} HTTP/1.1\r\nHost: x\r\n" + "X-Pad: y\r\n" * 200).encode()
    stop = threading.Event()
    with _connect(local) as sock:
        sender = threading.Thread(target=_trickle, args=(sock, head, stop), daemon=True)
        sender.start()
        raw = _read_all(sock)
        stop.set()
        sender.join(CAP)
    assert _status_lines(raw)[:1] == ["HTTP/1.1 408 Request Timeout"], raw[:300]
    assert b"Connection: close" in raw and b"--rest-header-timeout" in raw


def test_a_request_body_trickled_byte_by_byte_gets_408_then_close(local, deadlines):
    body = json.dumps({"instances": [1.0] * 400}).encode()
    head = (f"POST /v1/models/{MODEL}:predict HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    stop = threading.Event()
    with _connect(local) as sock:
        sock.sendall(head)
        sender = threading.Thread(target=_trickle, args=(sock, body, stop), daemon=True)
        sender.start()
        raw = _read_all(sock)
        stop.set()
        sender.join(CAP)
    assert _status_lines(raw) == ["HTTP/1.1 408 Request Timeout"], raw[:300]
    assert b"--rest-body-timeout" in raw


# --- REST: keep-alive framing ------------------------------------------------------------------
SMUGGLED = b"GET /v1/models/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("method, path, extra", [
    ("PUT", f"/v1/models/{MODEL}", ""),
    ("DELETE", f"/v1/models/{MODEL}", ""),
    ("GET", f"/v1/models/{MODEL}", ""),
    ("GET", METRICS, ""),
    ("POST", "/not-v1", ""),
    ("POST", f"/v1/models/{MODEL}:predict", "Content-Length: 0\r\n"),  # two lengths
    ("POST", f"/v1/models/{MODEL}:predict", "Transfer-Encoding: chunked\r\n"),
])
def test_a_request_body_is_never_parsed_as_a_request(local, method, path, extra):
    """A whole GET sent as a body gets no response of its own: the server either consumes the
    declared body or closes. A final request then closes the conversation."""
    first = (f"{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {len(SMUGGLED)}"
             "\r\n\r\n").encode() + SMUGGLED
    last = f"GET /v1/models/{MODEL} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    with _connect(local) as sock:
        sock.sendall(first + last)
        raw = _read_all(sock)
    assert b"smuggled" not in raw, raw[:600]
    assert 1 <= len(_status_lines(raw)) <= 2, raw[:600]


def test_the_server_header_names_no_python_version(local):
    with _connect(local) as sock:
        sock.sendall(f"GET /v1/models/{MODEL} HTTP/1.1\r\nHost: x\r\nConnection: close"
                     "\r\n\r\n".encode())
        raw = _read_all(sock)
    server = [line for line in raw.decode("latin-1").split("\r\n") if line.startswith("Server:")]
    assert server and "python" not in server[0].lower(), server


# --- metrics ------------------------------------------------------------------------------------
def _rest(local, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    with _connect(local) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        raw = _read_all(sock)
    head, _, payload = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


def test_metrics_label_only_known_models_and_stay_small(local):
    """Unknown model names (long, many, over both protocols) count under one fixed label."""
    body = json.dumps({"instances": [1.0]}).encode()
    assert _rest(local, "POST", f"/v1/models/{MODEL}:predict", body)[0] == 200
    channel, stub = _stub(local)
    with channel:
        for n in range(40):
            name = f"unknown{n}-" + "z" * 2000
            assert _rest(local, "POST", f"/v1/models/{name}:predict", body)[0] == 404
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            with pytest.raises(grpc.RpcError):
                stub.Predict(request, timeout=CAP)
    status, page = _rest(local, "GET", METRICS)
    assert status == 200
    assert b"zzzz" not in page and b"unknown1" not in page
    assert f'model_name="{MODEL}"'.encode() in page
    assert len(page) < 200_000, len(page)  # one cell per known model, API and status


# --- URLs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ["/versions/{v}", "/versions/{v}/metadata",
                                   "/versions/{v}:predict", "/versions/{v}:classify"])
def test_any_integer_in_a_url_is_a_4xx(local, route):
    version = "9" * 5000
    method = "POST" if ":" in route else "GET"
    body = json.dumps({"instances": [1.0]}).encode() if method == "POST" else b""
    status, payload = _rest(local, method, f"/v1/models/{MODEL}" + route.format(v=version), body)
    assert 400 <= status < 500, payload[:300]
    assert b"ValueError" not in payload


# --- limits -------------------------------------------------------------------------------------
def _examples(count: int) -> list[dict]:
    return [{"x": float(i)} for i in range(count)]


@pytest.mark.parametrize("verb", ["classify", "regress"])
def test_rest_classify_and_regress_apply_the_row_limit(local, verb):
    signature = "classify_x_to_y" if verb == "classify" else "regress_x_to_y"
    for count, expected in ((MAX_ROWS, 200), (MAX_ROWS + 1, 400), (50_000, 400)):
        body = json.dumps({"signature_name": signature, "examples": _examples(count)}).encode()
        if len(body) > MAX_BYTES:
            local.core.limits.max_request_bytes = len(body)  # the row limit alone must refuse
        try:
            status, payload = _rest(local, "POST", f"/v1/models/{MODEL}:{verb}", body)
        finally:
            local.core.limits.max_request_bytes = MAX_BYTES
        assert status == expected, (count, payload[:300])
        if expected == 400:
            assert b"--max-rows" in payload


def _input(request, count: int, context_bytes: int = 0) -> None:
    from tensorflow.core.example import example_pb2

    if context_bytes:
        target = request.input.example_list_with_context
        target.context.features.feature["pad"].bytes_list.value.append(b"p" * context_bytes)
    else:
        target = request.input.example_list
    for i in range(count):
        example = example_pb2.Example()
        example.features.feature["x"].float_list.value.append(float(i))
        target.examples.add().CopyFrom(example)


def _grpc_infer(stub, rpc: str, count: int, context_bytes: int = 0):
    if rpc == "Classify":
        request = classification_pb2.ClassificationRequest()
        request.model_spec.name, request.model_spec.signature_name = MODEL, "classify_x_to_y"
    elif rpc == "Regress":
        request = regression_pb2.RegressionRequest()
        request.model_spec.name, request.model_spec.signature_name = MODEL, "regress_x_to_y"
    else:
        request = inference_pb2.MultiInferenceRequest()
        task = request.tasks.add()
        task.model_spec.name, task.model_spec.signature_name = MODEL, "regress_x_to_y"
        task.method_name = "tensorflow/serving/regress"
    _input(request, count, context_bytes)
    return getattr(stub, rpc)(request, timeout=CAP)


@pytest.mark.parametrize("rpc", ["Classify", "Regress", "MultiInference"])
def test_grpc_inference_applies_the_row_and_byte_limits(local, rpc):
    channel, stub = _stub(local)
    with channel:
        _grpc_infer(stub, rpc, MAX_ROWS)  # at the limit: served
        for count, context in ((MAX_ROWS + 1, 0), (MAX_ROWS, MAX_BYTES // 8)):
            with pytest.raises(grpc.RpcError) as error:
                _grpc_infer(stub, rpc, count, context)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()
            assert "--max-rows" in error.value.details() or \
                "--max-request-bytes" in error.value.details()


def _predict(name: str, proto) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs[name].CopyFrom(proto)
    return request


def test_a_huge_declared_tensor_is_refused_before_it_is_decoded(local, monkeypatch):
    """32 bytes declaring 30 million floats (120 MB once decoded): INVALID_ARGUMENT, and the
    tensor is never decoded; with every admission slot taken, no tensor is decoded either."""
    from serving.model_servers import grpc_services, server_core

    decoded = []
    real = server_core.tensors_from_protos

    def counting(protos):
        decoded.append(list(protos))
        return real(protos)

    monkeypatch.setattr(server_core, "tensors_from_protos", counting)
    monkeypatch.setattr(grpc_services, "tensors_from_protos", counting, raising=False)
    proto = predict_pb2.PredictRequest().inputs["x"]
    proto.dtype = types_pb2.DT_FLOAT
    proto.tensor_shape.dim.add(size=1)
    proto.tensor_shape.dim.add(size=30_000_000)
    proto.float_val.append(1.0)
    channel, stub = _stub(local)
    with channel:
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(_predict("x", proto), timeout=CAP)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "--max-request-bytes" in error.value.details()
        assert decoded == []
        small = predict_pb2.PredictRequest().inputs["x"]
        small.dtype = types_pb2.DT_FLOAT
        small.float_val.append(1.0)
        admission = local.core.admission
        taken = [admission._admitted.acquire(blocking=False)
                 for _ in range(admission.running + admission.queued)]
        try:
            with pytest.raises(grpc.RpcError) as error:
                stub.Predict(_predict("x", small), timeout=CAP)
        finally:
            for ok in taken:
                if ok:
                    admission._admitted.release()
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert decoded == []


DTYPES = sorted(v for k, v in types_pb2.DataType.items()
                if not k.endswith("_REF") and k != "DT_INVALID")


def _tensor(dtype: int, values: int, dims: list[int]):
    proto = predict_pb2.PredictRequest().inputs["any"]
    proto.dtype = dtype
    for size in dims:
        proto.tensor_shape.dim.add(size=size)
    if values:
        proto.tensor_content = bytes(range(values % 256)) * (values // 256 + 1)
    return proto


@pytest.mark.parametrize("name", ["x", "max_length", "temperature", "prefix", "name", "other"])
def test_any_dtype_of_any_input_is_never_internal(local, name):
    channel, stub = _stub(local)
    with channel:
        for dtype in DTYPES:
            for proto in (_tensor(dtype, 0, []), _tensor(dtype, 8, [2]),
                          _tensor(dtype, 0, [3, 0])):
                try:
                    stub.Predict(_predict(name, proto), timeout=CAP)
                except grpc.RpcError as error:
                    assert error.code() not in (grpc.StatusCode.INTERNAL,
                                                grpc.StatusCode.UNKNOWN), \
                        (types_pb2.DataType.Name(dtype), error.details())


def test_a_non_finite_max_length_is_invalid_argument(local):
    channel, stub = _stub(local)
    with channel:
        for value in (np.inf, -np.inf, np.nan, 1e300):
            proto = predict_pb2.PredictRequest().inputs["max_length"]
            proto.dtype = types_pb2.DT_DOUBLE
            proto.double_val.append(value)
            with pytest.raises(grpc.RpcError) as error:
                stub.Predict(_predict("max_length", proto), timeout=CAP)
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT, error.value.details()


# --- fuzzers: these shapes with random values (NAMEGEN_FUZZ_SEED=random; tests/support/fuzzing.py)
def test_fuzz_rest_urls_with_any_integer_never_get_a_5xx(local):
    @fuzz(60)
    @given(st.one_of(st.text("0123456789", min_size=1, max_size=40),
                     st.tuples(st.integers(20, 6000), st.sampled_from("0123456789"))
                     .map(lambda size_digit: "1" + size_digit[1] * size_digit[0])),
           st.sampled_from(["", "/metadata", ":predict", ":classify", ":regress"]),
           st.sampled_from(["versions", "labels"]))
    def check(number, tail, kind):
        method = "POST" if tail.startswith(":") else "GET"
        body = b'{"instances": [1.0]}' if method == "POST" else b""
        status, payload = _rest(local, method, f"/v1/models/{MODEL}/{kind}/{number}{tail}",
                                body)
        assert status < 500, payload[:300]

    check()


def test_fuzz_grpc_tensors_of_any_dtype_and_declared_shape_never_get_internal(local):
    channel, stub = _stub(local)

    @fuzz(80)
    @given(st.sampled_from(["x", "max_length", "temperature", "prefix", "zz"]),
           st.sampled_from(DTYPES),
           st.lists(st.integers(-2, 2**62), max_size=4),
           st.integers(0, 64))
    def check(name, dtype, dims, values):
        try:
            stub.Predict(_predict(name, _tensor(dtype, values, dims)), timeout=CAP)
        except grpc.RpcError as error:
            assert error.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), \
                (name, types_pb2.DataType.Name(dtype), dims, error.details())

    with channel:
        check()
