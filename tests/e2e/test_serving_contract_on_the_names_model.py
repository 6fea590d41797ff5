"""`namegen serve` on the names model: TF Serving's contract stated as rules, not goldens."""

from __future__ import annotations

import json
import socket
import threading

import grpc
import numpy as np
import pytest

from tests.support.serving_helpers import SCORE_REQUEST, http, serving_first_version, wait_for


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    with serving_first_version(tiny_model, tmp_path_factory.mktemp("contract") / "names") as local:
        yield local


# --- the names model, by rule ------------------------------------------------------------------
# Expectations come from the SavedModel itself (its SignatureDefs: names, dtypes, method names)
# and from TF Serving's documented mapping (g3doc/api_rest.md, http_rest_api_handler.cc), never
# from this server's captured output.
ROWS = 2
GENERATE = {"prefix": ["Ra", "Ra"], "temperature": [0.8, 0.8], "seed": [1, 2],
            "max_length": [32, 32], "top_k": [0, 0], "top_p": [1.0, 1.0], "min_length": [0, 0],
            "no_copy": [False, False]}
PY_TYPES = {"DT_STRING": str, "DT_FLOAT": float, "DT_DOUBLE": float, "DT_INT32": int,
            "DT_INT64": int, "DT_BOOL": bool}


@pytest.fixture(scope="module")
def signatures(tiny_model) -> dict:
    """The SavedModel's own SignatureDefs, read from saved_model.pb."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel.FromString((tiny_model / "saved_model.pb").read_bytes())
    return {k: v for k, v in model.meta_graphs[0].signature_def.items()
            if not k.startswith("__")}


def _output_types(signature) -> dict[str, type]:
    from tensorflow.core.framework import types_pb2

    return {name: PY_TYPES[types_pb2.DataType.Name(info.dtype)]
            for name, info in signature.outputs.items()}


def _row_shapes(signature) -> dict[str, list[int]]:
    """Each output's dimensions after the batch dimension (-1: any size)."""
    return {name: [d.size for d in info.tensor_shape.dim[1:]]
            for name, info in signature.outputs.items()}


def _fits(value, kind: type, dims: list[int]) -> bool:
    """A JSON value of one row: a scalar of the dtype's type, or nested lists of the shape."""
    if not dims:
        return type(value) is kind
    return (isinstance(value, list) and dims[0] in (-1, len(value))
            and all(_fits(item, kind, dims[1:]) for item in value))


def _rows(count: int) -> list[dict]:
    return [{name: values[0] for name, values in GENERATE.items()} for _ in range(count)]


def test_metadata_is_the_saved_models_signature_defs(server, signatures, tiny_model):
    """GET .../metadata (REST) and GetModelMetadata (gRPC) list exactly the SavedModel's
    SignatureDefs: same keys, method names, input and output names and dtypes. As TF Serving's
    get_model_metadata_impl.cc copies the whole signature_def map, `__saved_model_init_op`
    is listed too."""
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        prediction_service_pb2_grpc,
    )

    saved = saved_model_pb2.SavedModel.FromString((tiny_model / "saved_model.pb").read_bytes())
    every_key = set(saved.meta_graphs[0].signature_def)
    assert every_key == set(signatures) | {"__saved_model_init_op"}
    for path in ("/v1/models/names/metadata", "/v1/models/names/versions/1/metadata"):
        status, body = http("GET", server.rest + path)
        assert status == 200
        assert body["model_spec"] == {"name": "names", "version": "1", "signature_name": ""}
        served = body["metadata"]["signature_def"]["signature_def"]
        assert set(served) == every_key  # no signature more, none fewer
        for key, signature in signatures.items():
            expected = json_format.MessageToDict(signature, preserving_proto_field_name=True)
            assert served[key]["method_name"] == expected["method_name"]
            for side in ("inputs", "outputs"):
                assert {k: v["dtype"] for k, v in served[key][side].items()} == \
                    {k: v["dtype"] for k, v in expected[side].items()}
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "names"
    with grpc.insecure_channel(server.grpc_target) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(
            request, timeout=30)
    unpacked = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(unpacked)
    assert set(unpacked.signature_def) == every_key
    for key, signature in signatures.items():
        assert unpacked.signature_def[key] == signature


