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

from data import encoding, resolve  # noqa: E402
from pipeline import configs  # noqa: E402
from tests.support import fuzzing  # noqa: E402

# The slow tier is a folder: everything under tests/e2e/ (pipeline runs, kills, soaks, browsers).
E2E = Path(__file__).resolve().parent / "e2e"
# Fixtures that run the pipeline: a test using one belongs under tests/e2e/.
PIPELINE_FIXTURES = {"tiny_run", "tiny_model", "gated_root"}


FUZZ_SEED = fuzzing.fuzz_seed()  # once per session: NAMEGEN_FUZZ_SEED, or None (fixed)
if FUZZ_SEED is not None:  # "random" drawn once: every fuzzer and every xdist worker uses it
    os.environ["NAMEGEN_FUZZ_SEED"] = str(FUZZ_SEED)


def pytest_report_header() -> str:
    return ("fuzz seed: fixed (NAMEGEN_FUZZ_SEED=random for a random one)" if FUZZ_SEED is None
            else f"fuzz seed: NAMEGEN_FUZZ_SEED={FUZZ_SEED}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks every test under tests/e2e/ `slow`, so `-m "not slow"` skips them; a test elsewhere
    that is marked slow or runs the pipeline is a collection error (it belongs in tests/e2e/)."""
    misplaced = []
    for item in items:
        if E2E in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.slow)
        elif (PIPELINE_FIXTURES & set(getattr(item, "fixturenames", ()))
              or item.get_closest_marker("slow")):
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError("slow tests outside tests/e2e/ (move them there): "
                                + ", ".join(misplaced))


@pytest.fixture(scope="session")
def fuzz_seed() -> int:
    """Seed base for statistical tests: 0, or NAMEGEN_FUZZ_SEED (see tests/support/fuzzing.py)."""
    return FUZZ_SEED or 0


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
        return self.serving_dir / encoding.MODEL_NAME

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

KUBEFLOW_IMAGE = "registry.example.com/namegen:test"
KUBEFLOW_ROOT = "gs://namegen-bucket/pipeline"
KUBEFLOW_PUSH = "gs://namegen-bucket/serving"


@pytest.fixture(scope="session")
def compiled_package(tmp_path_factory) -> Path:
    """The Kubeflow package compiled now by KubeflowV2DagRunner (tiny preset), for the tests
    that read, submit or run a package."""
    from pipeline.kubeflow import compile as kubeflow_compile

    job = kubeflow_compile.compile_spec(image=KUBEFLOW_IMAGE, pipeline_root=KUBEFLOW_ROOT,
                                       push_uri=KUBEFLOW_PUSH, preset="tiny")
    path = tmp_path_factory.mktemp("kubeflow") / "pipeline.yaml"
    kubeflow_compile.write_package(job, str(path))
    return path


KUBEFLOW_DATA_CLAIM = "namegen-names"
KUBEFLOW_MODELS_CLAIM = "namegen-models"


@pytest.fixture(scope="session")
def compiled_volume_package(tmp_path_factory) -> Path:
    """The package with the names and the models on PersistentVolumeClaims (no bucket)."""
    from pipeline.kubeflow import compile as kubeflow_compile
    from pipeline.kubeflow import storage as kubeflow_storage

    storage = kubeflow_storage.plan(KUBEFLOW_ROOT, data_volume=KUBEFLOW_DATA_CLAIM,
                                    models_volume=KUBEFLOW_MODELS_CLAIM)
    job = kubeflow_compile.compile_spec(image=KUBEFLOW_IMAGE, pipeline_root=KUBEFLOW_ROOT,
                                       preset="tiny", storage=storage)
    path = tmp_path_factory.mktemp("kubeflow-volumes") / "pipeline.yaml"
    kubeflow_compile.write_package(job, str(path), storage)
    return path
