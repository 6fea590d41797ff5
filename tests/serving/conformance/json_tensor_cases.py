"""tensorflow_serving/util/json_tensor_test.cc, as data.

Run against serving/model_servers/json_tensor.py.

PREDICT_CASES: (test, signature input dtypes, body, expected) where expected is
("row"|"columnar", {input: (shape, values)}) or a Phrase the error must contain.
OUTPUT_CASES: (test, {output: (dtype, shape, values)}, "row"|"columnar", expected) where
expected is the JSON text (compared value by value, numbers as their text when `as_text`) or a
Phrase. EXAMPLE_CASES: (test, body, expected Input as a text proto, or a Phrase).
"""

from __future__ import annotations

import math

from tests.serving.conformance.rest_cases import Phrase

T = "json_tensor_test.cc:JsontensorTest."
CR = "json_tensor_test.cc:ClassifyRegressRequestTest."
R = "json_tensor_test.cc:ClassifyRegressnResultTest."
INT32, FLOAT, DOUBLE, STRING = "int32", "float32", "float64", "string"
NAN, INF = math.nan, math.inf

PREDICT_CASES = [
    (T + "SingleUnnamedTensor", {"default": INT32}, '{"instances": [[1,2],[3,4],[5,6]]}',
     ("row", {"default": ([3, 2], [1, 2, 3, 4, 5, 6])})),
    (T + "MixedInputForFloatTensor", {"default": FLOAT},
     '{"instances": [1, 2.0, 3, 4, 5.003, 0.007, 0.0]}',
     ("row", {"default": ([7], [1, 2.0, 3, 4, 5.003, 0.007, 0.0])})),
    (T + "MixedInputForDoubleTensor", {"default": DOUBLE},
     '{"instances": [1.0, 2, 3, 4, 0.662, 0, 0.0]}',
     ("row", {"default": ([7], [1.0, 2, 3, 4, 0.662, 0, 0.0])})),
    (T + "SingleUnnamedTensorWithSignature", {"default": INT32},
     '{"signature_name": "predict_images", "instances": [[1,2]]}',
     ("row", {"default": ([1, 2], [1, 2])})),
    (T + "SingleUnnamedTensorBase64Scalars", {"default": STRING},
     '{"instances": [ { "b64" : "aGVsbG8=" }, { "b64": "d29ybGQ=" } ]}',
     ("row", {"default": ([2], [b"hello", b"world"])})),
    (T + "SingleUnnamedTensorBase64Lists", {"default": STRING},
     '{"instances": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ]}',
     ("row", {"default": ([2, 1], [b"hello", b"world"])})),
    (T + "SingleNamedTensorBase64", {"default": STRING},
     '{"instances": [{"default": [ [{ "b64" : "aGVsbG8=" }], [{ "b64": "d29ybGQ=" }] ]}]}',
     ("row", {"default": ([1, 2, 1], [b"hello", b"world"])})),
    (T + "MultipleNamedTensor",
     {"int_tensor": INT32, "str_tensor": STRING, "float_tensor": FLOAT, "dbl_tensor": DOUBLE},
     '{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"], '
     '"float_tensor": [1.0, NaN], "dbl_tensor": [NaN]}, {"int_tensor": [[7,8],[9,0],[1,2]], '
     '"str_tensor": ["baz", "bat"], "float_tensor": [2.0, Infinity], "dbl_tensor": [2.0]}]}',
     ("row", {"int_tensor": ([2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]),
              "str_tensor": ([2, 2], [b"foo", b"bar", b"baz", b"bat"]),
              "float_tensor": ([2, 2], [1.0, NAN, 2.0, INF]),
              "dbl_tensor": ([2, 1], [NAN, 2.0])})),
    (T + "SingleUnnamedTensorColumnarFormat", {"int_tensor": INT32},
     '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]]}}',
     ("columnar", {"int_tensor": ([1, 3, 2], [1, 2, 3, 4, 5, 6])})),
    (T + "SingleUnnamedTensorColumnarFormat", {"int_tensor": INT32},
     '{"inputs": [[[1,2],[3,4],[5,6]]]}',
     ("columnar", {"int_tensor": ([1, 3, 2], [1, 2, 3, 4, 5, 6])})),
    (T + "MultipleNamedTensorColumnarFormat",
     {"int_tensor": INT32, "str_tensor": STRING, "bin_tensor": STRING},
     '{"inputs": {"int_tensor": [[[1,2],[3,4],[5,6]]], "str_tensor": ["foo", "bar"], '
     '"bin_tensor": { "b64" : "aGVsbG8=" }}}',
     ("columnar", {"int_tensor": ([1, 3, 2], [1, 2, 3, 4, 5, 6]),
                   "str_tensor": ([2], [b"foo", b"bar"]), "bin_tensor": ([], [b"hello"])})),
    (T + "SingleUnnamedTensorErrors", {"default": INT32}, "", Phrase("document is empty")),
    (T + "SingleUnnamedTensorErrors", {"default": INT32},
     '{"signature_name": 5, "instances": [[1,2],[3,4],[5,6,7]]}',
     Phrase("must be a string value")),
    (T + "SingleUnnamedTensorErrors", {"default": INT32},
     '{"instances": [[1,2],[3,4],[5,6,7]], "inputs": [[1,2],[3,4],[5,6,7]]}',
     Phrase("Not formatted correctly")),
    (T + "SingleUnnamedTensorErrors", {"default": INT32},
     '{"instances": [[1,2],[3,4],[5,6,7]]}', Phrase("Expecting tensor size")),
    (T + "SingleUnnamedTensorErrors", {"default": INT32},
     '{"instances": [[1,2],[3,4],[[5,6]]]}', Phrase("Expecting shape")),
    (T + "SingleUnnamedTensorErrors", {"default": INT32}, '{"instances": [1, [1]]}',
     Phrase("Expecting shape")),
    (T + "SingleUnnamedTensorErrors", {"default": INT32}, '{"instances": [[1,2],["a", "b"]]}',
     Phrase("not of expected type")),
    (T + "MultipleNamedTensorErrors", {"int_tensor": INT32, "str_tensor": STRING},
     '{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]}, '
     '{"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}',
     Phrase("Expecting shape")),
    (T + "MultipleNamedTensorErrors", {"int_tensor": INT32, "str_tensor": STRING},
     '{"instances": [{"int_tensor": [[1,2],[3,4],[5,6],[7,8]], "str_tensor": ["foo", "bar"]}, '
     '{"int_tensor": [[7,8],[9,0],[1,2]], "str_tensor": ["baz", "bat"]}]}',
     Phrase("Expecting tensor size")),
    (T + "MultipleNamedTensorErrors", {"int_tensor": INT32, "str_tensor": STRING},
     '{"instances": [{"int_tensor": [[1,2],[3,4],[5,6]], "str_tensor": ["foo", "bar"]}, '
     '[1, 20, 30], {"int_tensor": [[[7,8],[9,0],[1,2]]], "str_tensor": ["baz", "bat"]}]}',
     Phrase("Expecting object but got list")),
    (T + "MultipleNamedTensorErrors", {"str_tensor": STRING},
     '{"instances": [["baz", "bar"], {"str_tensor": ["baz", "bat"]}]}',
     Phrase("Expecting value/list but got object")),
]