@pytest.mark.parametrize("body, key, rows", [
    ({"instances": _rows(ROWS)}, "predictions", ROWS),
    ({"signature_name": "serving_default", "inputs": GENERATE}, "outputs", ROWS),
    ({"signature_name": "score", "instances": ["Rex", {"b64": "QW5u"}]}, "predictions", 2),
    ({"signature_name": "score", "inputs": ["Rex", "Ann", "Bo"]}, "outputs", 3),
    ({"signature_name": "score", "inputs": {"name": ["Rex"]}}, "outputs", 1),
])
def test_rest_predict_shapes_follow_the_signature(server, signatures, body, key, rows):
    """Row format: a list of one object per row with every output; columnar: one list per
    output. Each value has the JSON type of its output's dtype, in lists nested as its shape
    (api_rest.md)."""
    status, reply = http("POST", server.rest + "/v1/models/names:predict",
                         json.dumps(body).encode())
    assert status == 200, reply
    signature = signatures[body.get("signature_name", "serving_default")]
    types, shapes = _output_types(signature), _row_shapes(signature)
    assert list(reply) == [key]
    if key == "predictions":
        assert isinstance(reply[key], list) and len(reply[key]) == rows
        for row in reply[key]:
            assert set(row) == set(types)
            assert all(_fits(row[name], kind, shapes[name]) for name, kind in types.items()), row
    else:
        assert set(reply[key]) == set(types)
        for name, kind in types.items():
            assert len(reply[key][name]) == rows
            assert all(_fits(value, kind, shapes[name]) for value in reply[key][name]), reply


