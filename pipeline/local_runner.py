"""Run the pipeline on this machine: TFX LocalDagRunner (default) or the Beam orchestrator."""

from __future__ import annotations

import os

from tfx import v1 as tfx
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

from pipeline import configs
from pipeline.pipeline import create_pipeline


def run(
    data_path: str,
    pipeline_root: str,
    serving_dir: str,
    hyperparameters: dict,
    runner: str = "local",
    beam_pipeline_args: list[str] | None = None,
    gate: dict | None = None,
    validation: dict | None = None,
    tune_budget_seconds: int = 0,
) -> None:
    os.makedirs(pipeline_root, exist_ok=True)
    pipeline = create_pipeline(
        pipeline_root=pipeline_root,
        data_path=data_path,
        serving_dir=serving_dir,
        hyperparameters=hyperparameters,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            configs.metadata_path(pipeline_root)
        ),
        beam_pipeline_args=configs.BEAM_ARGS_CLI if beam_pipeline_args is None
        else beam_pipeline_args,
        gate=gate,
        validation=validation,
        tune_budget_seconds=tune_budget_seconds,
    )
    if runner == "local":
        tfx.orchestration.LocalDagRunner().run(pipeline)
    elif runner == "beam":
        BeamDagRunner().run(pipeline)
    else:
        raise ValueError(f"unknown runner {runner!r}: use local or beam")