OUTPUT_CASES = [
    (T + "FromJsonSingleTensor",
     {"int_tensor": (INT32, [2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2])}, "row",
     '{"predictions": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]}'),
    (T + "FromJsonSingleTensor",
     {"int_tensor": (INT32, [2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2])}, "columnar",
     '{"outputs": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]]}'),
    (T + "FromJsonSingleScalarTensor", {"int_tensor": (INT32, [5], [1, 2, 3, 4, 5])}, "row",
     '{"predictions": [1, 2, 3, 4, 5]}'),
    (T + "FromJsonSingleScalarTensor", {"int_tensor": (INT32, [5], [1, 2, 3, 4, 5])},
     "columnar", '{"outputs": [1, 2, 3, 4, 5]}'),
    (T + "FromJsonSingleBytesTensor",
     {"str_tensor_bytes": (STRING, [2, 2], [b"hello", b"world", b"tf", b"serving"])}, "row",
     '{"predictions": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}], '
     '[{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]}'),
    # CompareJsonAllValuesAsStrings: the number text itself is the expectation.
    (T + "FromJsonSingleFloatTensorSixDigitPrecision",
     {"float_tensor": (FLOAT, [2, 3], [9000000, 999999, 0.50000, .0003, .00003, 555557.5])},
     "row", "TEXT:" + '{"predictions":[[9e+06,999999.0,0.5],[0.0003,3e-05,555557.5]]}'),
    (T + "FromJsonSingleFloatTensorNonFinite",
     {"float_tensor": (FLOAT, [2, 2], [NAN, INF, 3, -INF])}, "row",
     "TEXT:" + '{"predictions":[[NaN,Infinity],[3.0,-Infinity]]}'),
    (T + "FromJsonSingleTensorErrors", {"tensor": (INT32, [], [1])}, "row",
     Phrase("no shape information")),
    (T + "FromJsonMultipleNamedTensors",
     {"int_tensor": (INT32, [2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]),
      "str_tensor": (STRING, [2, 2], [b"foo", b"bar", b"baz", b"bat"]),
      "float_tensor": (FLOAT, [2, 1], [1.0, 2.0]),
      "double_scalar_tensor": (DOUBLE, [2], [8.0, 9.0]),
      "str_tensor_bytes": (STRING, [2, 2], [b"hello", b"world", b"tf", b"serving"])}, "row",
     '{"predictions": [{"double_scalar_tensor": 8.0, "float_tensor": [1.0], '
     '"int_tensor": [[1, 2], [3, 4], [5, 6]], "str_tensor": ["foo", "bar"], '
     '"str_tensor_bytes": [ {"b64": "aGVsbG8="}, {"b64": "d29ybGQ="} ]}, '
     '{"double_scalar_tensor": 9.0, "float_tensor": [2.0], '
     '"int_tensor": [[7, 8], [9, 0], [1, 2]], "str_tensor": ["baz", "bat"], '
     '"str_tensor_bytes": [ {"b64": "dGY="}, {"b64": "c2VydmluZw=="} ]}]}'),
    (T + "FromJsonMultipleNamedTensors",
     {"int_tensor": (INT32, [2, 3, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]),
      "str_tensor": (STRING, [2, 2], [b"foo", b"bar", b"baz", b"bat"]),
      "float_tensor": (FLOAT, [2, 1], [1.0, 2.0]),
      "double_scalar_tensor": (DOUBLE, [2], [8.0, 9.0]),
      "str_tensor_bytes": (STRING, [2, 2], [b"hello", b"world", b"tf", b"serving"])},
     "columnar",
     '{"outputs": {"double_scalar_tensor": [8.0, 9.0], "float_tensor": [[1.0], [2.0]], '
     '"int_tensor": [[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 0], [1, 2]]], '
     '"str_tensor": [["foo", "bar"], ["baz", "bat"]], '
     '"str_tensor_bytes": [[{"b64": "aGVsbG8="}, {"b64": "d29ybGQ="}], '
     '[{"b64": "dGY="}, {"b64": "c2VydmluZw=="}]]}}'),
    (T + "FromJsonMultipleNamedTensorsErrors",
     {"int_tensor": (INT32, [2, 3], [1, 2, 3, 4, 5, 6]),
      "str_tensor": (STRING, [1, 3], [b"foo", b"bar", b"baz"])}, "row",
     Phrase("inconsistent batch size")),
]

