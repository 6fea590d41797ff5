"""Run the pipeline on this machine: TFX LocalDagRunner (default) or the Beam orchestrator."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from tfx import v1 as tfx
from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner
from tfx.utils import dependency_utils

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
    if runner not in ("local", "beam"):
        raise ValueError(f"unknown runner {runner!r}: use local or beam")
    with _no_tfx_sdist_for_direct_runner(pipeline.beam_pipeline_args):
        if runner == "local":
            tfx.orchestration.LocalDagRunner().run(pipeline)
        else:
            BeamDagRunner().run(pipeline)


def uses_direct_runner(beam_pipeline_args: list[str]) -> bool:
    """True when Beam runs in this process's environment (no --runner, or the DirectRunner)."""
    runner = PipelineOptions(beam_pipeline_args).view_as(StandardOptions).runner
    return runner is None or runner.lower() in ("direct", "directrunner")


@contextlib.contextmanager
def _no_tfx_sdist_for_direct_runner(beam_pipeline_args: list[str]) -> Iterator[None]:
    """Skip TFX's per-component `tfx_ephemeral` sdist when Beam runs here.

    Every Beam executor otherwise builds a 49 MB sdist of TFX in a temp folder it never deletes
    (about 1 s each), meant for remote workers. The DirectRunner's workers are this process.
    """
    if not uses_direct_runner(beam_pipeline_args):
        yield
        return
    build_sdist = dependency_utils.make_beam_dependency_flags
    dependency_utils.make_beam_dependency_flags = lambda args: args
    try:
        yield
    finally:
        dependency_utils.make_beam_dependency_flags = build_sdist
