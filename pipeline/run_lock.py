"""One `namegen run` per pipeline root, and the clean-up a crashed run leaves for the next one.

The lock is an advisory `flock` on `<pipeline root>/.namegen-run.lock`. The kernel drops it when
the process dies, however it dies (kill -9 included), so a crash never leaves a stale lock. The
file's text says who holds it, for the message the second run prints.

Holding the lock also proves that no other run is alive on the root, so executions that ML
Metadata still shows RUNNING were left by a run that died: they are marked CANCELED.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time

LOCK_FILE = ".namegen-run.lock"


class RunLocked(RuntimeError):
    """Another `namegen run` holds the pipeline root."""


def lock_path(pipeline_root: str) -> str:
    return os.path.join(pipeline_root, LOCK_FILE)


def holder(pipeline_root: str) -> dict:
    """Who wrote the lock file last: pid, host, start time, command (empty if unknown)."""
    try:
        with open(lock_path(pipeline_root)) as f:
            return json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {}


def describe_holder(pipeline_root: str) -> str:
    info = holder(pipeline_root)
    if not info:
        return "another `namegen run`"
    started = time.strftime("%H:%M:%S", time.localtime(info.get("started", 0)))
    return f"another `namegen run` (pid {info.get('pid')} on {info.get('host')}, since {started})"


@contextlib.contextmanager
def run_lock(pipeline_root: str, wait: bool = False, poll_seconds: float = 0.5,
             timeout: float | None = None, announce=None):
    """Holds the root's run lock for the block.

    wait False: raise RunLocked at once if another run holds it. wait True: call
    announce(message) once, then wait (up to timeout seconds; None: forever) for it.
    """
    os.makedirs(pipeline_root, exist_ok=True)
    handle = open(lock_path(pipeline_root), "a+")  # noqa: SIM115  (closed below)
    try:
        deadline = None if timeout is None else time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                message = f"{describe_holder(pipeline_root)} is using {pipeline_root}"
                if not wait:
                    raise RunLocked(f"{message}; wait for it to finish, or pass --wait to "
                                    "queue behind it") from None
                if deadline is not None and time.monotonic() > deadline:
                    raise RunLocked(f"{message}; gave up after {timeout:g}s") from None
                if not announced and announce:
                    announce(f"{message}; waiting for it to finish (Ctrl-C to give up) ...")
                    announced = True
                time.sleep(poll_seconds)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.time(), "argv": sys.argv[:8]}))
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock


def cancel_orphaned_executions(pipeline_root: str) -> list[tuple[int, str]]:
    """Marks executions left RUNNING by a dead run as CANCELED; returns (id, component) pairs.

    Call only while holding the run lock: then no live run owns a RUNNING execution.
    """
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    from pipeline import configs

    path = configs.metadata_path(pipeline_root)
    if not os.path.exists(path):
        return []
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
    store = metadata_store.MetadataStore(config)
    running = [e for e in store.get_executions()
               if e.last_known_state in (metadata_store_pb2.Execution.RUNNING,
                                         metadata_store_pb2.Execution.NEW)]
    cancelled = []
    for execution in running:
        execution.last_known_state = metadata_store_pb2.Execution.CANCELED
        execution.custom_properties["namegen_note"].string_value = (
            "left RUNNING by a run that died; cancelled by the next `namegen run`")
        node = (execution.custom_properties["__node_id__"].string_value
                if "__node_id__" in execution.custom_properties
                else execution.type.split(".")[-1])
        cancelled.append((execution.id, node))
    if running:
        store.put_executions(running)
    return cancelled

