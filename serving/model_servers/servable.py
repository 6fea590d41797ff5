"""One loaded SavedModel version that runs its signatures in-process.

Follows TF Serving's servables/tensorflow/saved_model_bundle_factory.cc (loading) and
predict_util.cc (input checks, dtype names, error texts).
"""

from __future__ import annotations

from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from serving import contract, graph_errors
from serving.errors import ServingError, code_from_value

DEFAULT_SIGNATURE = contract.GENERATE_SIGNATURE


class Servable:
    """One SavedModel version, loaded once; runs its signatures in-process."""

    def __init__(self, name: str, version: int, path: Path):
        self.name, self.version, self.path = name, version, path
        saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        self.signature_defs: dict[str, meta_graph_pb2.SignatureDef] = dict(
            saved_model.meta_graphs[0].signature_def)
        self._loaded = tf.saved_model.load(str(path))
        self._functions = dict(self._loaded.signatures)

    def signature(self, signature_name: str) -> meta_graph_pb2.SignatureDef:
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self._functions:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION,
                               f'Serving signature key "{key}" not found.')
        return self.signature_defs[key]

    def input_dtypes(self, signature_name: str) -> dict[str, np.dtype]:
        inputs = self.signature(signature_name).inputs
        return {name: _numpy_dtype(info.dtype) for name, info in inputs.items()}

    def run(self, signature_name: str, inputs: dict[str, np.ndarray],
            output_filter: list[str] | tuple = ()) -> dict[str, np.ndarray]:
        """The signature's outputs for `inputs`, validated as TF Serving's predict_util does."""
        signature = self.signature(signature_name)
        expected, sent = set(signature.inputs), set(inputs)
        if expected != sent:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}."))
        for index, alias in enumerate(output_filter):
            if alias in output_filter[:index]:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"duplicate output tensor alias: {alias}")
            if alias not in signature.outputs:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, (
                    f"output tensor alias not found in signature: {alias} Outputs expected to be "
                    f"in the set {{{','.join(sorted(signature.outputs))}}}."))
        tensors = {}
        for position, (name, array) in enumerate(sorted(inputs.items())):
            dtype = tf.dtypes.as_dtype(signature.inputs[name].dtype)
            given = tf.dtypes.as_dtype(array.dtype) if array.dtype != object else tf.string
            if given != dtype:
                raise ServingError(grpc.StatusCode.INVALID_ARGUMENT,
                                   f"Expects arg[{position}] to be {type_string(dtype)} but "
                                   f"{type_string(given)} "
                                   f"is provided")
            tensors[name] = tf.constant(array, dtype)
        try:
            outputs = self._functions[signature_name or DEFAULT_SIGNATURE](**tensors)
        except tf.errors.OpError as error:
            raise ServingError(code_from_value(error.error_code),
                               graph_errors.one_line(error.message)) from None
        except (TypeError, ValueError) as error:
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from None
        wanted = output_filter or list(outputs)
        return {name: outputs[name].numpy() for name in wanted}


def type_string(dtype: tf.dtypes.DType) -> str:
    """TensorFlow's DataTypeString: 'float', 'double', 'int64', 'string', ..."""
    return types_pb2.DataType.Name(dtype.as_datatype_enum)[3:].lower()


def _numpy_dtype(dtype_enum: int) -> np.dtype:
    dtype = tf.dtypes.as_dtype(dtype_enum)
    return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)