def test_grpc_predict_follows_the_signature(server, signatures):
    """PredictResponse: one TensorProto per output with the signature's dtype and the batch as
    dimension 0; model_spec names the model, the version served and the signature."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.contract import generation_request

    for signature_name, inputs, rows in [
            ("serving_default", generation_request(3, seeds=[1, 2, 3], temperature=0.8), 3),
            ("score", {"name": tf.constant(["Rex", "Ann"])}, 2)]:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "names"
        request.model_spec.signature_name = signature_name
        for name, tensor in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(tensor))
        with grpc.insecure_channel(server.grpc_target) as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                request, timeout=30)
        expected = signatures[signature_name].outputs
        assert set(response.outputs) == set(expected)
        for name, proto in response.outputs.items():
            assert proto.dtype == expected[name].dtype
            assert [d.size for d in proto.tensor_shape.dim][:1] == [rows]
        assert (response.model_spec.name, response.model_spec.version.value,
                response.model_spec.signature_name) == ("names", 1, signature_name)


# (method, path, body, HTTP status, phrase). Status follows TF Serving's code mapping
# (NOT_FOUND 404, INVALID_ARGUMENT 400, ...); phrases are TF Serving's own texts
# (http_rest_api_handler.cc, json_tensor.cc, predict_util.cc) or this server's limit texts.
REST_RULES = [
    ("GET", "/v1/models/names", None, 200, None),
    ("GET", "/V1/Models/names", None, 200, None),  # routes are case-insensitive
    ("GET", "/v1/models/nope", None, 404, "Could not find any versions of model nope"),
    ("GET", "/v1/models/names/versions/9", None, 404, "Could not find version 9 of model names"),
    ("POST", "/v1/models/nope:predict", {"inputs": GENERATE}, 404,
     "Servable not found for request: Latest(nope)"),
    ("POST", "/v1/models/names/versions/9:predict", {"inputs": GENERATE}, 404,
     "Servable not found for request: Specific(names, 9)"),
    ("GET", "/v1/models/names/versions/9/metadata", None, 404,
     "Servable not found for request: Specific(names, 9)"),
    ("POST", "/v1/models/names/labels/canary:predict", {"inputs": GENERATE}, 400,
     "Unrecognized servable version label: canary"),
    ("GET", "/v1/models/names/versions/1/labels/stable", None, 400, "Malformed request"),
    ("GET", "/v1/models/names/bogus", None, 400, "Malformed request"),
    ("GET", "/etc/passwd", None, 404, "Not found"),
    ("GET", "/v1/models/../../etc/passwd", None, 400, "Malformed request"),
    ("GET", "/v1/models/names/versions/99999999999999999999", None, 400,
     "Failed to convert version"),
    ("POST", "/v1/models/names:predict", '{"instances": [1,', 400,
     "JSON Parse error: Invalid value."),
    ("POST", "/v1/models/names:predict", "[1, 2]", 400, "Is not object"),
    ("POST", "/v1/models/names:predict", {"signature_name": "nope", "inputs": GENERATE}, 400,
     'Serving signature name: "nope" not found in signature def'),
    ("POST", "/v1/models/names:predict", {"instances": _rows(1), "inputs": GENERATE}, 400,
     "expecting only one of 'inputs' or 'instances'"),
    ("POST", "/v1/models/names:predict", {"signature_name": "score"}, 400,
     "Missing 'inputs' or 'instances' key"),
    ("POST", "/v1/models/names:predict", {"instances": []}, 400, "No values in 'instances'"),
    ("POST", "/v1/models/names:predict", {"instances": ["Ra"]}, 400,
     "expecting list of objects as multiple input tensors"),
    ("POST", "/v1/models/names:predict", {"inputs": dict(GENERATE, temperature=["hot"] * 2)},
     400, 'JSON Value: "hot" Type: String is not of expected type: float'),
    ("POST", "/v1/models/names:predict", {"inputs": dict(GENERATE, seed=[1.5, 2])}, 400,
     "Type: Number is not of expected type: int64"),
    ("POST", "/v1/models/names:predict", {"signature_name": "score", "inputs": [{"b64": "%"}]},
     400, "Unable to base64 decode"),
    ("POST", "/v1/models/names:predict", {"inputs": dict(GENERATE, temperature=[50.0, 1.0])},
     400, "temperature must be between 0 and 5, got 50"),
    ("POST", "/v1/models/names:predict", {"inputs": dict(GENERATE, prefix=["Réß", "Ra"])}, 400,
     "prefix has characters outside the vocabulary"),
    ("POST", "/v1/models/names:classify", {"examples": [{"name": "Rex"}]}, 400,
     "Expected classification signature method_name to be tensorflow/serving/classify. Was: "
     "tensorflow/serving/predict"),
    ("POST", "/v1/models/names:regress", {"instances": []}, 400,
     "When method is regress, key 'examples' is expected and was not found"),
]


@pytest.mark.parametrize("method, path, body, status, phrase", REST_RULES,
                         ids=[f"{m} {p} {str(b)[:30]}" for m, p, b, *_ in REST_RULES])
def test_rest_status_mapping(server, method, path, body, status, phrase):
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    answer, reply = http(method, server.rest + path, None if data is None else data.encode())
    assert answer == status, reply
    if phrase:
        assert phrase in reply["error"]


def test_grpc_status_mapping(server):
    """The gRPC codes TF Serving gives for the same failures (NOT_FOUND, INVALID_ARGUMENT,
    FAILED_PRECONDITION for an unknown signature in predict_util.cc)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from serving.contract import generation_request

    def predict(**spec) -> tuple[str, str]:
        request = predict_pb2.PredictRequest()
        for key, value in spec.items():
            if key == "version":
                request.model_spec.version.value = value
            else:
                setattr(request.model_spec, key, value)
        for name, tensor in generation_request(2, seeds=[1, 2], temperature=0.8).items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(tensor))
        with grpc.insecure_channel(server.grpc_target) as channel:
            try:
                prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                    request, timeout=30)
                return "OK", ""
            except grpc.RpcError as error:
                return error.code().name, error.details()

    assert predict(name="names") == ("OK", "")
    assert predict(name="nope") == ("NOT_FOUND", "Servable not found for request: Latest(nope)")
    assert predict(name="names", version=9)[0] == "NOT_FOUND"
    assert predict(name="names", version_label="canary") == (
        "INVALID_ARGUMENT", "Unrecognized servable version label: canary")
    assert predict(name="names", signature_name="nope") == (
        "FAILED_PRECONDITION", 'Serving signature key "nope" not found.')
    assert predict()[0] == "INVALID_ARGUMENT"  # no model name


def test_same_outputs_as_the_saved_model(server, tiny_model):
    """Both protocols return exactly what tf.saved_model.load gives for the same seeds."""
    import tensorflow as tf

    from serving.client import Client
    from serving.contract import generation_request

    loaded = tf.saved_model.load(str(tiny_model))
    for prefix, temperature, extra in [("", 0.8, {}), ("Ra", 1.3, {"top_k": 5}),
                                       ("T", 0.0, {"min_length": 4, "no_copy": True})]:
        expected = loaded.signatures["serving_default"](
            **generation_request(6, seeds=list(range(40, 46)), prefix=prefix,
                                 temperature=temperature, **extra))
        for url in (server.rest, f"grpc://{server.grpc_target}"):
            rows = Client(url).generate(prefix, 6, temperature, 40, **extra)
            assert [r["name"] for r in rows] == [n.decode() for n in expected["name"].numpy()]
            assert [r["length"] for r in rows] == expected["length"].numpy().tolist()
            np.testing.assert_allclose([r["log_prob"] for r in rows],
                                       expected["log_prob"].numpy(), rtol=1e-6)
    names = ["Rex", "Ann", "Triceratops"]
    scored = loaded.signatures["score"](name=tf.constant(names))
    expected_nats = -float(scored["log_likelihood"].numpy().astype("float64").sum()) / int(
        scored["num_predictions"].numpy().sum())
    for url in (server.rest, f"grpc://{server.grpc_target}"):
        result = Client(url).score(names)
        assert result["names"] == 3 and result["predictions"] == sum(len(n) + 1 for n in names)
        assert result["nats_per_char"] == pytest.approx(expected_nats, rel=1e-6)


