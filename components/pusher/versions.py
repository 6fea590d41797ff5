"""The push destination's numbered versions: the served one, atomic writes and retention."""

from __future__ import annotations

import contextlib
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
                  edit: Callable[[str], None] | None = None, keep: int = 0) -> int:
    """Copy source into base/.incoming-*, let edit() change the copy, rename it to the next version.

    TF Serving ignores non-numeric folders, so readers never see a partial version. A version
    whose marker equals `marker` (a re-run after a crash) is returned instead of a new copy.
    keep > 0: afterwards only the newest `keep` versions stay (prune_versions).
    Call with the push lock held.
    """
    for version in numeric_versions(base):
        path = os.path.join(base, str(version), SOURCE_MARKER)
        if os.path.exists(path) and open(path).read() == marker:
            logging.info("model %s is already version %d", marker, version)
            return version
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
        version = max(numeric_versions(base), default=0) + 1
        failpoint("push-before-rename")
        os.rename(incoming, os.path.join(base, str(version)))
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    if keep > 0:
        prune_versions(base, keep)
    return version


def prune_versions(base: str, keep: int) -> list[int]:
    """Remove all but the newest `keep` versions; the served (newest) one always stays.

    Each old version is first renamed to a non-numeric name (TF Serving stops seeing it at
    once, whole), then deleted. Returns the pruned version numbers.
    """
    if keep < 1:
        raise ValueError(f"keep must be at least 1 (the served version), got {keep}")
    pruned = numeric_versions(base)[:-keep]
    for version in pruned:
        doomed = os.path.join(base, f"{PRUNED_PREFIX}{version}-{uuid.uuid4().hex}")
        os.rename(os.path.join(base, str(version)), doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    if pruned:
        logging.info("pruned versions %s under %s (keeping the newest %d)", pruned, base, keep)
    return pruned
