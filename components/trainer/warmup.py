"""The warmup file the export writes: `assets.extra/tf_serving_warmup_requests`, PredictionLogs.

TF Serving replays it with `--enable_model_warmup` before a version takes traffic (its
servables/tensorflow/saved_model_warmup.cc), and so does `namegen serve --enable-model-warmup`
(serving/model_servers/warmup.py). One request per batch size traces each shape path.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from data import encoding
from serving import contract

WARMUP_BATCH_SIZES = (1, 32, 256)
SAMPLE_WARMUP_SIZE = 10  # one `sample` request: `namegen generate`'s default count


def warmup_requests(model_name: str = encoding.MODEL_NAME,
                    batch_sizes: Sequence[int] = WARMUP_BATCH_SIZES,
                    score_names: Sequence[str] = ("",)) -> bytes:
    """The bytes of the warmup TFRecord: serving_default at each batch size, `sample` with the
    default sampler (as the playground and `namegen generate` call it), then score."""
    logs = []
    for size in batch_sizes:
        inputs = contract.generation_columns(size, seeds=list(range(size)), temperature=0.8)
        logs.append(_predict_log(model_name, contract.GENERATE_SIGNATURE, inputs))
    size = SAMPLE_WARMUP_SIZE
    logs.append(_predict_log(model_name, contract.SAMPLE_SIGNATURE, contract.generation_columns(
        size, seeds=list(range(size)), signature=contract.SAMPLE_SIGNATURE, **contract.SAMPLER)))
    logs.append(_predict_log(model_name, contract.SCORE_SIGNATURE,
                             {contract.SCORE_INPUT: list(score_names)}))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, contract.WARMUP_FILE_NAME)
        with tf.io.TFRecordWriter(path) as writer:
            for log in logs:
                writer.write(log.SerializeToString(deterministic=True))  # map keys sorted
        with open(path, "rb") as f:
            return f.read()


def _predict_log(model_name: str, signature_name: str,
                 columns: dict[str, list]) -> prediction_log_pb2.PredictionLog:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, values in columns.items():
        request.inputs[name].CopyFrom(
            tf.make_tensor_proto(values, contract.INPUT_DTYPES[name], shape=[len(values)]))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
