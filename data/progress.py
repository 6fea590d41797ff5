"""Progress lines for long waits: nobody waits ten seconds without a line (issue 24).

`Progress` counts work done in a loop (batches of an epoch): on a terminal it rewrites one line
about every second; otherwise it prints a plain log line about every LOG_SECONDS. `heartbeat`
covers a phase with no count (the teacher build, a TFX component, a bench run): a plain line
every TTY_HEARTBEAT_SECONDS on a terminal, every LOG_SECONDS otherwise. Standard library only,
so every layer may use it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

LOG_SECONDS = 60.0  # a plain log line this often when stderr is not a terminal
TTY_SECONDS = 1.0  # a terminal's progress line is rewritten this often
TTY_HEARTBEAT_SECONDS = 10.0


def is_terminal(stream: TextIO) -> bool:
    return bool(getattr(stream, "isatty", lambda: False)())


def duration(seconds: float) -> str:
    """1h02m, 3m05s or 42s."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else \
        f"{secs}s"


class Progress:
    """`update(done, amount)` after each unit of work; `close()` once at the end."""

    def __init__(self, label: str, total: int | None, unit: str = "batches",
                 rate_unit: str = "chars", stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, log_seconds: float = LOG_SECONDS):
        self.label, self.total, self.unit, self.rate_unit = label, total, unit, rate_unit
        self.stream = stream or sys.stderr
        self.clock, self.terminal = clock, is_terminal(self.stream)
        self.every = TTY_SECONDS if self.terminal else log_seconds
        self.started = self.last = clock()
        self.done, self.amount, self.shown = 0, 0.0, False

    def line(self) -> str:
        elapsed = max(self.clock() - self.started, 1e-9)
        parts = [f"{self.done:,}" + (f"/{self.total:,}" if self.total else "") + f" {self.unit}"]
        if self.amount:
            parts.append(f"{self.amount / elapsed:,.0f} {self.rate_unit}/s")
        if self.total and self.done:
            parts.append(f"ETA {duration(elapsed * (self.total - self.done) / self.done)}")
        parts.append(f"{duration(elapsed)} so far")
        return f"{self.label}: {', '.join(parts)}"

    def update(self, done: int, amount: float = 0.0) -> None:
        self.done, self.amount = done, amount
        now = self.clock()
        if now - self.last < self.every:
            return
        self.last = now
        if self.terminal:
            self.stream.write(f"\r{self.line()}\x1b[K")
        else:
            self.stream.write(f"{self.line()}\n")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        """Ends the terminal line (the caller prints its own summary)."""
        if self.terminal and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


@contextlib.contextmanager
def heartbeat(label: str, stream: TextIO | None = None, every: float | None = None,
              detail: Callable[[], str] | None = None) -> Iterator[None]:
    """A line `label: still running, 1m00s[, detail()]` at intervals while the block runs."""
    stream = stream or sys.stderr
    every = every or (TTY_HEARTBEAT_SECONDS if is_terminal(stream) else LOG_SECONDS)
    stop, started = threading.Event(), time.monotonic()

    def beat() -> None:
        while not stop.wait(every):
            extra = detail() if detail else ""
            stream.write(f"{label}: still running, {duration(time.monotonic() - started)}"
                         f"{', ' + extra if extra else ''}\n")
            stream.flush()

    thread = threading.Thread(target=beat, name=f"heartbeat {label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
