"""The evaluation gate: a worse candidate is not pushed; a better one gets the next version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import configs, metadata
from tests.conftest import run_pipeline


@pytest.fixture(scope="module")
def gated_root(tmp_path_factory, dinos_path):
    root = tmp_path_factory.mktemp("gate")
    run_pipeline(dinos_path, root, configs.hyperparameters("tiny", {"epochs": 3}))
    return root


def latest_evaluation(root) -> dict:
    store = metadata.open_store(str(root / "pipeline"))
    evaluation = metadata.latest_artifact(store, "ModelEvaluation")
    return json.loads((Path(evaluation.uri) / "metrics.json").read_text())


def snapshot(root) -> dict:
    base = root / "serving" / configs.MODEL_NAME
    return {str(p.relative_to(base)): p.stat().st_mtime_ns for p in base.rglob("*")}


def test_undertrained_candidate_is_not_blessed_nor_pushed(gated_root, dinos_path):
    before = snapshot(gated_root)
    one_step = configs.hyperparameters("tiny", {"epochs": 1, "batch_size": 4096})
    run_pipeline(dinos_path, gated_root, one_step)
    report = latest_evaluation(gated_root)
    assert report["blessed"] is False
    assert "worse than served version 1's" in report["reason"]
    assert report["candidate"]["eval_nats_per_char"] > report["baseline"]["eval_nats_per_char"]
    assert snapshot(gated_root) == before


def test_better_candidate_is_blessed_and_gets_the_next_version(gated_root, dinos_path):
    better = configs.hyperparameters("tiny", {"epochs": 8})
    run_pipeline(dinos_path, gated_root, better)
    report = latest_evaluation(gated_root)
    assert report["blessed"] is True, report["reason"]
    assert report["candidate"]["eval_nats_per_char"] < report["baseline"]["eval_nats_per_char"]
    versions = sorted(int(p.name) for p in (gated_root / "serving" / configs.MODEL_NAME).iterdir()
                      if p.name.isdigit())
    assert versions == [1, 2]
    for key in ("novelty", "validity", "length_tv_distance", "casing", "samples_per_second"):
        assert key in report["candidate"]
