"""The nightly loop, three runs in a row on one push destination, locally and on Kubeflow:
a good model on span 1 is pushed, a worse one on span 2 is not (the note names the served
version's score), and a drifted span 3 stops before Transform with the drift named."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest

from components.validation.component import DataValidationError
from data import encoding
from pipeline import configs, metadata
from serving import model_dir

pytestmark = pytest.mark.slow
GOOD_EPOCHS, WORSE_EPOCHS = 6, 1
LENGTH_DRIFT = "compared with the previous span: the name-length distribution"


def write_span(data: Path, span: int, names: list[str]) -> None:
    folder = data / str(span)
    folder.mkdir(parents=True)
    (folder / "names.txt").write_text("\n".join(names) + "\n", encoding="utf-8")


def span_names(dinos_path: Path, span: int) -> list[str]:
    """Spans 1 and 2: two draws of 85% of the list; span 3: the same with half the names cut
    to 3 characters (a broken export)."""
    names = random.Random(span).sample(dinos_path.read_text().split(), 1300)
    return [n[:3] if span == 3 and i % 2 else n for i, n in enumerate(names)]


def evaluation_report(evaluation_uri: str) -> dict:
    return json.loads((Path(evaluation_uri) / "metrics.json").read_text())


def executed(pipeline_root: Path, component: str) -> int:
    store = metadata.open_store(str(pipeline_root))
    return sum(r["component"] == component and r["state"] == "COMPLETE"
               for r in metadata.executions(store))


def test_three_nightly_runs_locally(tmp_path, dinos_path):
    from namegen import report
    from tests.conftest import run_pipeline

    data = tmp_path / "names"
    pattern = str(data / "{SPAN}" / "*.txt")
    model_base = tmp_path / "serving" / encoding.MODEL_NAME

    write_span(data, 1, span_names(dinos_path, 1))
    run = run_pipeline(pattern, tmp_path, configs.hyperparameters("tiny",
                                                                  {"epochs": GOOD_EPOCHS}))
    assert model_dir.versions(model_base) == [1]
    store = metadata.open_store(str(run.pipeline_root))
    first = evaluation_report(metadata.latest_artifact(store, "ModelEvaluation").uri)
    assert first["blessed"] and "no served version under" in first["reason"]

    write_span(data, 2, span_names(dinos_path, 2))
    run_pipeline(pattern, tmp_path, configs.hyperparameters("tiny", {"epochs": WORSE_EPOCHS}))
    store = metadata.open_store(str(run.pipeline_root))
    examples = metadata.latest_artifact(store, "Examples", producer="FileBasedExampleGen")
    assert examples.properties["span"].int_value == 2
    second = evaluation_report(metadata.latest_artifact(store, "ModelEvaluation").uri)
    served = second["baseline"]["eval_nats_per_char"]
    assert not second["blessed"]
    assert f"worse than served version 1's {served:.4f}" in second["reason"]
    assert second["candidate"]["eval_nats_per_char"] > served
    assert model_dir.versions(model_base) == [1]
    page = report.write_report(str(run.pipeline_root)).read_text()
    assert "Compared with the previous span" in page and "span 2 vs span 1" in page

    write_span(data, 3, span_names(dinos_path, 3))
    transforms = executed(run.pipeline_root, "Transform")
    with pytest.raises(DataValidationError) as stopped:
        run_pipeline(pattern, tmp_path, configs.hyperparameters("tiny",
                                                                {"epochs": GOOD_EPOCHS}))
    assert f"[drift] DriftCheck: {LENGTH_DRIFT}" in str(stopped.value)
    assert executed(run.pipeline_root, "Transform") == transforms  # stopped before Transform
    assert model_dir.versions(model_base) == [1]


def test_three_nightly_runs_on_kubeflow(tmp_path, dinos_path, monkeypatch):
    """The same three nights through the compiled package, task by task (run-local), with the
    names and the models on PersistentVolumeClaims mapped to local folders (no bucket). The
    first night also checks what run-local promises: every task in the spec's order, runtime
    parameters reaching the tasks (data pattern, epochs, a gate threshold), a pushed model
    that loads and generates, and each task's /tmp removed with it, as a pod's."""
    from namegen.commands.names import generate_local
    from pipeline.kubeflow import compile as kubeflow_compile
    from pipeline.kubeflow import local as kubeflow_local
    from pipeline.kubeflow import storage as kubeflow_storage

    data = tmp_path / "names-claim"  # holds <span>/names.txt; the models claim names/<version>/
    serving = tmp_path / "models-claim"
    data.mkdir()
    serving.mkdir()
    model_base = serving / encoding.MODEL_NAME
    package = tmp_path / "pipeline.yaml"
    storage = kubeflow_storage.plan("gs://unused/root", data_volume="names",
                                    models_volume="models")
    kubeflow_compile.write_package(kubeflow_compile.compile_spec(
        pipeline_root="gs://unused/root", preset="tiny", storage=storage,
        beam_pipeline_args=configs.BEAM_ARGS_TEST), str(package), storage)
    host_tmp = tmp_path / "host_tmp"
    host_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(host_tmp))
    monkeypatch.setenv("TMPDIR", str(host_tmp))

    def run(epochs: int, **parameters: str) -> kubeflow_local.LocalRun:
        """One night: the data under the compiled data_root (the names claim), the span
        pattern given as a runtime parameter."""
        values = {"epochs": str(epochs), "data_pattern": "{SPAN}/*.txt", **parameters}
        return kubeflow_local.run(str(package), str(tmp_path / "work"), values,
                                  log=lambda line: None,
                                  volumes={"names": str(data), "models": str(serving)})

    write_span(data, 1, span_names(dinos_path, 1))
    first = run(GOOD_EPOCHS, max_nats_per_char="10")
    assert list(first.tasks) == kubeflow_local.topological_order(
        kubeflow_local.load_spec(str(package)))
    hp_dir = first.tasks["RunParameters"].artifacts["hyperparameters"][0].uri
    hp = json.loads((Path(hp_dir) / "hyperparameters.json").read_text())
    assert (hp["preset"], hp["epochs"]) == ("tiny", GOOD_EPOCHS)
    report = evaluation_report(first.tasks["NameEvaluator"].artifacts["evaluation"][0].uri)
    assert report["gate"]["max_nats_per_char"] == 10.0 and report["blessed"], report["reason"]
    destination = kubeflow_local.pushed_destination(first)
    assert destination == str(model_base / "1")
    assert model_dir.read_metadata(destination)["hyperparameters"]["epochs"] == GOOD_EPOCHS
    names = generate_local(destination, 5, 0)
    assert len(names) == 5 and all(isinstance(row["name"], str) for row in names)
    assert not list(host_tmp.iterdir()), "each task's /tmp is removed with it, as a pod's"

    write_span(data, 2, span_names(dinos_path, 2))
    second = run(WORSE_EPOCHS)
    assert kubeflow_local.pushed_destination(second) is None
    report = evaluation_report(second.tasks["NameEvaluator"].artifacts["evaluation"][0].uri)
    served = report["baseline"]["eval_nats_per_char"]
    assert f"worse than served version 1's {served:.4f}" in report["reason"]
    assert model_dir.versions(model_base) == [1]

    write_span(data, 3, span_names(dinos_path, 3))
    with pytest.raises(kubeflow_local.LocalRunError) as stopped:
        run(GOOD_EPOCHS)
    assert "task DataGate failed" in str(stopped.value)
    assert LENGTH_DRIFT in str(stopped.value)
    runs = sorted((tmp_path / "work" / "namegen").iterdir(), key=lambda p: p.stat().st_mtime)
    assert not (runs[-1] / "Transform").exists()  # stopped before Transform
    assert model_dir.versions(model_base) == [1]
