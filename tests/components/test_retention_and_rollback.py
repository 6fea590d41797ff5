"""The push destination: retention keeps the newest K, rollback writes an earlier version again,
and the gate's baseline is the newest complete version (the one TF Serving serves). A rollback
under a running server: tests/e2e/test_rollback_under_a_running_server.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from components.evaluator import component as evaluator
from components.pusher import versions
from components.pusher.executor import push_atomically
from namegen import cli
from namegen.commands import rollback
from pipeline import configs
from serving import model_dir
from tests.support.fake_models import fake_model


def tag_of(version_dir: Path) -> str:
    return (version_dir / "saved_model.pb").read_text()


# Fidelity measures exactly at their real-vs-real floors: only the loss rules can decide.
SAMPLES_LIKE_REAL_NAMES = {"copy_rate": 0.0, "length_tv_distance": 0.08,
                           "length_tv_distance_floor": 0.08, "reverse_score": 1.8,
                           "reverse_score_floor": 1.8, "length_tv_noise": 0.1,
                           "copy_rate_reference": 0.05, "copy_rate_reference_stderr": 0.007,
                           "copy_rate_reference_model": "kneser-ney n=4 D=0.8"}


def test_retention_keeps_exactly_the_newest_k(tmp_path):
    base = tmp_path / "names"
    for n in range(1, 7):
        push_atomically(str(fake_model(tmp_path / f"m{n}", f"model {n}")), str(base), keep=3)
        assert versions.numeric_versions(str(base)) == list(range(max(1, n - 2), n + 1))
    assert [tag_of(base / str(v)) for v in (4, 5, 6)] == ["model 4", "model 5", "model 6"]
    assert not [p for p in os.listdir(base) if p.startswith((".incoming", ".pruned"))]


def test_retention_never_prunes_the_served_version(tmp_path):
    base = tmp_path / "names"
    push_atomically(str(fake_model(tmp_path / "m1", "one")), str(base), keep=1)
    push_atomically(str(fake_model(tmp_path / "m2", "two")), str(base), keep=1)
    assert versions.numeric_versions(str(base)) == [2]
    with pytest.raises(ValueError, match="at least 1"):
        versions.prune_versions(str(base), 0)


def test_rollback_writes_a_new_highest_version_with_the_old_files_and_a_record(tmp_path,
                                                                                capsys):
    base = tmp_path / "serving" / "names"
    for n in (1, 2, 3):
        push_atomically(str(fake_model(tmp_path / f"m{n}", f"model {n}")), str(base), keep=3)
    assert cli.main(["rollback", "--serving-dir", str(tmp_path / "serving")]) == 0
    assert "version 4 now serves version 2's model (replacing version 3)" in \
        capsys.readouterr().out
    assert versions.numeric_versions(str(base)) == [2, 3, 4]  # keep 3: version 1 pruned
    assert tag_of(base / "4") == "model 2"
    record = model_dir.read_metadata(base / "4")["rollback"]
    assert (record["from_version"], record["replaced_version"]) == (2, 3)
    assert "rollback" not in model_dir.read_metadata(base / "2")  # the source is untouched
    assert versions.served_version(str(base)) == 4  # the gate's next baseline follows it

    assert rollback.rollback(str(base), to=3)[:2] == (5, 3)
    assert tag_of(base / "5") == "model 3"


def test_rollback_refuses_what_cannot_be_done(tmp_path):
    base = tmp_path / "names"
    with pytest.raises(rollback.RollbackError, match="no version"):
        rollback.rollback(str(base))
    push_atomically(str(fake_model(tmp_path / "m1", "one")), str(base))
    with pytest.raises(rollback.RollbackError, match="nothing earlier"):
        rollback.rollback(str(base))
    push_atomically(str(fake_model(tmp_path / "m2", "two")), str(base))
    with pytest.raises(rollback.RollbackError, match="version 7 is not under"):
        rollback.rollback(str(base), to=7)
    with pytest.raises(rollback.RollbackError, match="already the served"):
        rollback.rollback(str(base), to=2)
    assert versions.numeric_versions(str(base)) == [1, 2]


def test_an_empty_or_unloadable_push_destination_is_reported_and_the_absolute_gate_applies(
        tmp_path):
    gate = dict(configs.GATE, max_nats_per_char=2.2, max_regression=0.02, min_validity=0.99)
    baseline, note = evaluator.served_baseline(str(tmp_path / "names"), [], [], gate)
    assert baseline is None and note == (f"no served version under {tmp_path / 'names'}; "
                                         "judged on the absolute gate only")
    fake_model(tmp_path / "names" / "1", "not a SavedModel")
    baseline, note = evaluator.served_baseline(str(tmp_path / "names"), [], [], gate)
    assert baseline is None
    assert note.startswith("served version 1 under") and "cannot be loaded" in note
    candidate = dict(SAMPLES_LIKE_REAL_NAMES, eval_nats_per_char=1.9, validity=1.0, novelty=0.9)
    assert evaluator.decide(candidate, None, gate)[0] is True


def test_the_not_pushed_note_names_the_served_version_and_both_numbers():
    gate = dict(configs.GATE, max_nats_per_char=2.2, max_regression=0.02, min_validity=0.99)
    candidate = dict(SAMPLES_LIKE_REAL_NAMES, eval_nats_per_char=1.9, validity=1.0, novelty=0.9)
    blessed, reason = evaluator.decide(candidate, {"eval_nats_per_char": 1.6, "version": 4},
                                       gate)
    assert not blessed
    assert reason == ("eval 1.9000 nats/char is worse than served version 4's 1.6000 by more "
                      "than 0.0200")
