"""push_atomically(): numbered versions, idempotent re-pushes, no partial version left behind."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest

from components.pusher import executor, versions


def saved_model(folder: Path, content: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "saved_model.pb").write_text(content)
    (folder / "variables").mkdir()
    (folder / "assets.extra").mkdir()  # every export has it (namegen.json, warmup)
    (folder / "variables" / "variables.index").write_text(content + "-index")
    return folder


def test_versions_count_up_and_copy_the_whole_model(tmp_path):
    base = tmp_path / "serving"
    first = saved_model(tmp_path / "a", "A")
    second = saved_model(tmp_path / "b", "B")
    assert executor.push_atomically(str(first), str(base)) == 1
    assert executor.push_atomically(str(second), str(base)) == 2
    assert (base / "2" / "saved_model.pb").read_text() == "B"
    assert (base / "2" / "variables" / "variables.index").read_text() == "B-index"
    assert versions.numeric_versions(str(base)) == [1, 2]


def test_a_repush_of_the_same_source_keeps_its_version(tmp_path):
    base = tmp_path / "serving"
    model = saved_model(tmp_path / "a", "A")
    assert executor.push_atomically(str(model), str(base)) == 1
    assert executor.push_atomically(str(model), str(base)) == 1
    assert versions.numeric_versions(str(base)) == [1]


def test_a_crash_before_the_rename_leaves_no_version_and_the_retry_cleans_up(tmp_path):
    base = tmp_path / "serving"
    model = saved_model(tmp_path / "a", "A")
    with mock.patch.object(versions.shutil, "rmtree"):  # as if the process died: no cleanup
        with mock.patch.object(versions, "failpoint", side_effect=RuntimeError("crash")):
            with pytest.raises(RuntimeError):
                executor.push_atomically(str(model), str(base))
    assert versions.numeric_versions(str(base)) == []
    assert [p.name for p in base.iterdir() if p.name.startswith(".incoming-")]
    assert executor.push_atomically(str(model), str(base)) == 1
    assert not [p.name for p in base.iterdir() if p.name.startswith(".incoming-")]


def test_non_numeric_folders_are_not_versions(tmp_path):
    for name in ("3", "10", "latest", ".incoming-x", "7a"):
        (tmp_path / name).mkdir()
    assert versions.numeric_versions(str(tmp_path)) == [3, 10]
