"""Storage faults: a full disk, a read-only or unwritable folder, named in one line."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

STORAGE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                  errno.EPERM: "operation not permitted"}


class StorageError(RuntimeError):
    """A folder the run writes to is full or not writable; the message names it and the cause."""


def check_writable(label: str, path: str) -> None:
    """Fails fast, naming the folder and the cause, when a run could not write its outputs."""
    try:
        os.makedirs(path, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".namegen-write-check-", dir=path)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        cause = STORAGE_ERRNOS.get(error.errno, error.strerror or str(error))
        raise StorageError(f"cannot write to the {label} {path}: {cause}; fix it and re-run") \
            from None


def storage_problem(error: BaseException, places: list[tuple[str, str]]) -> str | None:
    """A one-line diagnosis when a run failed because a folder is full or not writable.

    Looks through the cause chain for an OSError with a storage errno, or a TensorFlow/Beam
    error whose text carries one; then names which of `places` (label, path) is at fault.
    """
    found, seen = None, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
            found = (STORAGE_ERRNOS[error.errno], error.filename)
            break
        text = str(error).lower().replace("database or disk is full", "no space left on device")
        found = next(((cause, None) for cause in STORAGE_ERRNOS.values() if cause in text), None)
        if found:
            break
        error = error.__cause__ or error.__context__
    if found is None:
        return None
    cause, filename = found
    for label, path in places:
        if filename and not os.path.abspath(str(filename)).startswith(path):
            continue
        try:
            read_only = bool(os.statvfs(path).f_flag & os.ST_RDONLY)
            free = shutil.disk_usage(path).free
        except OSError:
            continue
        if not filename and cause == "no space left on device" and free >= 1 << 20:
            continue  # this one has room: not the culprit
        if not filename and cause == "read-only file system" and not read_only:
            continue
        where = f" ({filename})" if filename else ""
        return (f"cannot write to the {label} {path}{where}: {cause} ({free // 1024:,} KiB "
                "free); nothing partial was pushed. Fix it and re-run to resume")
    return (f"the run stopped: {cause}" + (f" writing {filename}" if filename else "")
            + "; fix it and re-run to resume")
