"""The dataset resolver: given path, data/, a ../shared copy, or a verified download."""

from __future__ import annotations

import hashlib
import re

import pytest

from data import resolve

CONTENT = b"Alpha\nBeta\n"


@pytest.fixture
def fake_manifest(monkeypatch, tmp_path):
    """A manifest entry for a small file, so no test touches the real dataset."""
    entry = {"sha256": hashlib.sha256(CONTENT).hexdigest(), "bytes": len(CONTENT),
             "url": (tmp_path / "remote" / "dinos.txt").as_uri()}
    monkeypatch.setattr(resolve, "manifest", lambda name="dinos.txt": entry)
    return entry


def dirs(tmp_path):
    data_dir, shared_dir = tmp_path / "data", tmp_path / "shared"
    data_dir.mkdir(exist_ok=True)
    shared_dir.mkdir(exist_ok=True)
    return data_dir, shared_dir


def test_given_path_wins_and_must_exist(tmp_path):
    names = tmp_path / "mine.txt"
    names.write_bytes(b"Zed\n")
    assert resolve.resolve(names) == names.resolve()
    with pytest.raises(resolve.DataError, match="does not exist"):
        resolve.resolve(tmp_path / "missing.txt")


def test_copies_the_shared_file_and_verifies_it(fake_manifest, tmp_path):
    data_dir, shared_dir = dirs(tmp_path)
    (shared_dir / "dinos.txt").write_bytes(CONTENT)
    path = resolve.resolve(data_dir=data_dir, shared_dir=shared_dir)
    assert path == data_dir / "dinos.txt" and path.read_bytes() == CONTENT
    assert resolve.resolve(data_dir=data_dir, shared_dir=tmp_path / "gone") == path


def test_downloads_when_nothing_local(fake_manifest, tmp_path):
    data_dir, _ = dirs(tmp_path)
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "dinos.txt").write_bytes(CONTENT)
    path = resolve.resolve(data_dir=data_dir, shared_dir=tmp_path / "none")
    assert path.read_bytes() == CONTENT


def test_checksum_mismatch_is_an_error_and_leaves_nothing(fake_manifest, tmp_path):
    data_dir, shared_dir = dirs(tmp_path)
    (shared_dir / "dinos.txt").write_bytes(b"tampered\n")
    with pytest.raises(resolve.DataError, match="checksum mismatch"):
        resolve.resolve(data_dir=data_dir, shared_dir=shared_dir)
    assert list(data_dir.iterdir()) == []


def test_missing_everywhere_is_a_clear_error(fake_manifest, tmp_path):
    data_dir, _ = dirs(tmp_path)
    with pytest.raises(resolve.DataError, match="could not download .*--data PATH"):
        resolve.resolve(data_dir=data_dir, shared_dir=tmp_path / "none")
    assert list(data_dir.iterdir()) == []


def test_real_manifest_describes_the_default_data(dinos_path):
    """The manifest's checksum, size and description hold for the file itself."""
    entry = resolve.manifest("dinos.txt")
    content = dinos_path.read_bytes()
    assert entry["sha256"] == hashlib.sha256(content).hexdigest()
    assert entry["bytes"] == len(content)
    lines = content.decode("utf-8").splitlines()
    characters = set("".join(lines))
    assert f"({len(lines):,} lines, {len(characters)} distinct name characters)" in \
        entry["description"]
    # pinned to a commit, not a branch that could move
    assert re.search(r"/[0-9a-f]{40}/dinos\.txt$", entry["url"]), entry["url"]
