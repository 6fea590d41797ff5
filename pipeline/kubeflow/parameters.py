"""Kubeflow runtime parameters: data location, preset, epochs and gate thresholds per run.

TFX compiles a `RuntimeParameter` only as a whole exec property, while the trainer reads a
hyperparameter dict and the evaluator a JSON gate. `RunParameters` turns the scalar pipeline
parameters into both at run time: a HyperParameters artifact (the Trainer's standard input,
as a Tuner would give it) and the gate JSON (read by NameEvaluator as a dynamic exec property).
"""


import json
import os
from typing import TypedDict

from tfx import v1 as tfx
from tfx.orchestration import data_types
from tfx.types.standard_artifacts import HyperParameters

from pipeline import configs

HYPERPARAMETERS_FILE = "hyperparameters.json"
GATE_THRESHOLDS = ("max_nats_per_char", "max_regression", "min_validity",
                   "max_length_tv_over_noise", "max_reverse_score_over_floor", "copy_rate_sigmas")
DATA_ROOT = "data_root"  # the folder ExampleGen reads
DATA_PATTERN = "data_pattern"  # the file pattern under it; {SPAN}: the latest span


class RunParametersOutput(TypedDict):
    gate: str


@tfx.dsl.components.component
def RunParameters(  # noqa: N802 (TFX component naming)
    hyperparameters: tfx.dsl.components.OutputArtifact[HyperParameters],
    preset: tfx.dsl.components.Parameter[str],
    epochs: tfx.dsl.components.Parameter[int],
    seed: tfx.dsl.components.Parameter[int],
    base_gate: tfx.dsl.components.Parameter[str],
    max_nats_per_char: tfx.dsl.components.Parameter[float],
    max_regression: tfx.dsl.components.Parameter[float],
    min_validity: tfx.dsl.components.Parameter[float],
    max_length_tv_over_noise: tfx.dsl.components.Parameter[float],
    max_reverse_score_over_floor: tfx.dsl.components.Parameter[float],
    copy_rate_sigmas: tfx.dsl.components.Parameter[float],
) -> RunParametersOutput:
    """The preset's hyperparameters (epochs 0: the preset's own) and the gate with thresholds."""
    overrides = {"epochs": epochs} if epochs > 0 else {}
    params = configs.hyperparameters(preset, overrides, seed=seed)
    with tfx.dsl.io.fileio.open(os.path.join(hyperparameters.uri, HYPERPARAMETERS_FILE), "w") as f:
        json.dump(params, f, sort_keys=True)
    hyperparameters.set_string_custom_property("preset", preset)
    gate = dict(json.loads(base_gate), max_nats_per_char=max_nats_per_char,
                max_regression=max_regression, min_validity=min_validity,
                max_length_tv_over_noise=max_length_tv_over_noise,
                max_reverse_score_over_floor=max_reverse_score_over_floor,
                copy_rate_sigmas=copy_rate_sigmas)
    return {"gate": json.dumps(gate, sort_keys=True)}


def runtime_parameter(name: str, default):
    """A pipeline-level parameter of the default's type."""
    return data_types.RuntimeParameter(name=name, ptype=type(default), default=default)


def run_parameters(hyperparameters: dict, gate: dict) -> RunParameters:
    """The RunParameters node, its inputs runtime parameters defaulting to the given values."""
    preset = hyperparameters["preset"]
    preset_epochs = configs.PRESETS[preset]["epochs"]
    return RunParameters(
        preset=runtime_parameter("preset", preset),
        epochs=runtime_parameter("epochs", 0 if hyperparameters["epochs"] == preset_epochs
                                 else int(hyperparameters["epochs"])),
        seed=int(hyperparameters["seed"]),
        base_gate=json.dumps(gate, sort_keys=True),
        **{key: runtime_parameter(key, float(gate[key])) for key in GATE_THRESHOLDS},
    )
