"""The push destination's numbered versions: the served one, atomic writes and retention."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import shutil
import uuid
from collections.abc import Callable

import tensorflow as tf
from absl import logging

from pipeline.failpoints import failpoint

SOURCE_MARKER = os.path.join("assets.extra", "pushed_from.txt")
INCOMING_PREFIX = ".incoming-"
PRUNED_PREFIX = ".pruned-"


def numeric_versions(base: str) -> list[int]:
    """Version folders TF Serving would load (numeric names only), ascending."""
    if not tf.io.gfile.isdir(base):
        return []
    return sorted(int(n.rstrip("/")) for n in tf.io.gfile.listdir(base) if n.rstrip("/").isdigit())


def complete_versions(base: str) -> list[int]:
    """Numeric versions that hold a saved_model.pb, ascending."""
    return [v for v in numeric_versions(base)
            if tf.io.gfile.exists(os.path.join(base, str(v), "saved_model.pb"))]


def served_version(base: str) -> int | None:
    """The version TF Serving's default policy (latest) serves: the newest complete one."""
    found = complete_versions(base)
    return found[-1] if found else None


@contextlib.contextmanager
def push_lock(base: str):
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, ".push.lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def write_version(source: str, base: str, marker: str,
                  edit: Callable[[str], None] | None = None, keep: int = 0,
                  config_files: tuple[str, ...] = (),
                  loads: Callable[[str], bool] | None = None) -> int:
    """Copy source into base/.incoming-*, let edit() change the copy, fsync it, rename it to
    the next version and fsync the folder.

    TF Serving ignores non-numeric folders, so readers never see a partial version, and a crash
    after the rename cannot leave a published version with unwritten files. A version whose
    marker equals `marker` (a re-run after a crash) is returned instead of a new copy.
    keep > 0: afterwards the newest `keep` versions stay, and every version in use (see
    prune_versions, with `config_files` and `loads`). Call with the push lock held.
    """
    for version in numeric_versions(base):
        path = os.path.join(base, str(version), SOURCE_MARKER)
        if os.path.exists(path) and open(path).read() == marker:
            logging.info("model %s is already version %d", marker, version)
            return version
    loads = loads or saved_model_loads
    serving_before = newest_loading(base, loads) if keep > 0 else None
    for stale in os.listdir(base):
        if stale.startswith((INCOMING_PREFIX, PRUNED_PREFIX)):
            shutil.rmtree(os.path.join(base, stale), ignore_errors=True)
    incoming = os.path.join(base, f"{INCOMING_PREFIX}{uuid.uuid4().hex}")
    try:
        shutil.copytree(source, incoming)
        os.makedirs(os.path.dirname(os.path.join(incoming, SOURCE_MARKER)), exist_ok=True)
        with open(os.path.join(incoming, SOURCE_MARKER), "w") as f:
            f.write(marker)
        if edit is not None:
            edit(incoming)
        fsync_tree(incoming)
        version = max(numeric_versions(base), default=0) + 1
        failpoint("push-before-rename")
        os.rename(incoming, os.path.join(base, str(version)))
        fsync_dir(base)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    if keep > 0:
        newest = version if loads(os.path.join(base, str(version))) else serving_before
        prune_versions(base, keep, in_use=in_use_versions(
            base, config_files, newest_loading=newest, previously_serving=serving_before))
    return version


def fsync_tree(root: str) -> None:
    """fsync every file under root, then every folder, deepest first."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(folder)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def saved_model_loads(path: str) -> bool:
    """Whether this TensorFlow loads the SavedModel at path (as a server would)."""
    try:
        tf.saved_model.load(path)
        return True
    except Exception as error:  # noqa: BLE001  any failure means it does not load
        logging.warning("version %s does not load: %s", path, str(error).splitlines()[0][:200]
                        if str(error) else type(error).__name__)
        return False


def newest_loading(base: str, loads: Callable[[str], bool]) -> int | None:
    """The newest complete version that loads (the one TF Serving falls back to serving)."""
    for version in reversed(complete_versions(base)):
        if loads(os.path.join(base, str(version))):
            return version
    return None


def in_use_versions(base: str, config_files: tuple[str, ...] = (),
                    newest_loading: int | None = None,
                    previously_serving: int | None = None) -> dict[int, list[str]]:
    """Versions that must stay, each with why: named by a label or a `specific` policy in a
    models.config under the serving folder (base's parent) or in `config_files`; the newest
    that loads; the one the previous push left serving. A config that does not parse pins
    every version (what it names is unknown)."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    present = numeric_versions(base)
    reasons: dict[int, list[str]] = {}

    def pin(version: int, why: str) -> None:
        if version in present:
            reasons.setdefault(version, []).append(why)

    model = os.path.basename(os.path.normpath(base))
    for path in (*_configs_under(os.path.dirname(os.path.normpath(base))), *config_files):
        try:
            with open(path, encoding="utf-8") as f:
                config = text_format.Parse(f.read(), model_server_config_pb2.ModelServerConfig())
        except (OSError, text_format.ParseError) as error:
            for version in present:
                pin(version, f"{path} does not parse ({type(error).__name__})")
            continue
        for entry in config.model_config_list.config:
            if model not in (entry.name, os.path.basename(entry.base_path.rstrip("/"))):
                continue
            for label, version in entry.version_labels.items():
                pin(version, f"label {label!r} in {path}")
            for version in entry.model_version_policy.specific.versions:
                pin(version, f"specific version policy in {path}")
    if newest_loading is not None:
        pin(newest_loading, "newest version that loads")
    if previously_serving is not None:
        pin(previously_serving, "served before this push")
    return reasons


def _configs_under(folder: str) -> list[str]:
    """Every models.config under folder, version folders skipped."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.isdigit() and not d.startswith(".")]
        found.extend(os.path.join(root, n) for n in files if n == "models.config")
    return sorted(found)


@dataclasses.dataclass
class Retention:
    """What a prune did: the versions removed, and each version kept with why."""

    pruned: list[int]
    kept: dict[int, list[str]]


def prune_versions(base: str, keep: int,
                   in_use: dict[int, list[str]] | None = None) -> Retention:
    """Remove all but the newest `keep` versions and those `in_use` (in_use_versions).

    Each old version is first renamed to a non-numeric name (TF Serving stops seeing it at
    once, whole), then deleted. Logs and returns which versions stayed and why.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the served version), got {keep}")
    present = numeric_versions(base)
    kept = {v: list((in_use or {}).get(v, [])) for v in present}
    for version in present[-keep:]:
        kept[version].append(f"one of the newest {keep}")
    kept = {v: why for v, why in kept.items() if why}
    pruned = [v for v in present if v not in kept]
    for version in pruned:
        doomed = os.path.join(base, f"{PRUNED_PREFIX}{version}-{uuid.uuid4().hex}")
        os.rename(os.path.join(base, str(version)), doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    if pruned:
        fsync_dir(base)
    logging.info("retention under %s: pruned %s; kept %s", base, pruned or "nothing",
                 "; ".join(f"{v} ({', '.join(why)})" for v, why in sorted(kept.items())))
    return Retention(pruned, kept)
