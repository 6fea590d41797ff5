"""The serving contract: signature, input and output names, neutral values, warmup file, scores.

The export writes a SavedModel that keeps this contract; the server, client, warmup, evaluator
and CLI read it from here. No TensorFlow and no model code, so any side can import it cheaply.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import numpy as np

from data import encoding

# --- signatures -----------------------------------------------------------------------------
GENERATE_SIGNATURE = "serving_default"  # what TF Serving runs when no signature_name is given
SCORE_SIGNATURE = "score"
SIGNATURES = (GENERATE_SIGNATURE, SCORE_SIGNATURE)

# --- generation (serving_default) -----------------------------------------------------------
# Each input: its dtype (a TensorFlow dtype name) and the neutral value that switches it off.
GENERATION_INPUTS: dict[str, tuple[str, object]] = {
    "prefix": ("string", ""),
    "temperature": ("float32", 1.0),
    "seed": ("int64", 0),
    "max_length": ("int32", encoding.MAX_NAME_LENGTH),
    "top_k": ("int32", 0),
    "top_p": ("float32", 1.0),
    "min_length": ("int32", 0),
    "no_copy": ("bool", False),
}
GENERATION_OUTPUTS = ("name", "log_prob", "length")

# --- scoring (score) ------------------------------------------------------------------------
SCORE_INPUT = "name"
SCORE_INPUTS: dict[str, tuple[str, object]] = {SCORE_INPUT: ("string", "")}
# position_log_probs: [batch, SEQUENCE_LENGTH], log p of each character then of end-of-name; 0 after
SCORE_OUTPUTS = ("log_likelihood", "num_predictions", "nats_per_char", "position_log_probs")

# Every input of every signature, by name: its dtype name.
INPUT_DTYPES: dict[str, str] = {name: dtype for name, (dtype, _) in
                                {**GENERATION_INPUTS, **SCORE_INPUTS}.items()}

# --- files in a version's assets.extra/ -------------------------------------------------------
ASSETS_EXTRA = "assets.extra"
WARMUP_FILE_NAME = "tf_serving_warmup_requests"  # TF Serving's name for the warmup TFRecord
METADATA_FILE_NAME = "namegen.json"  # vocabulary, tokens, lengths, preset, metrics
GATE_FILE_NAME = "gate.json"  # the evaluation gate's verdict and metrics, added by the Pusher
# The same files as paths inside a version folder.
WARMUP_FILE = os.path.join(ASSETS_EXTRA, WARMUP_FILE_NAME)
METADATA_FILE = os.path.join(ASSETS_EXTRA, METADATA_FILE_NAME)
GATE_FILE = os.path.join(ASSETS_EXTRA, GATE_FILE_NAME)

_NUMPY_DTYPES = {"string": object, "float32": np.float32, "int64": np.int64, "int32": np.int32,
                 "bool": np.bool_}


def generation_columns(n: int, seeds: list[int] | None = None, **values) -> dict[str, list]:
    """n rows of serving_default inputs as lists; scalars are repeated, lists used as given.

    Inputs not given take their neutral value; an unknown input name is a ValueError.
    """
    unknown = set(values) - set(GENERATION_INPUTS)
    if unknown:
        raise ValueError(f"unknown generation inputs {sorted(unknown)}; "
                         f"known: {sorted(GENERATION_INPUTS)}")
    if seeds is not None:
        values["seed"] = list(seeds)
    columns = {}
    for key, (_, neutral) in GENERATION_INPUTS.items():
        value = values.get(key, neutral)
        columns[key] = list(value) if isinstance(value, list | tuple) else [value] * n
    return columns


def generation_request(n: int, seeds: list[int] | None = None,
                       **values) -> dict[str, np.ndarray]:
    """generation_columns as arrays of the signature's dtypes, ready to call serving_default."""
    return {key: np.array(column, dtype=_NUMPY_DTYPES[GENERATION_INPUTS[key][0]])
            for key, column in generation_columns(n, seeds, **values).items()}


def summarize_scores(batches: Iterable[Mapping[str, object]]) -> dict:
    """Score outputs of one or more batches -> mean nats (and bits) per predicted character.

    Each batch holds `log_likelihood` and `num_predictions` per name (end-of-name counts as a
    prediction). The sum runs in float64, so the order of batches does not matter.
    """
    total, count, names = 0.0, 0, 0
    for batch in batches:
        log_likelihood = np.asarray(batch["log_likelihood"], np.float64).reshape(-1)
        total -= float(log_likelihood.sum())
        count += int(np.asarray(batch["num_predictions"], np.int64).sum())
        names += log_likelihood.size
    nats = total / max(count, 1)
    return {"names": names, "predictions": count, "nats_per_char": nats,
            "bits_per_char": nats / math.log(2)}
