"""Classify, Regress and MultiInference: tf.Example inputs, as TF Serving's servables run them.

Follows servables/tensorflow/classifier.cc, regressor.cc and multi_inference.cc.

The REST body (`{"signature_name"?, "context"?, "examples": [...]}`) becomes an `Input` proto
with TF Serving's validation texts (util/json_tensor.cc); any SavedModel signature with the
classify or regress method name then runs on the serialized examples, checked and shaped as
servables/tensorflow/{classifier,regressor,multi_inference}.cc do.
"""

from __future__ import annotations

import base64
import binascii

import grpc
import numpy as np
from tensorflow.core.example import example_pb2, feature_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    inference_pb2,
    input_pb2,
    model_pb2,
    regression_pb2,
)

from serving.errors import ServingError
from serving.model_servers import json_tensor
from serving.model_servers.servable import DEFAULT_SIGNATURE, Servable

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


# --- JSON -> Input ------------------------------------------------------------------------------
def _json_kind(value) -> str:
    if json_tensor._is_b64(value) or isinstance(value, str):
        return "bytes"
    if isinstance(value, (bool, int)):
        return "int64"
    if isinstance(value, float):
        return "float"
    return json_tensor._type_string(value)


def _feature(name: str, value) -> feature_pb2.Feature:
    values = value if isinstance(value, list) else [value]
    feature = feature_pb2.Feature()
    kind = _json_kind(values[0]) if values else "bytes"
    for item in values:
        item_kind = _json_kind(item)
        if item_kind not in ("bytes", "int64", "float"):
            raise _invalid(f"{name} has element with unexpected JSON type: {item_kind}")
        if item_kind != kind and not (kind == "float" and item_kind == "int64"):
            raise _invalid(f"feature: {name} expecting type: {kind}")
        if kind == "bytes":
            if isinstance(item, str):
                feature.bytes_list.value.append(item.encode("utf-8"))
                continue
            try:
                feature.bytes_list.value.append(base64.b64decode(item["b64"], validate=True))
            except (binascii.Error, ValueError):
                raise _invalid("Unable to base64 decode") from None
        elif kind == "int64":
            if not -(2**63) <= int(item) < 2**63:
                raise _invalid(f"Only int64 is supported: feature: {name} value: {item}")
            feature.int64_list.value.append(int(item))
        else:
            if abs(float(item)) > _FLOAT32_MAX and np.isfinite(float(item)):
                raise _invalid(f"Cannot convert JSON value: {item} to float without loss of "
                               "precision.")
            feature.float_list.value.append(float(item))
    return feature


def _example(value) -> example_pb2.Example:
    if not isinstance(value, dict) or json_tensor._is_b64(value):
        raise _invalid(f"Example must be JSON object but got JSON "
                       f"{json_tensor._type_string(value)}")
    example = example_pb2.Example()
    for name, item in value.items():
        example.features.feature[name].CopyFrom(_feature(name, item))
    return example


def input_from_json(document: dict, verb: str, max_rows: int | None = None) -> input_pb2.Input:
    """The Input of a :classify or :regress body (json_tensor.cc's FillClassificationRequest).

    max_rows: more examples than this are refused before any is converted (--max-rows).
    """
    request_input = input_pb2.Input()
    context = document.get("context")
    if "examples" not in document:
        if context is not None:
            _example(context)
        raise _invalid(f"JSON Value: {json_tensor.value_to_string(document)} When method is "
                       f"{verb}, key 'examples' is expected and was not found")
    examples = document["examples"]
    if not isinstance(examples, list):
        raise _invalid(f"JSON Value: {json_tensor.value_to_string(examples)} Excepting "
                       "'examples' to be an list/array")
    if max_rows is not None and len(examples) > max_rows:
        raise _invalid(f"examples has {len(examples)} rows; this server takes at most "
                       f"{max_rows} rows per request (--max-rows)")
    if context is not None:
        target = request_input.example_list_with_context
        target.context.CopyFrom(_example(context))
    else:
        target = request_input.example_list
    for item in examples:
        target.examples.add().CopyFrom(_example(item))
    return request_input


