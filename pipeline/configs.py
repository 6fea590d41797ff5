"""The pipeline's defaults: splits, presets, validation, gate, drift, paths.

The names and tokens every layer shares (model name, features, special tokens, lengths) are in
data/encoding.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from data.encoding import MAX_NAME_LENGTH
from serving import contract

PIPELINE_NAME = "namegen"

# --- Data split (the shared names and tokens: data/encoding.py) ----------------------------
TRAIN_BUCKETS = 9  # train:eval hash buckets, split on the name itself
EVAL_BUCKETS = 1

# --- Training presets ----------------------------------------------------------------------
PRESETS: dict[str, dict] = {
    # The reference TensorFlow tutorial: unmasked loss averaged over padding, Adam defaults.
    "tutorial": dict(
        embedding_dim=256, rnn_units=1024, num_layers=1, dropout=0.0, embedding_dropout=0.0,
        batch_size=64, epochs=20, learning_rate=1e-3, lr_schedule="constant", warmup_epochs=0,
        weight_decay=0.0, label_smoothing=0.0, clip_norm=0.0, mask_padding=False, patience=0,
        recurrent_dropout=0.0, ema_decay=0.0, restore_best=True, weight_drop=0.0,
        locked_dropout=False, tie_embeddings=False, case_sharing=False,
        smooth_within_case=False, ngram_teacher=0.0, teacher_end_of_name=True,
    ),
    # Chosen for held-out nats per character on the dinosaur list (docs/QUALITY.md, levers).
    # ngram_teacher: weight of a cross-fitted Kneser-Ney teacher's targets (training only);
    # teacher_end_of_name=False: the teacher's end-of-name mass is replaced by the label's, so
    # when to stop is learned from the data alone (docs/QUALITY.md, fidelity levers).
    "default": dict(
        embedding_dim=256, rnn_units=512, num_layers=1, dropout=0.2, embedding_dropout=0.2,
        batch_size=32, epochs=20, learning_rate=5e-3, lr_schedule="cosine", warmup_epochs=1,
        weight_decay=1e-2, label_smoothing=0.05, clip_norm=1.0, mask_padding=True, patience=10,
        recurrent_dropout=0.0, ema_decay=0.0, restore_best=True, weight_drop=0.4,
        locked_dropout=False, tie_embeddings=False, case_sharing=True,
        smooth_within_case=True, ngram_teacher=0.6, teacher_end_of_name=True,
    ),
    # Seconds-scale model for tests and smoke runs.
    "tiny": dict(
        embedding_dim=8, rnn_units=16, num_layers=1, dropout=0.0, embedding_dropout=0.0,
        batch_size=16, epochs=2, learning_rate=1e-2, lr_schedule="constant", warmup_epochs=0,
        weight_decay=0.0, label_smoothing=0.0, clip_norm=1.0, mask_padding=True, patience=0,
        recurrent_dropout=0.0, ema_decay=0.0, restore_best=True, weight_drop=0.0,
        locked_dropout=False, tie_embeddings=False, case_sharing=False,
        smooth_within_case=False, ngram_teacher=0.0, teacher_end_of_name=True,
    ),
}
DEFAULT_PRESET = "default"
DEFAULT_SEED = 42


def hyperparameters(
    preset: str = DEFAULT_PRESET, overrides: dict | None = None, seed: int = DEFAULT_SEED
) -> dict:
    """The preset's hyperparameters with overrides applied and type-checked."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    params = dict(PRESETS[preset], preset=preset, seed=seed)
    for key, value in (overrides or {}).items():
        if key not in params:
            raise ValueError(f"unknown hyperparameter {key!r}; known: {sorted(params)}")
        params[key] = _coerce(key, value, params[key])
    return params


def _coerce(key: str, value, current):
    if not isinstance(value, str):
        return value
    try:
        if isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return type(current)(value)
    except ValueError as error:
        expected = type(current).__name__
        raise ValueError(f"hyperparameter {key}={value!r}: expected {expected}") from error


# --- Data validation (NameValidator; the schema is pipeline/schema/schema.pbtxt) ------------
VALIDATION = dict(
    max_length=MAX_NAME_LENGTH,
    allowed_characters="",  # e.g. "ABCabc-" to reject anything else; empty: any character
    min_names={"train": 10, "eval": 1},
)
# The default sampler (`namegen generate`, the playground, the gate, the report): contract.SAMPLER.

# --- Evaluation gate ------------------------------------------------------------------------
GATE = dict(
    max_nats_per_char=2.2,  # absolute ceiling on held-out nats per character
    max_regression=0.02,  # allowed nats/char worse than the served model (newest pushed version)
    min_validity=0.99,  # share of samples that end with end-of-name before the cap
    # Sample fidelity (components/evaluator/fidelity.py) at sample_temperature, each against
    # its real-vs-real floor. Loose enough for the tests' 3-epoch tiny model (0.20 and 0.39
    # above the floors); a sampler with a second temperature of 0.4 fails (docs/QUALITY.md).
    # length TV at most the real-vs-real noise of the split (99th percentile of 50 splits,
    # fidelity.length_tv_noise) plus this margin
    max_length_tv_over_noise=0.03,
    max_reverse_score_over_floor=0.5,  # reverse score (nats/char) at most this above the floor
    # copies at most what a reference Kneser-Ney of the same list copies, plus this many
    # standard errors (fidelity.reference_copy_rate)
    copy_rate_sigmas=3.0,
    num_samples=1000,
    sample_seed=1234,
    sample_temperature=contract.SAMPLER["temperature"],
)

# --- Drift between spans and skew between splits (TFDV comparators; DriftCheck) -----------
# Features compared: the characters of the names (L-infinity distance of their frequencies),
# the name lengths (Jensen-Shannon divergence of their histograms) and the number of names
# (today's count over the previous span's). docs/NIGHTLY.md has the measured noise levels.
DRIFT = dict(
    char_drift=0.03,  # L-infinity, previous span vs today's train split
    length_drift=0.1,  # Jensen-Shannon, previous span vs today's train split
    min_size_ratio=0.5,  # today's names / previous span's names, at least
    max_size_ratio=3.0,  # ... and at most
    char_skew=0.06,  # L-infinity, train vs eval split of today's span
    length_skew=0.15,  # Jensen-Shannon, train vs eval split
)

# --- Push destination -----------------------------------------------------------------------
KEEP_VERSIONS = 3  # versions kept after a push or rollback: TF Serving's `latest 2` plus one

# --- Paths and runners ----------------------------------------------------------------------
PROJECT_ROOT = Path(__file__).resolve().parent.parent  # the code (schema, components), read only
# Everything a run writes goes under ./runs of the working directory, or $NAMEGEN_HOME; never
# into the source or install tree. Absolute from the start, so subprocesses agree on it.
DEFAULT_ROOT = Path(os.environ.get("NAMEGEN_HOME") or "runs").absolute()
DEFAULT_PIPELINE_ROOT = DEFAULT_ROOT / "pipeline"
DEFAULT_SERVING_DIR = DEFAULT_ROOT / "serving"


def metadata_path(pipeline_root: str | os.PathLike) -> str:
    """ML Metadata lives in SQLite next to the artifacts."""
    return os.path.join(str(pipeline_root), "metadata.sqlite")


# Beam: the DirectRunner. In-memory is the fastest here (pipeline overhead 28 s vs 113 s with
# multi_processing on the default data, `namegen bench`); for large lists pass
# --beam-arg=--direct_running_mode=multi_processing, or point Beam at Flink/Spark/Dataflow.
BEAM_ARGS_CLI = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
BEAM_ARGS_TEST = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
