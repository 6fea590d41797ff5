"""TF Serving's own gRPC-side tests, as data: each case names the test it came from.

Sources (tensorflow/serving): servables/tensorflow/{predict_util,classifier,regressor,
multi_inference,get_model_metadata_impl}_test.cc, model_servers/get_model_status_impl_test.cc
and the gRPC half of model_servers/tensorflow_model_server_test.py. Requests are text protos,
as in those tests. `expect` maps a field path of the response to its value; `phrase` must be
in the error details.

Models: MODEL (half_plus_two, versions 123 and 124 on disk, 123 served, label my_label), "default"
(half_plus_two, 123), "half_plus_three" (y = 0.5x + 3) and "fake_classifier", a SavedModel that
does what classifier_test.cc's FakeSession does: classes and scores copied from each example's
"class" and "score" features; "fake_regressor" does what regressor_test.cc's FakeSession does
(each example's "output" feature). Both are built in fake_classifier.py.
"""

from __future__ import annotations

import dataclasses

MODEL = "saved_model_half_plus_two_2_versions"
CLASSIFY = "tensorflow/serving/classify"
REGRESS = "tensorflow/serving/regress"
PREDICT_TEST = "predict_util_test.cc:PredictImplTest."
STATUS_TEST = "get_model_status_impl_test.cc:GetModelStatusImplTest."
METADATA_TEST = "get_model_metadata_impl_test.cc:GetModelMetadataImplTest."
MULTI_TEST = "multi_inference_test.cc:MultiInferenceTest."
CLASSIFIER_TEST = "classifier_test.cc:ClassifierTest."
REGRESSOR_TEST = "regressor_test.cc:RegressorTest."
SERVER_TEST = "tensorflow_model_server_test.py:TensorflowModelServerTest."


@dataclasses.dataclass(frozen=True)
class GrpcCase:
    source: str
    rpc: str  # Predict, Classify, Regress, MultiInference, GetModelMetadata, GetModelStatus
    request: str  # text proto
    code: str = "OK"
    phrase: str = ""
    expect: tuple = ()  # ((field path, value), ...)

    @property
    def id(self) -> str:
        return f"{self.source}:{self.rpc}"


def _spec(name: str = MODEL, version: int | None = 123, signature: str = "") -> str:
    text = f'model_spec {{ name: "{name}"'
    if version is not None:
        text += f" version {{ value: {version} }}"
    if signature:
        text += f' signature_name: "{signature}"'
    return text + " }"


_X2 = 'inputs { key: "x" value { dtype: DT_FLOAT float_val: 2.0 } }'
_X2_SHAPED = ('inputs { key: "x" value { dtype: DT_FLOAT tensor_shape { dim { size: 1 } } '
              "float_val: 2.0 } }")


def _examples(*features: str, context: str = "") -> str:
    """An Input with one example per features text; with `context`, an example_list_with_context."""
    body = " ".join(f"examples {{ features {{ {f} }} }}" for f in features)
    if context:
        return (f"input {{ example_list_with_context {{ context {{ features {{ {context} }} }} "
                f"{body} }} }}")
    return f"input {{ example_list {{ {body} }} }}"


def _float(name: str, value: float) -> str:
    return f'feature {{ key: "{name}" value {{ float_list {{ value: {value} }} }} }}'


def _classes(*pairs: tuple[str, float]) -> str:
    labels = " ".join(f'value: "{label}"' for label, _ in pairs)
    scores = " ".join(f"value: {score}" for _, score in pairs)
    return (f'feature {{ key: "class" value {{ bytes_list {{ {labels} }} }} }} '
            f'feature {{ key: "score" value {{ float_list {{ {scores} }} }} }}')


def _task(signature: str, method: str, name: str = MODEL) -> str:
    return (f'tasks {{ model_spec {{ name: "{name}" signature_name: "{signature}" }} '
            f'method_name: "{method}" }}')