def _assert_healthy(server) -> None:
    status, body = http("POST", server.rest + "/v1/models/names:predict",
                        SCORE_REQUEST)
    assert status == 200 and len(body["outputs"]["log_likelihood"]) == 1


def test_oversized_requests_get_clear_400s(server):
    from serving.client import Client

    big_prefix = {"inputs": {"prefix": ["R" * 1_000_000], "temperature": [1.0], "seed": [1],
                             "max_length": [32], "top_k": [0], "top_p": [1.0],
                             "min_length": [0], "no_copy": [False]}}
    status, body = http("POST", server.rest + "/v1/models/names:predict",
                        json.dumps(big_prefix).encode())
    assert status == 400 and "prefix has 1000000 characters; the limit is 32" in body["error"]
    _assert_healthy(server)
    huge = Client(server.rest)
    with pytest.raises(Exception, match="over this server's limit of 1048576 bytes"):
        huge.generate("", 100_000, 1.0, 0)  # a 100k-row body is refused before parsing
    with pytest.raises(Exception, match="has 2000 rows; this server takes at most 1024"):
        huge.generate("", 2000, 1.0, 0)
    with pytest.raises(Exception, match="has 2000 rows"):
        Client(f"grpc://{server.grpc_target}").generate("", 2000, 1.0, 0)
    _assert_healthy(server)


def test_slow_and_broken_clients_do_not_block_others(server):
    port = server.endpoints.rest_port
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"GET /v1/models/na")
    # A client trickling its body a byte every 0.5 s (within the 2 s per-read timeout): a server
    # that handled one connection at a time would answer the healthy request only after the
    # slow body was complete, so it must be answered while the slow body is still unfinished.
    trickle = socket.create_connection(("127.0.0.1", port))
    trickle.sendall(b"POST /v1/models/names:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
    healthy_answered = threading.Event()
    body_sent: list[int] = []

    def send_slowly() -> None:
        sent = 0
        while sent < 100 and not healthy_answered.wait(0.5):
            try:
                trickle.sendall(b" ")
            except OSError:  # dropped by the server: the body is unfinished all the same
                break
            sent += 1
        body_sent.append(sent)

    sender = threading.Thread(target=send_slowly)
    sender.start()
    _assert_healthy(server)  # served while both connections hang
    healthy_answered.set()
    sender.join(timeout=120)
    assert body_sent and body_sent[0] < 100
    trickle.close()
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"POST /v1/models/names:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    slow.settimeout(120)  # a generous cap on waiting for the events below
    answer = b""
    while chunk := slow.recv(1024):
        answer += chunk
    # the body deadline (2 s in these tests): 408, then the connection closes
    assert answer.startswith(b"HTTP/1.1 408") and b"Connection: close" in answer, answer
    half.close()
    slow.close()
    garbage = socket.create_connection(("127.0.0.1", port))
    garbage.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
    garbage.settimeout(120)
    assert garbage.recv(1024).startswith(b"HTTP/1.")  # a 400 from the HTTP layer
    garbage.close()
    _assert_healthy(server)


def test_overload_answers_429_without_waiting(server):
    """1 running + 1 queued slot: with the running one held, one request waits, the next gets
    a 429 before the slot frees, and the waiting one succeeds once it does."""
    from serving.model_servers.limits import Admission

    saved, server.core.admission = server.core.admission, Admission(running=1, queued=1)
    url = server.rest + "/v1/models/names:predict"
    body = SCORE_REQUEST
    waiting: list = []
    try:
        with server.core.admission.slot():  # the one running request
            queued = threading.Thread(target=lambda: waiting.append(http("POST", url, body)))
            queued.start()
            assert wait_for(lambda: server.core.admission._admitted._value == 0, 10.0)
            status, reply = http("POST", url, body)  # answered while the slot is still held
            assert status == 429
            assert "at capacity" in reply["error"]
            assert waiting == []
        queued.join(timeout=30)
        assert waiting[0][0] == 200
    finally:
        server.core.admission = saved
    _assert_healthy(server)
