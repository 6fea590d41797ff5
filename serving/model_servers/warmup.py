"""TF Serving warmup: replay a version's `assets.extra/tf_serving_warmup_requests` on load.

Follows servables/tensorflow/saved_model_warmup.cc (and saved_model_warmup_util.cc): with
`--enable_model_warmup`, the PredictionLogs of the file run before the version takes traffic.
The export writes the file (components/trainer/warmup.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from serving.contract import WARMUP_FILE


def read_warmup_requests(version_dir: str | os.PathLike) -> list[prediction_log_pb2.PredictionLog]:
    """The PredictionLogs of a version's warmup file (none when there is no file)."""
    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        return []
    return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
            for record in tf.data.TFRecordDataset(str(path))]
