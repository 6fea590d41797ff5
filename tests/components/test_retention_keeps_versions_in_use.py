"""Retention that knows what is in use (issue 23): a push or rollback never removes a version
named by a label or a `specific` policy in a models.config, the newest version that loads, or
the version the previous push left serving; versions are published only once fsynced."""

from __future__ import annotations

import json
import os
from pathlib import Path

from components.pusher import versions
from components.pusher.executor import push_atomically
from namegen.commands import rollback
from serving import model_dir
from tests.serving.conformance import half_plus_two
from tests.support.fake_models import fake_model


def real_model(path: Path, b: float) -> Path:
    half_plus_two.build(path, b=b)
    (path / "assets.extra").mkdir(exist_ok=True)
    (path / model_dir.METADATA_FILE).write_text(json.dumps({"b": b}))
    return path


def labels_config(path: Path, labels: dict[str, int], specific: tuple[int, ...] = (),
                  name: str = "names") -> Path:
    policy = (" model_version_policy { specific { "
              + " ".join(f"versions: {v}" for v in specific) + " } }") if specific else ""
    path.write_text(
        f'model_config_list {{ config {{ name: "{name}" base_path: "/models/{name}" '
        f'model_platform: "tensorflow"{policy}'
        + "".join(f' version_labels {{ key: "{k}" value: {v} }}' for k, v in labels.items())
        + " } }")
    return path


def test_labels_in_the_serving_folders_models_config_are_never_pruned(tmp_path):
    """The finding: `stable` on 1 and `canary` on 2; the fourth push used to delete 1."""
    serving = tmp_path / "serving"
    base = serving / "names"
    labels_config(serving.parent / "unused.config", {})  # outside the serving folder: ignored
    serving.mkdir()
    labels_config(serving / "models.config", {"stable": 1, "canary": 2})
    for n in range(1, 7):
        push_atomically(str(fake_model(tmp_path / f"m{n}", f"model {n}")), str(base), keep=3)
    assert versions.numeric_versions(str(base)) == [1, 2, 4, 5, 6]


def test_a_config_given_outside_and_a_specific_policy_pin_versions(tmp_path):
    base = tmp_path / "serving" / "names"
    outside = labels_config(tmp_path / "elsewhere.config", {"stable": 2}, specific=(1, 2))
    for n in range(1, 6):
        push_atomically(str(fake_model(tmp_path / f"m{n}", f"model {n}")), str(base), keep=2,
                        config_files=(str(outside),))
    assert versions.numeric_versions(str(base)) == [1, 2, 4, 5]


def test_a_models_config_that_does_not_parse_prunes_nothing(tmp_path):
    serving = tmp_path / "serving"
    serving.mkdir()
    (serving / "models.config").write_text("model_config_list { config { name: ")
    for n in range(1, 5):
        push_atomically(str(fake_model(tmp_path / f"m{n}", f"model {n}")),
                        str(serving / "names"), keep=1)
    assert versions.numeric_versions(str(serving / "names")) == [1, 2, 3, 4]


def test_the_newest_version_that_loads_survives_pushes_that_do_not_load(tmp_path):
    """The finding: three unloadable pushes used to leave only [4, 5, 6] and the server
    unloaded its last good version."""
    base = tmp_path / "serving" / "names"
    for n in range(1, 4):
        push_atomically(str(real_model(tmp_path / f"good{n}", b=float(n))), str(base), keep=3)
    for n in range(4, 7):
        push_atomically(str(fake_model(tmp_path / f"bad{n}", f"bad {n}")), str(base), keep=3)
    assert versions.numeric_versions(str(base)) == [3, 4, 5, 6]


def test_the_version_the_previous_push_left_serving_stays_and_pruning_says_why(tmp_path):
    base = tmp_path / "serving" / "names"
    push_atomically(str(real_model(tmp_path / "one", b=1.0)), str(base), keep=1)
    push_atomically(str(real_model(tmp_path / "two", b=2.0)), str(base), keep=1)
    assert versions.numeric_versions(str(base)) == [1, 2]
    retention = versions.prune_versions(str(base), 1, versions.in_use_versions(
        str(base), newest_loading=2, previously_serving=1))
    assert retention.pruned == []
    assert retention.kept == {1: ["served before this push"],
                              2: ["newest version that loads", "one of the newest 1"]}


def test_a_version_is_published_only_after_its_files_and_folder_are_fsynced(tmp_path,
                                                                            monkeypatch):
    synced: set[str] = set()
    real_fsync, real_rename = os.fsync, os.rename
    published = []

    def fsync(fd: int) -> None:
        synced.add(os.path.realpath(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def rename(source, target) -> None:
        if os.path.basename(str(target)).isdigit():
            files = {os.path.realpath(os.path.join(root, name))
                     for root, dirs, names in os.walk(source) for name in names + dirs}
            published.append((files | {os.path.realpath(source)}) - synced)
        real_rename(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    push_atomically(str(fake_model(tmp_path / "m1", "one")), str(tmp_path / "names"))
    assert published == [set()]  # every file and folder was synced before the rename
    assert os.path.realpath(tmp_path / "names") in synced  # and the folder after it


def test_a_rollback_keeps_labelled_versions(tmp_path):
    serving = tmp_path / "serving"
    base = serving / "names"
    serving.mkdir()
    labels_config(serving / "models.config", {"stable": 1})
    for n in range(1, 4):
        push_atomically(str(fake_model(tmp_path / f"m{n}", f"model {n}")), str(base))
    assert rollback.rollback(str(base), to=2, keep=1)[:2] == (4, 2)
    assert versions.numeric_versions(str(base)) == [1, 4]
