"""Shared fixtures: one small end-to-end pipeline run per test session, reused by many tests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import dataclasses  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402
from unittest import mock  # noqa: E402

import pytest  # noqa: E402

from data import resolve  # noqa: E402
from pipeline import configs  # noqa: E402


@dataclasses.dataclass
class PipelineRun:
    data_path: Path
    pipeline_root: Path
    serving_dir: Path
    hyperparameters: dict

    @property
    def temp_dir(self) -> Path:
        """The run's tempfile folder, so leftovers can be checked."""
        return self.pipeline_root.parent / "tmp"

    @property
    def model_base(self) -> Path:
        return self.serving_dir / configs.MODEL_NAME

    @property
    def version_dir(self) -> Path:
        from serving import model_dir

        return model_dir.resolve(self.model_base)


def run_pipeline(data_path, root: Path, hyperparameters: dict, **kwargs) -> PipelineRun:
    from pipeline import local_runner

    run = PipelineRun(Path(data_path), root / "pipeline", root / "serving", hyperparameters)
    run.temp_dir.mkdir(parents=True, exist_ok=True)
    with mock.patch.object(tempfile, "tempdir", str(run.temp_dir)):
        local_runner.run(str(run.data_path), str(run.pipeline_root), str(run.serving_dir),
                         hyperparameters, beam_pipeline_args=configs.BEAM_ARGS_TEST, **kwargs)
    return run


@pytest.fixture(scope="session")
def dinos_path() -> Path:
    """The default dataset, resolved as the CLI resolves it (data/, ../shared or download)."""
    return resolve.resolve()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, dinos_path) -> PipelineRun:
    """The whole pipeline on the dinosaur list with the `tiny` preset, pushed once."""
    hp = configs.hyperparameters("tiny", {"epochs": 3})
    return run_pipeline(dinos_path, tmp_path_factory.mktemp("tiny_run"), hp)


@pytest.fixture(scope="session")
def tiny_model(tiny_run) -> Path:
    """The pushed SavedModel version folder of tiny_run."""
    return tiny_run.version_dir
