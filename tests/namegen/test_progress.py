"""Progress lines (data/progress.py): counts, rate and ETA; a log line a minute off a terminal."""

from __future__ import annotations

import io
import threading

from data import progress


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_log_lines_about_every_minute_with_counts_rate_and_eta():
    stream, clock = io.StringIO(), FakeClock()
    shown = progress.Progress("[trainer] epoch 1/3", total=1000, stream=stream, clock=clock)
    for batch in range(1, 1001):
        clock.now = batch * 0.5  # 2 batches/s, 100 chars per batch: 200 chars/s
        shown.update(batch, batch * 100.0)
    shown.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 500 // 60  # one line per full minute of the 500 s epoch
    assert lines[0] == "[trainer] epoch 1/3: 120/1,000 batches, 200 chars/s, ETA 7m20s, " \
                       "1m00s so far"
    assert "\r" not in stream.getvalue()


def test_a_terminal_gets_one_rewritten_line():
    stream, clock = Terminal(), FakeClock()
    shown = progress.Progress("epoch", total=10, stream=stream, clock=clock)
    for batch in range(1, 11):
        clock.now = batch * 2.0
        shown.update(batch)
    shown.close()
    text = stream.getvalue()
    assert text.count("\r") == 11 and "\n" not in text  # 10 updates, then the line is cleared
    assert "10/10 batches" in text


def test_heartbeat_prints_while_the_block_runs():
    stream = io.StringIO()
    seen = threading.Event()

    class Watched(io.StringIO):
        def write(self, text: str) -> int:
            seen.set()
            return stream.write(text)

    with progress.heartbeat("  Transform", stream=Watched(), every=0.01, detail=lambda: "x"):
        assert seen.wait(600)  # a generous cap: a loaded machine is slower, never red
    assert stream.getvalue().startswith("  Transform: still running, 0s, x\n")


def test_durations_read_as_a_person_would():
    assert [progress.duration(s) for s in (5, 65, 3725)] == ["5s", "1m05s", "1h02m"]
