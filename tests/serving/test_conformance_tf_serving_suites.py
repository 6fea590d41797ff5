"""`namegen serve` on TF Serving's own test suites (tests/serving/conformance/*_cases.py).

Every case is a fact from a tensorflow/serving test (it names the test), replayed on models
built the way TF Serving's test models are built, in zero-padded version folders (00000123/).
Run `pytest tests/serving/test_conformance_tf_serving_suites.py -q -rA | grep -c PASSED` for the
counts in docs/SERVING.md.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request

import numpy as np
import pytest
from google.protobuf import text_format

from tests.serving.conformance import (
    fake_classifier,
    grpc_cases,
    half_plus_two,
    json_tensor_cases,
    prometheus_cases,
    rest_cases,
)
from tests.support.serving_helpers import start_local_server

METRICS_PATH = "/monitoring/prometheus/metrics"


def _model_config(name: str, base, policy: str, labels: dict | None = None) -> str:
    text = (f'config {{ name: "{name}" base_path: "{base}" model_platform: "tensorflow" '
            f"model_version_policy {{ {policy} }}")
    for key, value in (labels or {}).items():
        text += f' version_labels {{ key: "{key}" value: {value} }}'
    return text + " }"


@pytest.fixture(scope="module")
def conformance_server(tmp_path_factory):
    """The models of TF Serving's tests, served from one models.config."""
    root = tmp_path_factory.mktemp("conformance")
    two = half_plus_two.build_two_versions(root / "half_plus_two_2_versions")
    half_plus_two.build(root / "half_plus_two" / "00000123")
    half_plus_two.build(root / "half_plus_three" / "00000123", b=3.0)
    fake_classifier.build(root / "fake_classifier" / "00000001")
    fake_classifier.build_regressor(root / "fake_regressor" / "00000001")
    config = root / "models.config"
    config.write_text("model_config_list { " + " ".join([
        _model_config(rest_cases.MODEL, two, "specific { versions: 123 }",
                      {rest_cases.LABEL: 123}),
        _model_config("two_versions", two, "specific { versions: 123 versions: 124 }"),
        _model_config("default", root / "half_plus_two", "latest { num_versions: 1 }"),
        _model_config("half_plus_three", root / "half_plus_three", "latest { num_versions: 1 }"),
        _model_config("fake_classifier", root / "fake_classifier", "latest { num_versions: 1 }"),
        _model_config("fake_regressor", root / "fake_regressor", "latest { num_versions: 1 }"),
    ]) + " }")
    server = start_local_server(root, config_file=config, prometheus_path=METRICS_PATH)
    yield server
    server.stop()


