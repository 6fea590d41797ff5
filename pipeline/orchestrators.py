"""What differs between running here and on Kubeflow, in one place: where run settings come from.

Here they are constants from the command line. On Kubeflow they are runtime parameters of the
compiled package (pipeline/kubeflow/parameters.py), so a schedule can change them per run.
"""

from __future__ import annotations

import dataclasses
import json

from components.example_gen import spans
from components.tuner.component import add_tuner
from pipeline.kubeflow import parameters as kubeflow_parameters


@dataclasses.dataclass
class TrainerInputs:
    hyperparameters: object  # a HyperParameters channel, or None: custom_config carries them
    custom_config: dict
    extra_nodes: list


class LocalSettings:
    """`namegen run`: constants, and the optional tuner in front of the Trainer."""

    def __init__(self, data_path: str, hyperparameters: dict, gate: dict, drift: dict,
                 tune_budget_seconds: int = 0) -> None:
        self.data_root, pattern = spans.split_data_path(data_path)
        self.data_pattern = pattern
        self.hyperparameters = hyperparameters
        self.gate = gate
        self.drift = {key: float(value) for key, value in drift.items()}
        self.tune_budget_seconds = tune_budget_seconds
        self.extra_nodes: list = []

    def trainer_inputs(self, transform, code: dict) -> TrainerInputs:
        config = {"hyperparameters": self.hyperparameters, **code}
        if not self.tune_budget_seconds:
            return TrainerInputs(None, config, [])
        tuner = add_tuner(transform, self.hyperparameters, budget_seconds=self.tune_budget_seconds)
        return TrainerInputs(tuner.outputs["best_hyperparameters"], config, [tuner])

    def gate_json(self):
        return json.dumps(self.gate, sort_keys=True)


class KubeflowSettings:
    """The compiled package: data root, data pattern, preset, epochs, gate and drift thresholds
    are runtime parameters; RunParameters turns preset and epochs into hyperparameters."""

    def __init__(self, data_path: str, hyperparameters: dict, gate: dict, drift: dict,
                 tune_budget_seconds: int = 0) -> None:
        if tune_budget_seconds:
            raise ValueError("--tune runs only with `namegen run`, not on Kubeflow")
        data_root, pattern = spans.split_data_path(data_path)
        parameter = kubeflow_parameters.runtime_parameter
        self.data_root = parameter(kubeflow_parameters.DATA_ROOT, data_root)
        self.data_pattern = parameter(kubeflow_parameters.DATA_PATTERN, pattern)
        self.drift = {key: parameter(key, float(value)) for key, value in drift.items()}
        self.run_parameters = kubeflow_parameters.run_parameters(hyperparameters, gate)
        self.extra_nodes = [self.run_parameters]

    def trainer_inputs(self, transform, code: dict) -> TrainerInputs:
        return TrainerInputs(self.run_parameters.outputs["hyperparameters"], code, [])

    def gate_json(self):
        return self.run_parameters.outputs["gate"].future()[0].value


