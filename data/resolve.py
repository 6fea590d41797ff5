"""Find the default dataset: a given path, data/, a ../shared copy, or a verified download."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
MANIFEST = DATA_DIR / "manifest.json"
SHARED_DIR = DATA_DIR.parent.parent / "shared" / "data"
DEFAULT_DATASET = "dinos.txt"
# TFX's span and version placeholders in a data pattern, e.g. names/{SPAN}/*.txt
SPAN, VERSION = "{SPAN}", "{VERSION}"


class DataError(RuntimeError):
    """The dataset cannot be found or does not match its manifest."""


def manifest(name: str = DEFAULT_DATASET) -> dict:
    entries = json.loads(MANIFEST.read_text())
    if name not in entries:
        raise DataError(f"{name} is not in {MANIFEST}")
    return entries[name]


def sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(
    path: str | os.PathLike | None = None,
    name: str = DEFAULT_DATASET,
    data_dir: Path = DATA_DIR,
    shared_dir: Path = SHARED_DIR,
    url: str | None = None,
) -> Path:
    """Return a local path to the dataset, fetching and verifying it when needed."""
    if path is not None:
        given = Path(path)
        if not given.is_file():
            raise DataError(f"data file {given} does not exist")
        return given.resolve()
    entry = manifest(name)
    target = data_dir / name
    if target.is_file():
        return target
    shared = shared_dir / name
    if shared.is_file():
        _install(lambda dst: shutil.copyfile(shared, dst), target, entry, source=str(shared))
        return target
    source = url or entry["url"]
    _install(lambda dst: _download(source, dst), target, entry, source=source)
    return target


def _download(url: str, destination: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(destination, "wb") as out:
            shutil.copyfileobj(response, out)
    except OSError as error:
        raise DataError(
            f"could not download {url}: {error}. Pass --data PATH to a local copy instead."
        ) from error


def _install(fetch, target: Path, entry: dict, source: str) -> None:
    """Fetch into a temporary file beside target, verify, then rename atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    try:
        fetch(partial)
        actual = sha256(partial)
        if actual != entry["sha256"]:
            raise DataError(
                f"checksum mismatch for {target.name} from {source}: "
                f"expected sha256 {entry['sha256']}, got {actual}"
            )
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