_CONTEXT_EXAMPLES = """
input { example_list_with_context {
  context { features {
    feature { key: "query" value { bytes_list { value: "pizza" } } }
    feature { key: "location" value { bytes_list { value: "sfo" } } } } }
  examples { features {
    feature { key: "names" value { bytes_list { value: "foo" value: "bar" } } }
    feature { key: "ratings" value { float_list { value: 8.0 value: 9.0 value: nan
                                                  value: inf } } }
    feature { key: "age" value { int64_list { value: 20 } } } } }
  examples { features {
    feature { key: "names" value { bytes_list { value: "baz" value: "hello" } } }
    feature { key: "ratings" value { float_list { value: 6.0 } } }
    feature { key: "intboolmix" value { int64_list { value: 1 value: 1 value: 0 } } } } }
  examples { features {
    feature { key: "names" value { bytes_list { value: "bar" } } }
    feature { key: "ratings" value { float_list { value: -inf } } } } } } }
"""

EXAMPLE_CASES = [
    (CR + "RequestNoContext",
     '{"examples": [{"names": [ "foo", "bar" ], "ratings": [ 8.0, 9.0 ], "age": 20}, '
     '{"names": [ "baz" ], "ratings": 6.0}]}',
     """input { example_list {
       examples { features {
         feature { key: "names" value { bytes_list { value: "foo" value: "bar" } } }
         feature { key: "ratings" value { float_list { value: 8.0 value: 9.0 } } }
         feature { key: "age" value { int64_list { value: 20 } } } } }
       examples { features {
         feature { key: "names" value { bytes_list { value: "baz" } } }
         feature { key: "ratings" value { float_list { value: 6.0 } } } } } } }"""),
    (CR + "RequestWithContextAndSignature",
     '{"signature_name": "custom_signture", "context": {"query": "pizza", "location": ["sfo"]},'
     ' "examples": [{"names": ["foo", "bar"], "ratings": [8.0, 9.0, NaN, Infinity], "age": 20},'
     ' {"names": ["baz", {"b64": "aGVsbG8="}], "ratings": 6.0, "intboolmix": [1, true, false]},'
     ' {"names": "bar", "ratings": -Infinity}]}', _CONTEXT_EXAMPLES),
    (CR + "JsonErrors", '{"signature_name": ["hello"], "examples": [{"names": ["foo", "bar"]}]}',
     Phrase("'signature_name' key must be a string")),
    (CR + "JsonErrors", '{"context": [{"names": ["foo", "bar"]}]}',
     Phrase("Example must be JSON object")),
    (CR + "JsonErrors", '{"examples": {"names": ["foo", "bar"]}}', Phrase("list/array")),
    (CR + "JsonErrors", '{"examples": [[{"names": ["foo", "bar"]}]]}',
     Phrase("Example must be JSON object")),
    (CR + "JsonErrors", '{"examples": [{"names": [10, null]}]}',
     Phrase("names has element with unexpected JSON type: Null")),
    (CR + "JsonErrors", '{"examples": [{"names": [10, 10.0]}]}',
     Phrase("feature: names expecting type: int64")),
    (CR + "JsonErrors", '{"examples": [{"names": [10, {"test": 10}]}]}',
     Phrase("names has element with unexpected JSON type: Object")),
    (CR + "JsonErrors", '{"examples": [{"names": [[10], 20]}]}',
     Phrase("names has element with unexpected JSON type: Array")),
    (CR + "JsonErrors", '{"examples": [{"names": [20, 18446744073709551603]}]}',
     Phrase("Only int64 is supported")),
    (CR + "JsonErrors", '{"examples": [{"names": 1.7976931348623157e+308}]}',
     Phrase("loss of precision")),
]

