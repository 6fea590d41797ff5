"""The TF Serving model tree: <base>/<model>/<numeric version>/saved_model.pb."""

from __future__ import annotations

import json
import os
from pathlib import Path

from serving import contract

METADATA_FILE = contract.METADATA_FILE
GATE_FILE = contract.GATE_FILE  # written by the Pusher


def version_folders(model_base: str | os.PathLike) -> dict[int, Path]:
    """Every numeric child folder by version number, complete or not (others are ignored).

    The folder keeps its own name: `00000123/` is version 123 and is loaded from `00000123/`,
    as TF Serving does. If two folders name one version (`7/`, `007/`), the first in name
    order wins, so the choice does not depend on the file system's listing order.
    """
    base = Path(model_base)
    if not base.is_dir():
        return {}
    found: dict[int, Path] = {}
    for child in sorted(base.iterdir(), key=lambda p: p.name):
        if (child.name.isascii() and child.name.isdigit() and int(child.name) < 2**63
                and child.is_dir()):
            found.setdefault(int(child.name), child)
    return dict(sorted(found.items()))


def versions(model_base: str | os.PathLike) -> list[int]:
    """Numeric version folders that hold a saved_model.pb, ascending (others are ignored)."""
    return [v for v, p in version_folders(model_base).items() if (p / "saved_model.pb").is_file()]


def resolve(path: str | os.PathLike) -> Path:
    """A version folder itself, or the newest version under a model folder or a serving dir."""
    path = Path(path)
    if (path / "saved_model.pb").is_file():
        return path
    children = sorted(p for p in path.iterdir() if p.is_dir()) if path.is_dir() else []
    for base in [path, *children]:
        found = versions(base)
        if found:
            return version_folders(base)[found[-1]]
    raise FileNotFoundError(f"no SavedModel version under {path}: run `namegen run` first")


def read_metadata(version_dir: str | os.PathLike) -> dict:
    with open(Path(version_dir) / METADATA_FILE, encoding="utf-8") as f:
        return json.load(f)


def read_gate(version_dir: str | os.PathLike) -> dict | None:
    """The gate's verdict and metrics the Pusher recorded with a version (None: not recorded)."""
    path = Path(version_dir) / GATE_FILE
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