def classification_json(result: classification_pb2.ClassificationResult) -> dict:
    if not result.classifications:
        raise _invalid("empty ClassificationResults")
    return {"results": [[[c.label, json_tensor.float32_text(c.score)] for c in row.classes]
                        for row in result.classifications]}


def regression_json(result: regression_pb2.RegressionResult) -> dict:
    if not result.regressions:
        raise _invalid("empty RegressionResults")
    return {"results": [json_tensor.float32_text(r.value) for r in result.regressions]}


# --- running ------------------------------------------------------------------------------------
def input_size(request_input: input_pb2.Input) -> tuple[int, int]:
    """(examples, bytes once the context is merged into each) of an Input, computed without
    building anything: what the row and byte limits are checked against."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = request_input.example_list.examples
        return len(examples), sum(e.ByteSize() for e in examples)
    if kind == "example_list_with_context":
        examples = request_input.example_list_with_context.examples
        context = request_input.example_list_with_context.context.ByteSize()
        return len(examples), sum(e.ByteSize() + context for e in examples)
    return 0, 0


def serialized_examples(request_input: input_pb2.Input) -> np.ndarray:
    """The examples as the string tensor the signature is fed (context merged into each)."""
    kind = request_input.WhichOneof("kind")
    if kind == "example_list":
        examples = list(request_input.example_list.examples)
    elif kind == "example_list_with_context":
        context = request_input.example_list_with_context.context
        examples = []
        for example in request_input.example_list_with_context.examples:
            merged = example_pb2.Example()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            examples.append(merged)
    else:
        examples = []
    if not examples:
        raise _invalid("Input is empty.")
    return np.array([e.SerializeToString() for e in examples], dtype=object)


def _signature(servable: Servable, signature_name: str, method: str, what: str):
    key = signature_name or DEFAULT_SIGNATURE
    if key not in servable.signature_defs:
        raise _invalid(f"No signature was found with the name: {key}")
    signature = servable.signature_defs[key]
    if signature.method_name != method:
        raise _invalid(f"Expected {what} signature method_name to be {method}. Was: "
                       f"{signature.method_name}")
    if len(signature.inputs) != 1:
        raise _invalid("Expected one input Tensor.")
    return key, signature


def _run(servable: Servable, key: str, signature, examples: np.ndarray,
         outputs: list[str]) -> dict[str, np.ndarray]:
    input_name = next(iter(signature.inputs))
    return servable.run(key, {input_name: examples}, outputs)


def classify(servable: Servable, signature_name: str,
             request_input: input_pb2.Input) -> classification_pb2.ClassificationResult:
    key, signature = _signature(servable, signature_name, CLASSIFY_METHOD, "classification")
    if len(signature.outputs) not in (1, 2):
        raise _invalid(f"Expected one or two output Tensors, found {len(signature.outputs)}")
    if "inputs" not in signature.inputs:
        raise _invalid("No classification inputs found in SignatureDef: " + str(signature))
    wanted = [name for name in ("classes", "scores") if name in signature.outputs]
    if not wanted:
        raise _invalid('Expected classification signature outputs to contain at least one of '
                       f'"classes" or "scores". Signature was: {signature}')
    examples = serialized_examples(request_input)
    outputs = _run(servable, key, signature, examples, wanted)
    for name, dtype in (("classes", object), ("scores", np.float32)):
        if name not in outputs:
            continue
        tensor = outputs[name]
        if tensor.ndim != 2:
            raise _invalid(f"Expected Tensor shape: [batch_size num_classes] but got "
                           f"{list(tensor.shape)}")
        if tensor.dtype != dtype:
            raise _invalid(f"Expected {name} Tensor of "
                           f"{'DT_STRING' if dtype is object else 'DT_FLOAT'}.")
        if tensor.shape[0] != len(examples):
            raise _invalid(f"Expected {name} output batch size of {len(examples)}. Got: "
                           f"{tensor.shape[0]}")
    classes, scores = outputs.get("classes"), outputs.get("scores")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise _invalid(f"Tensors class and score should match in dim_size(1). Got "
                       f"{classes.shape[1]} vs. {scores.shape[1]}")
    width = (classes if classes is not None else scores).shape[1]
    result = classification_pb2.ClassificationResult()
    for row in range(len(examples)):
        classifications = result.classifications.add()
        for column in range(width):
            entry = classifications.classes.add()
            if classes is not None:
                entry.label = classes[row, column].decode("utf-8", errors="replace")
            if scores is not None:
                entry.score = float(scores[row, column])
    return result


def regress(servable: Servable, signature_name: str,
            request_input: input_pb2.Input) -> regression_pb2.RegressionResult:
    key, signature = _signature(servable, signature_name, REGRESS_METHOD, "regression")
    if len(signature.outputs) != 1:
        raise _invalid("Expected one output Tensor.")
    if "inputs" not in signature.inputs:
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                           f"No regression inputs found in SignatureDef: {signature}")
    if "outputs" not in signature.outputs:
        raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                           f"No regression outputs found in SignatureDef: {signature}")
    examples = serialized_examples(request_input)
    tensor = _run(servable, key, signature, examples, ["outputs"])["outputs"]
    if not (tensor.ndim == 1 or (tensor.ndim == 2 and tensor.shape[1] == 1)):
        raise _invalid("Expected output Tensor shape to be either [batch_size] or "
                       f"[batch_size, 1] but got {list(tensor.shape)}")
    if tensor.shape[0] != len(examples):
        raise _invalid(f"Input batch size did not match output batch size: {len(examples)} "
                       f"vs. {tensor.shape[0]}")
    if tensor.dtype != np.float32:
        raise _invalid(f"Expected output Tensor of DT_FLOAT.  Got: {tensor.dtype}")
    result = regression_pb2.RegressionResult()
    for value in tensor.reshape(-1):
        result.regressions.add(value=float(value))
    return result


def multi_inference(servable: Servable, request: inference_pb2.MultiInferenceRequest
                    ) -> inference_pb2.MultiInferenceResponse:
    """Every task on one input (multi_inference.cc): same model, same input tensor."""
    if not request.tasks:
        raise _invalid("Tasks is empty")
    seen, input_tensor = set(), None
    for task in request.tasks:
        if task.model_spec.name != request.tasks[0].model_spec.name:
            raise _invalid("All ModelSpecs in a MultiInferenceRequest must access the same "
                           "model name")
        key = task.model_spec.signature_name or DEFAULT_SIGNATURE
        if key in seen:
            raise _invalid(f"Duplicate evaluation of signature: {key}")
        seen.add(key)
        if key not in servable.signature_defs:
            raise _invalid(f"{key} signature not found")
        signature = servable.signature_defs[key]
        if task.method_name not in (CLASSIFY_METHOD, REGRESS_METHOD):
            raise ServingError(grpc.StatusCode.UNIMPLEMENTED,
                               f"Unsupported signature method_name: {task.method_name}")
        if signature.method_name != task.method_name:
            raise _invalid(f"Unsupported signature method_name: {signature.method_name} for "
                           f"task method_name: {task.method_name}")
        names = [info.name for info in signature.inputs.values()]
        if input_tensor is None:
            input_tensor = names
        elif names != input_tensor:
            raise _invalid("Input tensor must be the same for all Signatures.")
    serialized_examples(request.input)  # "Input is empty." before running anything
    response = inference_pb2.MultiInferenceResponse()
    for task in request.tasks:
        result = response.results.add()
        spec_for(result.model_spec, servable, task.model_spec.signature_name)
        if task.method_name == CLASSIFY_METHOD:
            result.classification_result.CopyFrom(
                classify(servable, task.model_spec.signature_name, request.input))
        else:
            result.regression_result.CopyFrom(
                regress(servable, task.model_spec.signature_name, request.input))
    return response


def spec_for(spec: model_pb2.ModelSpec, servable: Servable, signature_name: str) -> None:
    """Fills the response's effective ModelSpec."""
    spec.name = servable.name
    spec.version.value = servable.version
    spec.signature_name = signature_name or DEFAULT_SIGNATURE
