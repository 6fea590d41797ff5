"""Fault injection for the kill tests: a run pauses at a named point so a test can kill -9 it."""

from __future__ import annotations

import os
import sys
import time

FAILPOINT_ENV = "NAMEGEN_FAILPOINT"


def failpoint(name: str, seconds: float = 300.0) -> None:
    """Pauses here (bounded) when NAMEGEN_FAILPOINT names this point; the pause ends early once
    the file that NAMEGEN_FAILPOINT_RELEASE names exists. A no-op otherwise."""
    if os.environ.get(FAILPOINT_ENV) != name:
        return
    print(f"namegen: failpoint {name} reached (pid {os.getpid()})", file=sys.stderr, flush=True)
    release = os.environ.get(FAILPOINT_ENV + "_RELEASE")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not (release and os.path.exists(release)):
        time.sleep(0.1)
