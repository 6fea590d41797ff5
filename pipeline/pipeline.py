"""The namegen TFX pipeline as a DAG; no runner code here."""

from __future__ import annotations

import hashlib
import json

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.evaluator.component import NameEvaluator
from components.example_gen.component import names_example_gen
from components.pusher import executor as pusher_executor
from components.tuner.component import add_tuner
from components.validation.component import DataGate, NameValidator
from pipeline import configs
from pipeline.kubeflow import parameters as kubeflow_parameters


def code_fingerprint() -> str:
    """A hash of the component code, so that a code change invalidates TFX's cache."""
    digest = hashlib.sha256()
    for path in sorted(configs.PROJECT_ROOT.glob("components/**/*.py")) + [
        configs.PROJECT_ROOT / "pipeline" / "configs.py"
    ]:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def create_pipeline(
    pipeline_root: str,
    data_path: str,
    serving_dir: str,
    hyperparameters: dict,
    metadata_connection_config=None,
    beam_pipeline_args: list[str] | None = None,
    enable_cache: bool = True,
    gate: dict | None = None,
    validation: dict | None = None,
    pipeline_name: str = configs.PIPELINE_NAME,
    schema_path: str = str(configs.PROJECT_ROOT / "pipeline" / "schema"),
    kubeflow: bool = False,
    tune_budget_seconds: int = 0,
) -> tfx.dsl.Pipeline:
    """ExampleGen -> validation -> Transform -> Trainer -> evaluation gate -> Pusher.

    kubeflow: the data folder, preset, epochs and gate thresholds become runtime parameters
    (pipeline/kubeflow/parameters.py), and the last-blessed-model resolver is left out because
    open-source KFP v2 cannot run resolver tasks (README, "Run on Kubeflow").
    """
    code = {"code_fingerprint": code_fingerprint()}
    example_gen = names_example_gen(data_path, custom_config=code)
    run_parameters = None
    if kubeflow:
        run_parameters = kubeflow_parameters.run_parameters(hyperparameters, gate or configs.GATE)
        example_gen.exec_properties["input_base"] = kubeflow_parameters.runtime_parameter(
            kubeflow_parameters.DATA_ROOT, example_gen.exec_properties["input_base"])
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=f"{schema_path}/schema.pbtxt")
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    name_validator = NameValidator(
        examples=example_gen.outputs["examples"],
        rules=json.dumps(validation or configs.VALIDATION, sort_keys=True),
    )
    data_gate = DataGate(
        schema_anomalies=example_validator.outputs["anomalies"],
        name_anomalies=name_validator.outputs["anomalies"],
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="components.transform.preprocessing.preprocessing_fn",
        custom_config=code,
    )
    transform.add_upstream_node(data_gate)  # nothing is transformed or trained on bad data
    # --tune: search hyperparameters within a time budget; the Trainer trains the best trial.
    tuner = (add_tuner(transform, hyperparameters, budget_seconds=tune_budget_seconds)
             if tune_budget_seconds and not kubeflow else None)
    trainer = tfx.components.Trainer(
        run_fn="components.trainer.train.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=(run_parameters.outputs["hyperparameters"] if kubeflow
                         else tuner.outputs["best_hyperparameters"] if tuner else None),
        custom_config=code if kubeflow else {"hyperparameters": hyperparameters, **code},
    )
    latest_blessed = None if kubeflow else tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("latest_blessed_model_resolver")
    evaluator = NameEvaluator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        baseline_model=None if kubeflow else latest_blessed.outputs["model"],
        gate=run_parameters.outputs["gate"].future()[0].value if kubeflow
        else json.dumps(gate or configs.GATE, sort_keys=True),
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=f"{serving_dir}/{configs.MODEL_NAME}"
            )
        ),
        custom_executor_spec=executor_spec.ExecutorClassSpec(pusher_executor.Executor),
        custom_config=code,
    )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=str(pipeline_root),
        components=[example_gen, statistics_gen, schema_gen, example_validator, name_validator,
                    data_gate, transform, trainer, evaluator, pusher]
        + ([run_parameters] if kubeflow else [latest_blessed])
        + ([tuner] if tuner else []),
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
