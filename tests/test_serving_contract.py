"""`namegen serve` against TF Serving's contract: goldens for every route, format and error."""

from __future__ import annotations

import json
import socket
import threading
import time

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from tests.serving_helpers import (
    GOLDEN_DIR,
    UPDATE_GOLDENS,
    http,
    matches,
    placeholders,
    serve_first_version,
    wait_for,
)


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("contract") / "names"
    local = serve_first_version(tiny_model, base)
    yield local
    local.stop()


def _mask(response: dict) -> dict:
    """Model-dependent parts become type placeholders: predicted values, graph tensor names."""
    masked = json.loads(json.dumps(response))
    for key in ("predictions", "outputs"):
        if key not in masked:
            continue
        tensors = masked[key]
        if isinstance(tensors, dict) and all(isinstance(t, dict) and "dtype" in t
                                             for t in tensors.values()):  # gRPC: keep dtypes
            for tensor in tensors.values():
                tensor["values"] = placeholders(tensor["values"])
        else:
            masked[key] = placeholders(tensors)
    signatures = masked.get("metadata", {}).get("signature_def", {}).get("signature_def", {})
    for signature in signatures.values():
        for infos in (signature.get("inputs", {}), signature.get("outputs", {})):
            for info in infos.values():
                info["name"] = "<str>"
    return masked


def _check_golden(filename: str, cases: list[dict], actual: list[dict]) -> None:
    if UPDATE_GOLDENS:
        for case, result in zip(cases, actual):
            case["expected"] = dict(result, response=_mask(result["response"])) \
                if "response" in result else result
        (GOLDEN_DIR / filename).write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n",
                                           encoding="utf-8")
        return
    for case, result in zip(cases, actual):
        assert "expected" in case, f"{filename}: {case['name']} has no golden"
        matches(case["expected"], result, where=case["name"])


def test_rest_goldens(server):
    cases = json.loads((GOLDEN_DIR / "rest.json").read_text(encoding="utf-8"))
    actual = []
    for case in cases:
        body = case["body"]
        data = None if body is None else (body if isinstance(body, str)
                                          else json.dumps(body)).encode("utf-8")
        status, response = http(case["method"], server.rest + case["path"], data)
        actual.append({"status": status, "response": response})
    _check_golden("rest.json", cases, actual)


def _grpc_call(channel, method: str, request_json: dict) -> dict:
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        get_model_status_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
    )

    stub, request_type = {
        "Predict": (prediction_service_pb2_grpc.PredictionServiceStub,
                    predict_pb2.PredictRequest),
        "GetModelMetadata": (prediction_service_pb2_grpc.PredictionServiceStub,
                             get_model_metadata_pb2.GetModelMetadataRequest),
        "GetModelStatus": (model_service_pb2_grpc.ModelServiceStub,
                           get_model_status_pb2.GetModelStatusRequest),
    }[method]
    request = json_format.ParseDict(request_json, request_type())
    try:
        response = getattr(stub(channel), method)(request, timeout=30)
    except grpc.RpcError as error:
        return {"code": error.code().name, "details": error.details()}
    if method == "GetModelMetadata":
        from serving.server import metadata_json

        return {"code": "OK", "response": metadata_json(response)}
    body = json_format.MessageToDict(response, preserving_proto_field_name=True)
    if method == "Predict":  # values are the model's; keep dtypes and shapes
        import tensorflow as tf

        body["outputs"] = {
            name: {"dtype": tf.dtypes.as_dtype(proto.dtype).name,
                   "values": [v.decode() if isinstance(v, bytes) else v
                              for v in tf.make_ndarray(proto).tolist()]}
            for name, proto in response.outputs.items()}
    return {"code": "OK", "response": body}


def test_grpc_goldens(server):
    cases = json.loads((GOLDEN_DIR / "grpc.json").read_text(encoding="utf-8"))
    with grpc.insecure_channel(server.grpc_target) as channel:
        actual = [_grpc_call(channel, case["method"], case["request"]) for case in cases]
    _check_golden("grpc.json", cases, actual)


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
                        json.dumps({"signature_name": "score", "inputs": ["Rex"]}).encode())
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
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"POST /v1/models/names:predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"GET /v1/models/na")
    began = time.monotonic()
    _assert_healthy(server)  # served while both connections hang
    assert time.monotonic() - began < 5
    slow.settimeout(10)
    assert slow.recv(1024) == b""  # dropped after the read timeout (2 s in these tests)
    half.close()
    slow.close()
    garbage = socket.create_connection(("127.0.0.1", port))
    garbage.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
    garbage.settimeout(10)
    assert garbage.recv(1024).startswith(b"HTTP/1.")  # a 400 from the HTTP layer
    garbage.close()
    _assert_healthy(server)


def test_overload_answers_429_quickly(server):
    """1 running + 1 queued slot: with the running one held, one request waits, the next gets
    an immediate 429, and the waiting one succeeds once the slot frees."""
    from serving.limits import Admission

    saved, server.core.admission = server.core.admission, Admission(running=1, queued=1)
    url = server.rest + "/v1/models/names:predict"
    body = json.dumps({"signature_name": "score", "inputs": ["Rex"]}).encode()
    waiting: list = []
    try:
        with server.core.admission.slot():  # the one running request
            queued = threading.Thread(target=lambda: waiting.append(http("POST", url, body)))
            queued.start()
            assert wait_for(lambda: server.core.admission._admitted._value == 0, 10.0)
            began = time.monotonic()
            status, reply = http("POST", url, body)
            assert (status, time.monotonic() - began < 1.0) == (429, True)
            assert "at capacity" in reply["error"]
            assert waiting == []
        queued.join(timeout=30)
        assert waiting[0][0] == 200
    finally:
        server.core.admission = saved
    _assert_healthy(server)