RESULT_CASES = [
    (R + "JsonFromClassificationResult",
     """classifications { classes { label: "car" score: 0.2 } classes { label: "bike" score: 0.7 }
                          classes { label: "bus" score: 0.1 } }
        classifications { classes { label: "car" score: 0.7 } classes { label: "bike" score: 0.1 }
                          classes { label: "bus" score: 0.2 } }""", "classify",
     '{"results": [[["car", 0.2], ["bike", 0.7], ["bus", 0.1]], '
     '[["car", 0.7], ["bike", 0.1], ["bus", 0.2]]]}'),
    (R + "JsonFromRegressionResult",
     "regressions { value: 0.2 } regressions { value: 0.9 } regressions { value: 1.0 }",
     "regress", '{"results": [0.2, 0.9, 1.0]}'),
    (R + "JsonFromRegressionResultWithNonFinite",
     "regressions { value: 0.2 } regressions { value: inf } regressions { value: 1.0 } "
     "regressions { value: -inf } regressions { value: nan }", "regress",
     "TEXT:" + '{"results":[0.2,Infinity,1.0,-Infinity,NaN]}'),
    (R + "JsonFromResultErrors", "", "classify", Phrase("empty ClassificationResults")),
    (R + "JsonFromResultErrors", "", "regress", Phrase("empty RegressionResults")),
]
