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
SAMPLE_SIGNATURE = "sample"  # generation with every sampler control (neutral values: raw model)
SCORE_SIGNATURE = "score"
SIGNATURES = (GENERATE_SIGNATURE, SAMPLE_SIGNATURE, SCORE_SIGNATURE)

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

# --- The default sampler: `namegen generate`, the playground, `namegen run`'s ten names, the
# report's samples and the gate (docs/QUALITY.md, "the default sampler"). One place.
# temperature 1 and no top-p: of T 0.6-1.0 and top-p 0.7-0.95 it had the best reverse score,
# fewest copies and most distinct names per prefix. length_calibration: what the export fitted
# to the training names (an end-of-name bias per length, and the case transitions they make).
# eta: the entropy-scaled tail cut, chosen by `namegen bench quality`.
# no_copy and unique are per-request product choices; the REST/gRPC contract keeps them off.
SAMPLER = dict(
    temperature=1.0,
    top_k=0,
    top_p=1.0,
    min_length=0,
    eta=0.001,
    length_calibration=True,
    no_copy=True,
    unique=True,
)

# --- generation with every control (sample) ---------------------------------------------------
# serving_default's inputs are fixed: TF Serving's REST API requires every input of a signature
# ("Missing named input"), so a new input there would break every client. The newer controls
# live in their own signature; with all of them neutral it is the raw model, exactly.
SAMPLE_INPUTS: dict[str, tuple[str, object]] = {
    **GENERATION_INPUTS,
    "eta": ("float32", 0.0),  # entropy-scaled tail cut (eta sampling); 0 = off
    # the export's end-of-name bias and case transitions (components/trainer/calibration.py)
    "length_calibration": ("bool", False),  # false = raw model
    "unique": ("int32", 0),  # n in each row of a request of n rows: n different names; 0 = off
}
# What serving_default does for the controls it does not take: the served sampler's length
# calibration and tail cut (SAMPLER), and no de-duplication (raw clients see the model).
SERVING_DEFAULT_CONTROLS: dict[str, object] = {
    "eta": SAMPLER["eta"],
    "length_calibration": SAMPLER["length_calibration"],
    "unique": 0,
}

# --- scoring (score) ------------------------------------------------------------------------
SCORE_INPUT = "name"
SCORE_INPUTS: dict[str, tuple[str, object]] = {SCORE_INPUT: ("string", "")}
# position_log_probs: [batch, SEQUENCE_LENGTH], log p of each character then of end-of-name; 0 after
SCORE_OUTPUTS = ("log_likelihood", "num_predictions", "nats_per_char", "position_log_probs")

# Every input of every signature, by name: its dtype name.
INPUT_DTYPES: dict[str, str] = {name: dtype for name, (dtype, _) in
                                {**SAMPLE_INPUTS, **SCORE_INPUTS}.items()}
SIGNATURE_INPUTS: dict[str, dict[str, tuple[str, object]]] = {
    GENERATE_SIGNATURE: GENERATION_INPUTS, SAMPLE_SIGNATURE: SAMPLE_INPUTS,
    SCORE_SIGNATURE: SCORE_INPUTS}

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


def generation_signature(**values) -> str:
    """serving_default when every given control is one it takes, else the `sample` signature."""
    return GENERATE_SIGNATURE if set(values) <= set(GENERATION_INPUTS) else SAMPLE_SIGNATURE


def generation_columns(n: int, seeds: list[int] | None = None,
                       signature: str | None = None, **values) -> dict[str, list]:
    """n rows of a generation signature's inputs as lists; scalars repeated, lists as given.

    The signature is serving_default unless a control only `sample` takes is given. Inputs not
    given take their neutral value; an unknown input name is a ValueError. unique=True means
    "these n names all differ" (n in each row).
    """
    signature = signature or generation_signature(**values)
    inputs = SIGNATURE_INPUTS[signature]
    unknown = set(values) - set(inputs)
    if unknown:
        raise ValueError(f"unknown {signature} inputs {sorted(unknown)}; "
                         f"known: {sorted(inputs)}")
    if seeds is not None:
        values["seed"] = list(seeds)
    if isinstance(values.get("unique"), bool):
        values["unique"] = n if values["unique"] else 0
    columns = {}
    for key, (_, neutral) in inputs.items():
        value = values.get(key, neutral)
        columns[key] = list(value) if isinstance(value, list | tuple) else [value] * n
    return columns


def generation_request(n: int, seeds: list[int] | None = None, signature: str | None = None,
                       **values) -> dict[str, np.ndarray]:
    """generation_columns as arrays of the signature's dtypes, ready to call the signature."""
    return {key: np.array(column, dtype=_NUMPY_DTYPES[INPUT_DTYPES[key]])
            for key, column in generation_columns(n, seeds, signature, **values).items()}


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
