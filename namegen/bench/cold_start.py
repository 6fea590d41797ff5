"""Cold start: `namegen generate -n 1` against a bare TensorFlow import-and-load of one model.

Both run in fresh interpreters, interleaved round by round, so the ratio of medians compares
them under the same load. The difference is what the CLI adds on top of TensorFlow itself.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BARE = "import sys, tensorflow as tf; tf.saved_model.load(sys.argv[1])"


def commands(model: Path) -> dict[str, list[str]]:
    return {"bare": [sys.executable, "-c", BARE, str(model)],
            "generate": [sys.executable, "-m", "namegen.cli", "generate", "--model", str(model),
                         "-n", "1"]}


def measure(model: Path, rounds: int) -> dict:
    """Wall seconds of each command per round (medians, samples and generate / bare)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    samples: dict[str, list[float]] = {"bare": [], "generate": []}
    for _ in range(rounds):
        for name, command in commands(model).items():
            started = time.perf_counter()
            subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            samples[name].append(time.perf_counter() - started)
    bare, generate = (statistics.median(samples[k]) for k in ("bare", "generate"))
    return {"bare_seconds": bare, "generate_seconds": generate,
            "generate_vs_bare": generate / bare, "rounds": rounds, "samples": samples,
            "bare_command": f"python -c {BARE!r} MODEL",
            "generate_command": "python -m namegen.cli generate --model MODEL -n 1"}
