"""The namegen TFX pipeline as a DAG; no runner code here."""

from __future__ import annotations

import json

from tfx import v1 as tfx
from tfx.dsl.components.base import executor_spec

from components.evaluator.component import NameEvaluator
from components.example_gen.component import names_example_gen
from components.pusher import executor as pusher_executor
from components.validation.component import DataGate, NameValidator
from components.validation.drift import DriftCheck
from data import encoding
from pipeline import configs
from pipeline.fingerprint import code_fingerprint
from pipeline.orchestrators import KubeflowSettings, LocalSettings

__all__ = ["code_fingerprint", "create_pipeline"]


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
    drift: dict | None = None,
    keep_versions: int = configs.KEEP_VERSIONS,
) -> tfx.dsl.Pipeline:
    """ExampleGen -> validation and drift -> Transform -> Trainer -> gate vs served -> Pusher.

    data_path: a file, a glob or a span pattern such as `names/{SPAN}/*.txt` (the latest span).
    kubeflow: the per-run settings become runtime parameters (pipeline/orchestrators.py).
    The gate's baseline is the served model (the newest version under the push destination),
    the same rule on every orchestrator; no resolver task.
    """
    code = {"code_fingerprint": code_fingerprint()}
    settings_class = KubeflowSettings if kubeflow else LocalSettings
    settings = settings_class(data_path, hyperparameters, gate or configs.GATE,
                              drift or configs.DRIFT, tune_budget_seconds)
    model_base = f"{serving_dir}/{encoding.MODEL_NAME}"
    example_gen = names_example_gen(settings.data_root, settings.data_pattern, custom_config=code)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.ImportSchemaGen(schema_file=f"{schema_path}/schema.pbtxt")
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    )
    name_validator = NameValidator(
        examples=example_gen.outputs["examples"],
        rules=json.dumps(validation or configs.VALIDATION, sort_keys=True),
    )
    drift_check = DriftCheck(examples=example_gen.outputs["examples"],
                             data_root=settings.data_root, data_pattern=settings.data_pattern,
                             **settings.drift)
    data_gate = DataGate(
        schema_anomalies=example_validator.outputs["anomalies"],
        name_anomalies=name_validator.outputs["anomalies"],
        drift_anomalies=drift_check.outputs["anomalies"],
    )
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn="components.transform.preprocessing.preprocessing_fn",
        custom_config=code,
    )
    transform.add_upstream_node(data_gate)  # nothing is transformed or trained on bad data
    trainer_inputs = settings.trainer_inputs(transform, code)
    trainer = tfx.components.Trainer(
        run_fn="components.trainer.train.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        hyperparameters=trainer_inputs.hyperparameters,
        custom_config=trainer_inputs.custom_config,
    )
    evaluator = NameEvaluator(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        gate=settings.gate_json(),
        model_base=model_base,
    )
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=model_base)
        ),
        custom_executor_spec=executor_spec.ExecutorClassSpec(pusher_executor.Executor),
        custom_config={**code, "keep_versions": keep_versions},
    )
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=str(pipeline_root),
        components=[example_gen, statistics_gen, schema_gen, example_validator, name_validator,
                    drift_check, data_gate, transform, trainer, evaluator, pusher]
        + settings.extra_nodes + trainer_inputs.extra_nodes,
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=beam_pipeline_args or [],
    )
