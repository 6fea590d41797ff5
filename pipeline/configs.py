"""The pipeline's defaults: splits, presets, validation, gate, drift, paths.

The names and tokens every layer shares (model name, features, special tokens, lengths) are in
data/encoding.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from data.encoding import MAX_NAME_LENGTH
from serving import contract

PIPELINE_NAME = "namegen"

# --- Data split (the shared names and tokens: data/encoding.py) ----------------------------
TRAIN_BUCKETS = 9  # train:eval hash buckets, split on the name itself
EVAL_BUCKETS = 1

# --- Training hyperparameters ----------------------------------------------------------------
# One typed record: every key, its type, its default (the `default` preset, chosen for held-out
# nats per character on the dinosaur list, docs/QUALITY.md "levers") and why it is there.
@dataclass(frozen=True)
class Hyperparameters:
    """Every training hyperparameter; `resolve()` builds one from a preset and overrides."""

    # model (components/trainer/model.py)
    embedding_dim: int = 256  # width of each character's embedding
    rnn_units: int = 512  # GRU width: the main capacity knob (1024 overfits the dinosaurs)
    num_layers: int = 1  # stacked GRUs; a second layer did not help on name lists
    dropout: float = 0.2  # dropout on the GRU's output, before the character scores
    embedding_dropout: float = 0.2  # dropout on the character embeddings
    recurrent_dropout: float = 0.0  # Keras' per-step recurrent dropout (forces the slow GRU)
    weight_drop: float = 0.4  # DropConnect on the recurrent kernel, one mask per batch
    locked_dropout: bool = False  # one dropout mask per name instead of per character
    tie_embeddings: bool = False  # score characters against their own input embeddings
    case_sharing: bool = True  # "A" is "a" plus one learned case vector (input and output)
    # optimisation (components/trainer/loop.py)
    batch_size: int = 32  # names per global batch, split between workers
    epochs: int = 20  # passes over the train split (fewer with patience)
    learning_rate: float = 5e-3  # Adam's peak learning rate
    lr_schedule: str = "cosine"  # "constant", or "cosine" decay after a linear warmup
    warmup_epochs: int = 1  # epochs of linear warmup before the cosine decay
    weight_decay: float = 1e-2  # decoupled weight decay (AdamW); 0: plain Adam
    clip_norm: float = 1.0  # clip the global gradient norm to this; 0: no clipping
    patience: int = 10  # stop after this many epochs without eval improvement; 0: never
    ema_decay: float = 0.0  # evaluate and export a moving average of the weights; 0: off
    restore_best: bool = True  # export the best eval epoch's weights, not the last
    average_last_epochs: int = 0  # evaluate and export the mean of the last K epochs' weights
    # loss (components/trainer/model.py sequence_loss)
    mask_padding: bool = True  # average the loss over real characters only, not padding
    label_smoothing: float = 0.05  # share of each target spread over the other characters
    smooth_within_case: bool = True  # smoothing spreads over the target's own case class
    ngram_teacher: float = 0.6  # weight of a cross-fitted Kneser-Ney teacher's targets
    teacher_schedule: str = "constant"  # or "linear"/"cosine" from ngram_teacher to the next
    ngram_teacher_final: float = 0.0  # the teacher's weight at the last step of a schedule
    ensemble_teacher: float = 0.0  # weight of the mean distribution of GRUs trained first
    ensemble_members: int = 3  # how many GRUs (own seeds) teach with ensemble_teacher
    ensemble_folds: int = 3  # member m skips fold m % folds and teaches it; 0: all see all
    teacher_end_of_name: bool = True  # False: when to stop is learned from the labels alone
    # the run
    preset: str = "default"  # the preset these values started from (for reports)
    seed: int = 42  # seeds weights, batch order and the teacher's folds

    def __post_init__(self) -> None:
        for spec in fields(self):
            value, expected = getattr(self, spec.name), _FIELD_TYPES[spec.type]
            if expected is float and type(value) is int:
                object.__setattr__(self, spec.name, float(value))
            elif type(value) is not expected:
                raise ValueError(f"hyperparameter {spec.name}={value!r}: expected "
                                 f"{expected.__name__}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"hyperparameter lr_schedule={self.lr_schedule!r}: expected one of "
                             f"{list(LR_SCHEDULES)}")
        if self.ema_decay and self.average_last_epochs:
            raise ValueError("hyperparameters ema_decay and average_last_epochs: choose one "
                             "weight average")
        if self.teacher_schedule not in TEACHER_SCHEDULES:
            raise ValueError(f"hyperparameter teacher_schedule={self.teacher_schedule!r}: "
                             f"expected one of {list(TEACHER_SCHEDULES)}")
        if max(self.ngram_teacher, self.ngram_teacher_final) + self.ensemble_teacher > 1.0:
            raise ValueError("hyperparameters ngram_teacher (or ngram_teacher_final) plus "
                             "ensemble_teacher exceed 1: the labels would get a negative weight")
        if self.ensemble_teacher and max(1, self.ensemble_folds) > self.ensemble_members:
            raise ValueError(f"hyperparameter ensemble_members={self.ensemble_members}: need at "
                             f"least one member per fold (ensemble_folds={self.ensemble_folds})")

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> Hyperparameters:
        """From the JSON form (custom_config, a HyperParameters artifact); keys and types checked.

        Values given as text (`--set key=value`) are parsed to the key's type; missing keys
        keep their defaults.
        """
        known = {spec.name: _FIELD_TYPES[spec.type] for spec in fields(cls)}
        typed = {}
        for key, value in values.items():
            if key not in known:
                raise ValueError(f"unknown hyperparameter {key!r}; known: {sorted(known)}")
            typed[key] = _parse(key, value, known[key]) if isinstance(value, str) else value
        return cls(**typed)

    def as_dict(self) -> dict:
        """The JSON form: what travels in custom_config and the HyperParameters artifact."""
        return asdict(self)


LR_SCHEDULES = ("constant", "cosine")
TEACHER_SCHEDULES = ("constant", "linear", "cosine")
_FIELD_TYPES = {"int": int, "float": float, "bool": bool, "str": str}

# Presets list only what they change from Hyperparameters' defaults (which are `default`'s).
PRESET_CHANGES: dict[str, dict] = {
    "default": {},
    # The reference TensorFlow tutorial: unmasked loss averaged over padding, Adam defaults.
    "tutorial": dict(
        rnn_units=1024, dropout=0.0, embedding_dropout=0.0, weight_drop=0.0, case_sharing=False,
        batch_size=64, learning_rate=1e-3, lr_schedule="constant", warmup_epochs=0,
        weight_decay=0.0, clip_norm=0.0, patience=0, mask_padding=False, label_smoothing=0.0,
        smooth_within_case=False, ngram_teacher=0.0,
    ),
    # Seconds-scale model for tests and smoke runs.
    "tiny": dict(
        embedding_dim=8, rnn_units=16, dropout=0.0, embedding_dropout=0.0, weight_drop=0.0,
        case_sharing=False, batch_size=16, epochs=2, learning_rate=1e-2, lr_schedule="constant",
        warmup_epochs=0, weight_decay=0.0, patience=0, label_smoothing=0.0,
        smooth_within_case=False, ngram_teacher=0.0,
    ),
}
DEFAULT_PRESET = "default"
DEFAULT_SEED = 42


def resolve(preset: str = DEFAULT_PRESET, overrides: Mapping[str, object] | None = None,
            seed: int = DEFAULT_SEED) -> Hyperparameters:
    """The preset's hyperparameters with overrides (values or text) applied and type-checked."""
    if preset not in PRESET_CHANGES:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESET_CHANGES)}")
    return Hyperparameters.from_dict(
        {**PRESET_CHANGES[preset], "preset": preset, "seed": seed, **(overrides or {})})


def hyperparameters(preset: str = DEFAULT_PRESET, overrides: Mapping[str, object] | None = None,
                    seed: int = DEFAULT_SEED) -> dict:
    """resolve()'s JSON form, as the pipeline passes it to the Trainer and the Tuner."""
    return resolve(preset, overrides, seed).as_dict()


def _parse(key: str, text: str, expected: type):
    """A `--set key=value` text as the key's type."""
    try:
        if expected is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text.lower() in ("true", "1")
        return expected(text)
    except ValueError as error:
        raise ValueError(f"hyperparameter {key}={text!r}: expected {expected.__name__}") from error


# Each preset in full, for readers that look a value up by preset (Kubeflow's RunParameters).
PRESETS: dict[str, dict] = {name: hyperparameters(name) for name in PRESET_CHANGES}


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