_TWO = _examples(_classes(("dos", 2), ("uno", 1)), _classes(("cuatro", 4), ("tres", 3)))
_TWO_RESULT = (("result.classifications[0].classes[0].label", "dos"),
               ("result.classifications[0].classes[0].score", 2.0),
               ("result.classifications[0].classes[1].label", "uno"),
               ("result.classifications[0].classes[1].score", 1.0),
               ("result.classifications[1].classes[0].label", "cuatro"),
               ("result.classifications[1].classes[0].score", 4.0),
               ("result.classifications[1].classes[1].label", "tres"),
               ("result.classifications[1].classes[1].score", 3.0))


def _fake(signature: str = "") -> str:
    return _spec("fake_classifier", None, signature)


def _regressor(signature: str = "") -> str:
    return _spec("fake_regressor", None, signature)


def _outputs(*values: float) -> str:
    return _examples(*(_float("output", v) for v in values))


CASES: list[GrpcCase] = [
    # --- predict_util_test.cc ------------------------------------------------------------------
    GrpcCase(PREDICT_TEST + "MissingOrEmptyModelSpec", "Predict", "", "INVALID_ARGUMENT"),
    GrpcCase(PREDICT_TEST + "EmptyInputList", "Predict", _spec(), "INVALID_ARGUMENT"),
    GrpcCase(PREDICT_TEST + "InputTensorsDontMatchModelSpecInputs", "Predict", _spec() + (
        ' inputs { key: "unknown_key1" value { dtype: DT_STRING tensor_shape { dim { size: 1 } }'
        ' string_val: "any_value" } } inputs { key: "unknown_key2" value { dtype: DT_FLOAT '
        "tensor_shape { dim { size: 1 } } float_val: 1.0 } }"), "INVALID_ARGUMENT",
        "Sent extra: {unknown_key1,unknown_key2}"),
    GrpcCase(PREDICT_TEST + "InputTensorsDontMatchModelSpecInputs", "Predict", _spec() + (
        ' inputs { key: "unknown_key1" value { dtype: DT_STRING tensor_shape { dim { size: 1 } }'
        ' string_val: "any_value" } }'), "INVALID_ARGUMENT", "Missing but required: {x}"),
    GrpcCase(PREDICT_TEST + "OutputFiltersDontMatchModelSpecOutputs", "Predict",
             _spec() + " " + _X2 + ' output_filter: "output_filter"', "INVALID_ARGUMENT",
             "output tensor alias not found in signature: output_filter"),
    GrpcCase(PREDICT_TEST + "OutputFiltersDontMatchModelSpecOutputs", "Predict",
             _spec() + " " + _X2 + ' output_filter: "y"',
             expect=(("outputs[y].float_val[0]", 3.0),)),
    GrpcCase(PREDICT_TEST + "OutputFiltersDontMatchModelSpecOutputs", "Predict",
             _spec() + " " + _X2 + ' output_filter: "y" output_filter: "y"', "INVALID_ARGUMENT",
             "duplicate output tensor alias: y"),
    GrpcCase(PREDICT_TEST + "InputTensorsHaveWrongType", "Predict", _spec() + (
        ' inputs { key: "x" value { dtype: DT_STRING tensor_shape { dim { size: 1 } } '
        'string_val: "any_value" } } output_filter: "y"'), "INVALID_ARGUMENT",
        "to be float but string is provided"),
    GrpcCase(PREDICT_TEST + "PredictionSuccess", "Predict", _spec() + " " + _X2,
             expect=(("outputs[y].float_val[0]", 3.0), ("outputs[y].dtype", 1),
                     ("model_spec.name", MODEL), ("model_spec.version.value", 123),
                     ("model_spec.signature_name", "serving_default"))),
    # --- get_model_status_impl_test.cc ----------------------------------------------------------
    GrpcCase(STATUS_TEST + "MissingOrEmptyModelSpecFailure", "GetModelStatus", "",
             "INVALID_ARGUMENT"),
    GrpcCase(STATUS_TEST + "InvalidModelNameFailure", "GetModelStatus",
             'model_spec { name: "nonexistent_model" }', "NOT_FOUND"),
    GrpcCase(STATUS_TEST + "InvalidModelVersionFailure", "GetModelStatus",
             _spec(version=999), "NOT_FOUND"),
    GrpcCase(STATUS_TEST + "SingleVersionSuccess", "GetModelStatus", _spec(),
             expect=(("model_version_status[0].version", 123),
                     ("model_version_status[0].status.error_code", 0),
                     ("model_version_status[0].status.error_message", ""),
                     ("len(model_version_status)", 1))),
    GrpcCase(STATUS_TEST + "AllVersionsSuccess", "GetModelStatus",
             'model_spec { name: "two_versions" }',
             expect=(("len(model_version_status)", 2),
                     ("sorted(model_version_status.version)", [123, 124]),
                     ("model_version_status[0].status.error_code", 0),
                     ("model_version_status[1].status.error_code", 0))),
    # --- get_model_metadata_impl_test.cc --------------------------------------------------------
    GrpcCase(METADATA_TEST + "EmptyOrInvalidMetadataFieldList", "GetModelMetadata", _spec(),
             "INVALID_ARGUMENT"),
    GrpcCase(METADATA_TEST + "EmptyOrInvalidMetadataFieldList", "GetModelMetadata",
             _spec() + ' metadata_field: "some_stuff"', "INVALID_ARGUMENT"),
    GrpcCase(METADATA_TEST + "MissingOrEmptyModelSpec", "GetModelMetadata",
             'metadata_field: "signature_def"', "INVALID_ARGUMENT"),
    GrpcCase(METADATA_TEST + "MissingOrEmptyModelSpec", "GetModelMetadata",
             'model_spec { } metadata_field: "signature_def"', "INVALID_ARGUMENT"),
    GrpcCase(METADATA_TEST + "MissingOrEmptyModelSpec", "GetModelMetadata",
             'model_spec { name: "test" } metadata_field: "signature_def"', "NOT_FOUND"),
    GrpcCase(METADATA_TEST + "ReturnsSignaturesForValidModel", "GetModelMetadata",
             _spec() + ' metadata_field: "signature_def"',
             expect=(("model_spec.name", MODEL), ("model_spec.version.value", 123),
                     ("len(metadata)", 1),
                     ("signature_def_keys", ["classify_x_to_y", "regress_x2_to_y3",
                                             "regress_x_to_y", "regress_x_to_y2",
                                             "serving_default"]))),
    # --- multi_inference_test.cc ----------------------------------------------------------------
    GrpcCase(MULTI_TEST + "MissingInputTest", "MultiInference", _task("regress_x_to_y", REGRESS),
             "INVALID_ARGUMENT", "Input is empty"),
    GrpcCase(MULTI_TEST + "UndefinedSignatureTest", "MultiInference",
             _examples(_float("x", 2)) + " " + _task("ThisSignatureDoesNotExist", REGRESS),
             "INVALID_ARGUMENT", "signature not found"),
    GrpcCase(MULTI_TEST + "InconsistentModelSpecsInRequestTest", "MultiInference",
             _examples(_float("x", 2)) + " " + _task("regress_x_to_y", REGRESS) + " "
             + _task("regress_x_to_y", REGRESS, name="ModelDoesNotExist"),
             "INVALID_ARGUMENT", "must access the same model name"),
    GrpcCase(MULTI_TEST + "EvaluateDuplicateSignaturesTest", "MultiInference",
             _examples(_float("x", 2)) + " " + _task("regress_x_to_y", REGRESS) + " "
             + _task("regress_x_to_y", REGRESS),
             "INVALID_ARGUMENT", "Duplicate evaluation of signature: regress_x_to_y"),
    GrpcCase(MULTI_TEST + "UsupportedSignatureTypeTest", "MultiInference",
             _examples(_float("x", 2)) + " "
             + _task("serving_default", "tensorflow/serving/predict"),
             "UNIMPLEMENTED", "Unsupported signature"),
    GrpcCase(MULTI_TEST + "SignaturesWithDifferentInputsTest", "MultiInference",
             _examples(_float("x", 2) + " " + _float("x2", 2)) + " "
             + _task("regress_x_to_y", REGRESS) + " " + _task("regress_x2_to_y3", REGRESS),
             "INVALID_ARGUMENT", "Input tensor must be the same"),
    GrpcCase(MULTI_TEST + "ValidSingleSignatureTest", "MultiInference",
             _examples(_float("x", 2)) + " " + _task("regress_x_to_y", REGRESS),
             expect=(("len(results)", 1), ("results[0].regression_result.regressions[0].value",
                                           3.0))),
    GrpcCase(MULTI_TEST + "MultipleValidRegressSignaturesTest", "MultiInference",
             _examples(_float("x", 2)) + " " + _task("regress_x_to_y", REGRESS) + " "
             + _task("regress_x_to_y2", REGRESS),
             expect=(("results[0].regression_result.regressions[0].value", 3.0),
                     ("results[1].regression_result.regressions[0].value", 4.0))),
    GrpcCase(MULTI_TEST + "RegressAndClassifySignaturesTest", "MultiInference",
             _examples(_float("x", 2)) + " " + _task("regress_x_to_y", REGRESS) + " "
             + _task("classify_x_to_y", CLASSIFY),
             expect=(("results[0].regression_result.regressions[0].value", 3.0),
                     ("results[1].classification_result.classifications[0].classes[0].score",
                      3.0))),
    # --- classifier_test.cc (SavedModel variant), on fake_classifier ----------------------------
    GrpcCase(CLASSIFIER_TEST + "ExampleList", "Classify", _fake() + " " + _TWO,
             expect=_TWO_RESULT),
    GrpcCase(CLASSIFIER_TEST + "ExampleListWithContext", "Classify", _fake() + " " + _examples(
        "", "", context=_classes(("dos", 2), ("uno", 1))),
        expect=(("result.classifications[0].classes[0].label", "dos"),
                ("result.classifications[0].classes[1].score", 1.0),
                ("result.classifications[1].classes[0].label", "dos"),
                ("result.classifications[1].classes[1].score", 1.0))),
    GrpcCase(CLASSIFIER_TEST + "ExampleListWithContext_DuplicateFeatures", "Classify",
             _fake() + " " + _examples("", _classes(("tres", 3), ("cuatro", 4)),
                                       context=_classes(("uno", 1), ("dos", 2))),
             expect=(("result.classifications[0].classes[0].label", "uno"),
                     ("result.classifications[0].classes[1].score", 2.0),
                     ("result.classifications[1].classes[0].label", "tres"),
                     ("result.classifications[1].classes[1].score", 4.0))),
    GrpcCase(CLASSIFIER_TEST + "ClassesOnly", "Classify", _fake("classes_only") + " " + _TWO,
             expect=(("result.classifications[0].classes[0].label", "dos"),
                     ("result.classifications[1].classes[1].label", "tres"),
                     ("result.classifications[0].classes[0].score", 0.0))),
    GrpcCase(CLASSIFIER_TEST + "ScoresOnly", "Classify", _fake("scores_only") + " " + _TWO,
             expect=(("result.classifications[0].classes[0].label", ""),
                     ("result.classifications[0].classes[0].score", 2.0),
                     ("result.classifications[1].classes[1].score", 3.0))),
    GrpcCase(CLASSIFIER_TEST + "ZeroScoresArePresent", "Classify", _fake("scores_only") + " "
             + _examples(_classes(("minus", -1), ("zero", 0), ("one", 1))),
             expect=(("len(result.classifications[0].classes)", 3),
                     ("result.classifications[0].classes[0].score", -1.0),
                     ("result.classifications[0].classes[1].score", 0.0),
                     ("result.classifications[0].classes[2].score", 1.0))),
    GrpcCase(CLASSIFIER_TEST + "ValidNamedSignature", "Classify",
             _fake("output_plus_one") + " " + _TWO,
             expect=(("result.classifications[0].classes[0].score", 3.0),
                     ("result.classifications[0].classes[1].score", 2.0),
                     ("result.classifications[1].classes[0].score", 5.0),
                     ("result.classifications[1].classes[1].score", 4.0))),
    GrpcCase(CLASSIFIER_TEST + "InvalidNamedSignature", "Classify",
             _fake("invalid_regression_signature") + " " + _TWO, "INVALID_ARGUMENT"),
    GrpcCase(CLASSIFIER_TEST + "MalformedScores", "Classify",
             _fake("ImproperlySizedScoresSignature") + " " + _TWO, "INVALID_ARGUMENT"),
    GrpcCase(CLASSIFIER_TEST + "EmptyInput", "Classify", _fake() + " input { }",
             "INVALID_ARGUMENT", "Input is empty"),
    GrpcCase(CLASSIFIER_TEST + "EmptyExampleList", "Classify",
             _fake() + " input { example_list { } }", "INVALID_ARGUMENT", "Input is empty"),
    GrpcCase(CLASSIFIER_TEST + "EmptyExampleListWithContext", "Classify", _fake() + (
        " input { example_list_with_context { context { features { "
        + _classes(("dos", 2)) + " } } } }"), "INVALID_ARGUMENT", "Input is empty"),
    GrpcCase(CLASSIFIER_TEST + "RunsFails", "Classify", _fake("run_fails") + " " + _TWO,
             "INVALID_ARGUMENT", "Run totally failed"),
    GrpcCase(CLASSIFIER_TEST + "ClassesIncorrectTensorBatchSize", "Classify",
             _fake("classes_batch_1") + " " + _TWO, "INVALID_ARGUMENT", "batch size"),
    GrpcCase(CLASSIFIER_TEST + "ClassesIncorrectTensorType", "Classify",
             _fake("classes_float") + " " + _TWO, "INVALID_ARGUMENT",
             "Expected classes Tensor of DT_STRING"),
    GrpcCase(CLASSIFIER_TEST + "ScoresIncorrectTensorBatchSize", "Classify",
             _fake("scores_batch_1") + " " + _TWO, "INVALID_ARGUMENT", "batch size"),
    GrpcCase(CLASSIFIER_TEST + "ScoresIncorrectTensorType", "Classify",
             _fake("scores_string") + " " + _TWO, "INVALID_ARGUMENT",
             "Expected scores Tensor of DT_FLOAT"),
    GrpcCase(CLASSIFIER_TEST + "MismatchedNumberOfTensorClasses", "Classify",
             _fake("three_scores") + " " + _TWO, "INVALID_ARGUMENT",
             "Tensors class and score should match in dim_size(1). Got 2 vs. 3"),
    # --- regressor_test.cc (SavedModel variant), on fake_regressor ------------------------------
    GrpcCase(REGRESSOR_TEST + "BasicExampleList", "Regress", _regressor() + " " + _outputs(2, 3),
             expect=(("len(result.regressions)", 2), ("result.regressions[0].value", 2.0),
                     ("result.regressions[1].value", 3.0))),
    GrpcCase(REGRESSOR_TEST + "BasicExampleListWithContext", "Regress", _regressor() + " "
             + _examples("", "", context=_float("output", 3)),
             expect=(("len(result.regressions)", 2), ("result.regressions[0].value", 3.0),
                     ("result.regressions[1].value", 3.0))),
    GrpcCase(REGRESSOR_TEST + "ValidNamedSignature", "Regress",
             _regressor("output_plus_one") + " " + _outputs(2, 3),
             expect=(("result.regressions[0].value", 3.0), ("result.regressions[1].value", 4.0))),
    GrpcCase(REGRESSOR_TEST + "InvalidNamedSignature", "Regress",
             _regressor("invalid_classification_signature") + " " + _outputs(2, 3),
             "INVALID_ARGUMENT"),
    GrpcCase(REGRESSOR_TEST + "MalformedOutputs", "Regress",
             _regressor("ImproperlySizedOutputSignature") + " " + _outputs(2, 3),
             "INVALID_ARGUMENT"),
    GrpcCase(REGRESSOR_TEST + "EmptyInput", "Regress", _regressor() + " input { }",
             "INVALID_ARGUMENT", "Input is empty"),
    GrpcCase(REGRESSOR_TEST + "EmptyExampleList", "Regress",
             _regressor() + " input { example_list { } }", "INVALID_ARGUMENT", "Input is empty"),
    GrpcCase(REGRESSOR_TEST + "EmptyExampleListWithContext", "Regress", _regressor() + (
        " input { example_list_with_context { context { features { " + _float("output", 3)
        + " } } } }"), "INVALID_ARGUMENT", "Input is empty"),
    GrpcCase(REGRESSOR_TEST + "RunsFails", "Regress", _regressor("run_fails") + " " + _outputs(2),
             "INVALID_ARGUMENT", "Run totally failed"),
    GrpcCase(REGRESSOR_TEST + "UnexpectedOutputTensorSize", "Regress",
             _regressor("two_outputs") + " " + _outputs(2), "INVALID_ARGUMENT",
             "output batch size"),
    GrpcCase(REGRESSOR_TEST + "UnexpectedOutputTensorType", "Regress",
             _regressor("string_output") + " " + _outputs(2), "INVALID_ARGUMENT",
             "Expected output Tensor of DT_FLOAT"),
    # --- tensorflow_model_server_test.py, gRPC --------------------------------------------------
    GrpcCase(SERVER_TEST + "testGetModelStatus", "GetModelStatus", 'model_spec { name: "default" }',
             expect=(("len(model_version_status)", 1), ("model_version_status[0].version", 123),
                     ("model_version_status[0].status.error_code", 0))),
    GrpcCase(SERVER_TEST + "testClassify", "Classify",
             _spec("default", None, "classify_x_to_y") + " " + _examples(_float("x", 2)),
             expect=(("len(result.classifications)", 1),
                     ("len(result.classifications[0].classes)", 1),
                     ("result.classifications[0].classes[0].score", 3.0),
                     ("model_spec.name", "default"), ("model_spec.version.value", 123),
                     ("model_spec.signature_name", "classify_x_to_y"))),
    GrpcCase(SERVER_TEST + "testRegress", "Regress",
             _spec("default", None, "regress_x_to_y") + " " + _examples(_float("x", 2)),
             expect=(("len(result.regressions)", 1), ("result.regressions[0].value", 3.0),
                     ("model_spec.name", "default"), ("model_spec.version.value", 123),
                     ("model_spec.signature_name", "regress_x_to_y"))),
    GrpcCase(SERVER_TEST + "testMultiInference", "MultiInference",
             _examples(_float("x", 2)) + " " + _task("regress_x_to_y", REGRESS, "default") + " "
             + _task("classify_x_to_y", CLASSIFY, "default"),
             expect=(("len(results)", 2),
                     ("results[0].regression_result.regressions[0].value", 3.0),
                     ("results[1].classification_result.classifications[0].classes[0].score",
                      3.0),
                     ("results[0].model_spec.signature_name", "regress_x_to_y"),
                     ("results[1].model_spec.version.value", 123))),
    GrpcCase(SERVER_TEST + "testPredictSavedModel", "Predict",
             'model_spec { name: "default" } ' + _X2_SHAPED + ' output_filter: "y"',
             expect=(("outputs[y].dtype", 1), ("len(outputs[y].float_val)", 1),
                     ("outputs[y].float_val[0]", 3.0), ("model_spec.version.value", 123),
                     ("model_spec.signature_name", "serving_default"))),
    GrpcCase(SERVER_TEST + "testPredictSavedModel", "Predict",
             'model_spec { name: "default" } ' + _X2_SHAPED,
             expect=(("outputs[y].float_val[0]", 3.0),)),
    GrpcCase(SERVER_TEST + "testGoodModelConfig", "Predict",
             'model_spec { name: "half_plus_three" } ' + _X2_SHAPED + ' output_filter: "y"',
             expect=(("outputs[y].float_val[0]", 4.0),)),
    GrpcCase(SERVER_TEST + "testGoodModelConfig", "Predict",
             'model_spec { name: "half_plus_three" } ' + _X2_SHAPED,
             expect=(("outputs[y].float_val[0]", 4.0),)),
]
