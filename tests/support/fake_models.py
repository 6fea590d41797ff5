"""Folders shaped like an exported SavedModel version, for retention and rollback tests."""

from __future__ import annotations

import json
from pathlib import Path

from serving import model_dir


def fake_model(path: Path, tag: str) -> Path:
    """A version folder told apart by its tag; this TensorFlow cannot load it."""
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_text(tag)
    (path / "assets.extra").mkdir()
    (path / model_dir.METADATA_FILE).write_text(json.dumps({"tag": tag}))
    return path
