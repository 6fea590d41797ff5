"""The TF Serving model tree: <base>/<model>/<numeric version>/saved_model.pb."""

from __future__ import annotations

import json
import os
from pathlib import Path

from serving import contract

METADATA_FILE = os.path.join(contract.ASSETS_EXTRA, contract.METADATA_FILE_NAME)


def versions(model_base: str | os.PathLike) -> list[int]:
    """Numeric version folders that hold a saved_model.pb, ascending (others are ignored)."""
    base = Path(model_base)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir()
                  if p.name.isdigit() and (p / "saved_model.pb").is_file())


def resolve(path: str | os.PathLike) -> Path:
    """A version folder itself, or the newest version under a model folder or a serving dir."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    children = sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    for base in [path, *children]:
        found = versions(base)
        if found:
            return Path(base) / str(found[-1])
    raise FileNotFoundError(f"no SavedModel version under {path}: run `namegen run` first")


def read_metadata(version_dir: str | os.PathLike) -> dict:
    with open(Path(version_dir) / METADATA_FILE, encoding="utf-8") as f:
        return json.load(f)
