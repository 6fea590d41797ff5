"""TF Serving's own REST tests, as data: each case names the test it came from.

Sources (tensorflow/serving): model_servers/http_rest_api_handler_test.cc (HANDLER) and the REST
half of model_servers/tensorflow_model_server_test.py (SERVER_TEST). Models, as in those tests:
MODEL is saved_model_half_plus_two_2_versions (folders 00000123/ and 00000124/, policy
`specific { versions: 123 }`, label LABEL -> 123); "default" is half_plus_two (00000123/ only).

A case is (source, method, path, body, expected status, expected): `expected` is a JSON value the
body must equal (numbers compared as numbers, as rapidjson's == does), or a `Phrase` the error
text must contain (HasSubstr in the C++ tests).
"""

from __future__ import annotations

import dataclasses

MODEL = "saved_model_half_plus_two_2_versions"
LABEL = "my_label"
MISSING_LABEL = "nonexistent_label"
HANDLER = "http_rest_api_handler_test.cc"
SERVER_TEST = "tensorflow_model_server_test.py"
UINT64_MAX = 2**64 - 1


@dataclasses.dataclass(frozen=True)
class Phrase:
    text: str


@dataclasses.dataclass(frozen=True)
class RestCase:
    source: str
    method: str
    path: str
    body: str | None
    status: int
    expected: object

    @property
    def id(self) -> str:
        return f"{self.source}:{self.method} {self.path[:60]} {(self.body or '')[:40]}"


def _status(version: str = "123") -> dict:
    return {"model_version_status": [{"version": version, "state": "AVAILABLE",
                                      "status": {"error_code": "OK", "error_message": ""}}]}


def _c(test: str, method: str, path: str, body: str | None, status: int, expected) -> RestCase:
    return RestCase(test, method, path, body, status, expected)


_H = f"{HANDLER}:"
_S = f"{SERVER_TEST}:"
MALFORMED = Phrase("Malformed request")