def _raw_http(method: str, url: str, body: str | None) -> tuple[int, bytes]:
    data = None if body is None else body.encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def same_json(expected, actual) -> bool:
    """Equality as rapidjson's == on parsed documents: numbers by value (NaN equals NaN)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected is actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return (math.isnan(expected) and math.isnan(actual)) or expected == actual
    if isinstance(expected, dict):
        return (isinstance(actual, dict) and set(expected) == set(actual)
                and all(same_json(expected[k], actual[k]) for k in expected))
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(same_json(e, a) for e, a in zip(expected, actual)))
    return expected == actual


# --- REST ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", rest_cases.CASES + rest_cases.MEASURED, ids=lambda c: c.id)
def test_rest(conformance_server, case):
    status, raw = _raw_http(case.method, conformance_server.rest + case.path, case.body)
    body = json.loads(raw)
    assert status == case.status, body
    if isinstance(case.expected, rest_cases.Phrase):
        assert case.expected.text in body["error"]
    else:
        assert same_json(case.expected, body), body


# --- gRPC ---------------------------------------------------------------------------------------
def _grpc_call(target: str, rpc: str, request_text: str):
    import grpc
    from tensorflow_serving.apis import (
        classification_pb2,
        get_model_metadata_pb2,
        get_model_status_pb2,
        inference_pb2,
        model_service_pb2_grpc,
        predict_pb2,
        prediction_service_pb2_grpc,
        regression_pb2,
    )

    prediction, model = (prediction_service_pb2_grpc.PredictionServiceStub,
                         model_service_pb2_grpc.ModelServiceStub)
    stub_type, request_type = {
        "Predict": (prediction, predict_pb2.PredictRequest),
        "Classify": (prediction, classification_pb2.ClassificationRequest),
        "Regress": (prediction, regression_pb2.RegressionRequest),
        "MultiInference": (prediction, inference_pb2.MultiInferenceRequest),
        "GetModelMetadata": (prediction, get_model_metadata_pb2.GetModelMetadataRequest),
        "GetModelStatus": (model, get_model_status_pb2.GetModelStatusRequest),
    }[rpc]
    request = text_format.Parse(request_text, request_type())
    with grpc.insecure_channel(target) as channel:
        try:
            return "OK", getattr(stub_type(channel), rpc)(request, timeout=60)
        except grpc.RpcError as error:
            return error.code().name, error.details()


def _field(message, path: str):
    """A value by path: 'a.b[0].c', 'outputs[y].float_val[0]', 'len(x)', 'sorted(a.b)'."""
    if path.startswith("len("):
        return len(_field(message, path[4:-1]))
    if path.startswith("sorted("):
        repeated, _, attribute = path[7:-1].rpartition(".")
        return sorted(getattr(item, attribute) for item in _field(message, repeated))
    if path == "signature_def_keys":
        from tensorflow_serving.apis import get_model_metadata_pb2

        signatures = get_model_metadata_pb2.SignatureDefMap()
        message.metadata["signature_def"].Unpack(signatures)
        return sorted(signatures.signature_def)
    value = message
    for part in path.split("."):
        name, _, index = part.partition("[")
        value = getattr(value, name)
        for key in filter(None, index.rstrip("]").split("][")):
            value = value[int(key)] if key.lstrip("-").isdigit() else value[key]
    return value


@pytest.mark.parametrize("case", grpc_cases.CASES, ids=lambda c: c.id)
def test_grpc(conformance_server, case):
    code, response = _grpc_call(conformance_server.grpc_target, case.rpc, case.request)
    assert code == case.code, response
    if code != "OK":
        assert case.phrase in response
        return
    for path, expected in case.expect:
        actual = _field(response, path)
        actual = list(actual) if isinstance(expected, list) else actual
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"


# --- json_tensor.cc, unit level -----------------------------------------------------------------
@pytest.mark.parametrize("case", json_tensor_cases.PREDICT_CASES, ids=lambda c: c[0])
def test_json_tensor_predict_request(case):
    from serving.errors import ServingError
    from serving.model_servers import json_tensor

    _, specs, body, expected = case
    dtypes = {name: np.dtype(object) if dtype == "string" else np.dtype(dtype)
              for name, dtype in specs.items()}
    try:
        document = json_tensor.parse_body(body.encode())
        json_tensor.signature_name(document)
        tensors, form = json_tensor.request_tensors(document, dtypes)
    except ServingError as error:
        assert isinstance(expected, rest_cases.Phrase), error.message
        assert expected.text in error.message
        return
    assert not isinstance(expected, rest_cases.Phrase), tensors
    expected_form, expected_tensors = expected
    assert form == expected_form and set(tensors) == set(expected_tensors)
    for name, (shape, values) in expected_tensors.items():
        assert list(tensors[name].shape) == shape and tensors[name].dtype == dtypes[name]
        want = np.array(values, dtype=dtypes[name])
        if want.dtype.kind == "f":
            np.testing.assert_array_equal(tensors[name].reshape(-1), want)  # NaN == NaN here
        else:
            assert tensors[name].reshape(-1).tolist() == want.tolist()


def _output_array(dtype: str, shape: list[int], values: list) -> np.ndarray:
    return np.array(values, dtype=object if dtype == "string" else dtype).reshape(shape)


@pytest.mark.parametrize("case", json_tensor_cases.OUTPUT_CASES, ids=lambda c: c[0])
def test_json_tensor_response(case):
    from serving.errors import ServingError
    from serving.model_servers import json_tensor

    _, tensors, form, expected = case
    outputs = {name: _output_array(*spec) for name, spec in tensors.items()}
    try:
        text = json_tensor.dumps(json_tensor.response_body(outputs, form)).decode()
    except ServingError as error:
        assert isinstance(expected, rest_cases.Phrase), error.message
        assert expected.text in error.message
        return
    assert not isinstance(expected, rest_cases.Phrase), text
    if expected.startswith("TEXT:"):  # CompareJsonAllValuesAsStrings: the number texts
        assert text == expected[5:]
    else:
        assert same_json(json.loads(expected), json.loads(text)), text


@pytest.mark.parametrize("case", json_tensor_cases.EXAMPLE_CASES, ids=lambda c: c[0])
def test_json_tensor_examples(case):
    from tensorflow_serving.apis import classification_pb2

    from serving.errors import ServingError
    from serving.model_servers import inference, json_tensor

    _, body, expected = case
    try:
        document = json_tensor.parse_body(body.encode())
        json_tensor.signature_name(document)
        request_input = inference.input_from_json(document, "classify")
    except ServingError as error:
        assert isinstance(expected, rest_cases.Phrase), error.message
        assert expected.text in error.message
        return
    assert not isinstance(expected, rest_cases.Phrase), request_input
    want = text_format.Parse(expected, classification_pb2.ClassificationRequest()).input
    # NaN != NaN in protobuf equality: compare the text forms
    assert text_format.MessageToString(request_input) == text_format.MessageToString(want)


@pytest.mark.parametrize("case", json_tensor_cases.RESULT_CASES, ids=lambda c: c[0])
def test_json_tensor_results(case):
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    from serving.errors import ServingError
    from serving.model_servers import inference, json_tensor

    _, result_text, verb, expected = case
    kind = (classification_pb2.ClassificationResult if verb == "classify"
            else regression_pb2.RegressionResult)
    render = inference.classification_json if verb == "classify" else inference.regression_json
    try:
        text = json_tensor.dumps(render(text_format.Parse(result_text, kind()))).decode()
    except ServingError as error:
        assert isinstance(expected, rest_cases.Phrase), error.message
        assert expected.text in error.message
        return
    if expected.startswith("TEXT:"):
        assert text == expected[5:]
    else:
        assert same_json(json.loads(expected), json.loads(text)), text


# --- prometheus_exporter.cc ---------------------------------------------------------------------
@pytest.mark.parametrize("case", prometheus_cases.CASES, ids=lambda c: c[0])
def test_prometheus_exporter(case):
    from serving.model_servers import metrics

    _, kind, name, labels, cells, expected = case
    registry = metrics.Registry()
    if kind == "histogram":
        metric = metrics.Sampler(registry, name, "", metrics.exponential_buckets(1, 2, 10),
                                 *labels)
        for values, samples in cells:
            for sample in samples:
                metric.add(*values, sample=sample)
    else:
        metric = (metrics.Gauge if kind == "gauge" else metrics.Counter)(registry, name, "",
                                                                         *labels)
        for values, value in cells:
            metric.increment(*values, by=value)
    assert registry.page() == expected


def test_bad_model_config_file(tmp_path):
    """tensorflow_model_server_test.py testBadModelConfig: "Invalid protobuf file: '<path>'"."""
    from serving.model_servers import model_config as models

    bad = tmp_path / "bad_model_config.txt"
    bad.write_text("improperly formatted file")
    with pytest.raises(ValueError, match=f"Invalid protobuf file: '{bad}'"):
        models.read_config_file(bad)