CASES: list[RestCase] = [
    # --- HttpRestApiHandlerTest.UnsupportedApiCalls -------------------------------------------
    _c(_H + "UnsupportedApiCalls", "GET", "/v1/foo", "", 400, MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST", "/v1/foo", "", 400, MALFORMED),
    _c(_H + "UnsupportedApiCalls", "GET", "/v1/models", "", 400, Phrase("Missing model name")),
    _c(_H + "UnsupportedApiCalls", "GET", "/v1/models/debug/model_name", "", 400, MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST", "/v1/models", "", 400, MALFORMED),
    _c(_H + "UnsupportedApiCalls", "GET", "/v1/models/foo:predict", "", 400, MALFORMED),
    _c(_H + "UnsupportedApiCalls", "GET", "/v1/models/foo/version/50:predict", "", 400,
       MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST", "/v1/models/foo/version/50:regress", "", 400,
       MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST", "/v1/models/foo/versions/HELLO:regress", "", 400,
       MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST", f"/v1/models/foo/versions/{UINT64_MAX}:regress", "",
       400, Phrase("Failed to convert version")),
    _c(_H + "UnsupportedApiCalls", "POST", "/v1/models/foo/metadata", "", 400, MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST", "/v1/models/foo/label/some_label:regress", "", 400,
       MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST",
       "/v1/models/foo/versions/50/labels/some_label:regress", "", 400, MALFORMED),
    _c(_H + "UnsupportedApiCalls", "POST", "/v1/models/foo/versions/some_label:regress", "",
       400, MALFORMED),
    # --- PredictModelNameVersionErrors -----------------------------------------------------------
    _c(_H + "PredictModelNameVersionErrors", "POST", "/v1/models/foo:predict",
       '{ "instances": [1] }', 404, Phrase("")),
    _c(_H + "PredictModelNameVersionErrors", "POST", "/v1/models/foo/versions/50:predict",
       '{ "instances": [1] }', 404, Phrase("")),
    _c(_H + "PredictModelNameVersionErrors", "POST", f"/v1/models/{MODEL}99:predict",
       '{ "instances": [1] }', 404, Phrase("")),
    # --- PredictRequestErrors --------------------------------------------------------------------
    _c(_H + "PredictRequestErrors", "POST", f"/v1/models/{MODEL}:predict", "", 400,
       Phrase("JSON Parse error: The document is empty")),
    _c(_H + "PredictRequestErrors", "POST", f"/v1/models/{MODEL}:predict", "instances = [1, 2]",
       400, Phrase("JSON Parse error: Invalid value")),
    _c(_H + "PredictRequestErrors", "POST", f"/v1/models/{MODEL}:predict",
       '{ "instances": ["x", "y"] }', 400, Phrase("not of expected type: float")),
    _c(_H + "PredictRequestErrors", "POST", f"/v1/models/{MODEL}/labels/{MISSING_LABEL}:predict",
       '{ "instances": ["x", "y"] }', 400, Phrase("Unrecognized servable version label")),
    _c(_H + "PredictRequestErrors", "POST", f"/v1/models/{MODEL}:predict",
       '{ "signature_name": 100 }', 400, Phrase("'signature_name' key must be a string value.")),
    # --- Predict -------------------------------------------------------------------------------
    _c(_H + "Predict", "POST", f"/v1/models/{MODEL}:predict",
       '{"instances": [[1.0, 2.0], [3.0, 4.0]]}', 200, {"predictions": [[2.5, 3.0], [3.5, 4.0]]}),
    _c(_H + "Predict", "POST", f"/v1/models/{MODEL}/versions/123:predict",
       '{"instances": [1.0, 2.0]}', 200, {"predictions": [2.5, 3.0]}),
    _c(_H + "Predict", "POST", f"/v1/models/{MODEL}/labels/{LABEL}:predict",
       '{"instances": [1.0, 2.0]}', 200, {"predictions": [2.5, 3.0]}),
    _c(_H + "Predict", "POST", f"/v1/models/{MODEL}/versions/123:predict",
       '{"signature_name": "serving_default", "instances": [3.0, 4.0]}', 200,
       {"predictions": [3.5, 4.0]}),
    _c(_H + "Predict", "POST", f"/v1/models/{MODEL}/versions/123:predict",
       '{"signature_name": "serving_default", "inputs": [3.0, 4.0]}', 200,
       {"outputs": [3.5, 4.0]}),
    # --- Regress / Classify --------------------------------------------------------------------
    _c(_H + "Regress", "POST", f"/v1/models/{MODEL}:regress",
       '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }', 200,
       {"results": [42]}),
    _c(_H + "Regress", "POST", f"/v1/models/{MODEL}/versions/123:regress",
       '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }', 200,
       {"results": [42]}),
    _c(_H + "Regress", "POST", f"/v1/models/{MODEL}/labels/{LABEL}:regress",
       '{"signature_name": "regress_x_to_y", "examples": [ { "x": 80.0 } ] }', 200,
       {"results": [42]}),
    _c(_H + "Classify", "POST", f"/v1/models/{MODEL}:classify",
       '{"signature_name": "classify_x_to_y", "examples": [ { "x": 20.0 } ] }', 200,
       {"results": [[["", 12]]]}),
    _c(_H + "Classify", "POST", f"/v1/models/{MODEL}/labels/{LABEL}:classify",
       '{"signature_name": "classify_x_to_y", "examples": [ { "x": 10.0 } ] }', 200,
       {"results": [[["", 7]]]}),
    # --- GetStatus -------------------------------------------------------------------------------
    _c(_H + "GetStatus", "GET", f"/v1/models/{MODEL}", None, 200, _status()),
    _c(_H + "GetStatus", "GET", f"/v1/models/{MODEL}/versions/123", None, 200, _status()),
    _c(_H + "GetStatus", "GET", f"/v1/models/{MODEL}/labels/{LABEL}", None, 200, _status()),
    # --- tensorflow_model_server_test.py, REST ---------------------------------------------------
    _c(_S + "testClassifyREST", "POST", "/v1/models/default:classify",
       '{"signature_name": "classify_x_to_y", "examples": [{"x": 2.0}]}', 200,
       {"results": [[["", 3.0]]]}),
    _c(_S + "testRegressREST", "POST", "/v1/models/default:regress",
       '{"signature_name": "regress_x_to_y", "examples": [{"x": 2.0}]}', 200,
       {"results": [3.0]}),
    _c(_S + "testPredictREST", "POST", "/v1/models/default:predict",
       '{"instances": [2.0, 3.0, 4.0]}', 200, {"predictions": [3.0, 3.5, 4.0]}),
    _c(_S + "testPredictColumnarREST", "POST", "/v1/models/default:predict",
       '{"inputs": [2.0, 3.0, 4.0]}', 200, {"outputs": [3.0, 3.5, 4.0]}),
    _c(_S + "testGetStatusREST", "GET", "/v1/models/default", None, 200, _status()),
]

# Behaviour the issue (#13) measured on TF Serving itself, each with the TF Serving source
# that states it; kept apart from the ported cases so the count above stays honest.
ISSUE = "measured on tensorflow_model_server"
MEASURED: list[RestCase] = [
    _c(ISSUE + ", handler percent-decodes names", "GET",
       "/v1/models/saved%5Fmodel%5Fhalf%5Fplus%5Ftwo%5F2%5Fversions", None, 200, _status()),
    _c(ISSUE + ", handler percent-decodes labels", "POST",
       f"/v1/models/{MODEL}/labels/my%5Flabel:predict", '{"instances": [1.0]}', 200,
       {"predictions": [2.5]}),
    _c(ISSUE + ", GetInfoMap", "POST", f"/v1/models/{MODEL}:predict",
       '{"signature_name": "x", "instances": [1.0]}', 400,
       Phrase('Serving signature name: "x" not found in signature def')),
    _c(ISSUE + ", g3doc/api_rest.md Floating Point Precision", "POST",
       "/v1/models/default:predict", '{"instances": [1435774380]}', 200,
       {"predictions": [717887168.0]}),
    _c(ISSUE + ", float overflow", "POST", "/v1/models/default:predict",
       '{"instances": [1e39, -1e39]}', 200, {"predictions": [float("inf"), float("-inf")]}),
    _c(ISSUE + ", rapidjson kParseIterativeFlag", "POST", "/v1/models/default:predict",
       '{"instances": [1.0], "deep": ' + "[" * 1000 + "]" * 1000 + "}", 200,
       {"predictions": [2.5]}),
    _c(ISSUE + ", rapidjson kParseIterativeFlag", "POST", "/v1/models/default:predict",
       '{"instances": [1.0], "deep": ' + "[" * 1000 + "]" * 999 + "}", 400,
       Phrase("JSON Parse error")),
    _c(ISSUE + ", json_tensor.cc", "POST", "/v1/models/default:predict",
       '{"instances": [[1.0, 2.0], [3.0]]}', 400,
       Phrase("Expecting tensor size: 2 but got: 1")),
]
