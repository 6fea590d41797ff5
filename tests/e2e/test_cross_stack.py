"""Models cross the stacks: exported on one (classic or current), served and scored on the other.

Needs the other stack's Python: NAMEGEN_OTHER_PYTHON is a command line ending in that stack's
.venv/bin/python, e.g. `chroot /var/tmp/namegen-trixie /src/namegen/.venv/bin/python`; with a
chroot, NAMEGEN_OTHER_ROOT is its directory, so both sides see the exchanged files. .ci/run sets
both after building the Debian 13 root. Without them every test here is SKIPPED with that reason
(reported by `-ra`), never passed. Both sides train the `tiny` preset through the whole pipeline
(`namegen run`) on the same data file, then each side loads both SavedModels with plain
TensorFlow (as TF Serving does) and samples the same seeds.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from data import encoding
from serving import model_dir

OTHER_PYTHON = shlex.split(os.environ.get("NAMEGEN_OTHER_PYTHON", ""))
OTHER_ROOT = os.environ.get("NAMEGEN_OTHER_ROOT", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OTHER_PYTHON, reason="cross-stack tests NOT RUN: set "
                       "NAMEGEN_OTHER_PYTHON (and NAMEGEN_OTHER_ROOT for a chroot); .ci/run does"),
]
SEEDS = list(range(1000, 1032))
EPOCHS = 3  # as the tiny_run fixture: enough for the gate to push

PROBE = r"""
import json, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
generate, score = model.signatures["serving_default"], model.signatures["score"]
seeds = json.loads(sys.argv[2])

def call(temperature, prefix=""):
    n = len(seeds)
    out = generate(prefix=tf.constant([prefix] * n), seed=tf.constant(seeds, tf.int64),
                   temperature=tf.constant([temperature] * n, tf.float32),
                   max_length=tf.constant([32] * n, tf.int32),
                   top_k=tf.constant([0] * n, tf.int32),
                   top_p=tf.constant([1.0] * n, tf.float32),
                   min_length=tf.constant([0] * n, tf.int32),
                   no_copy=tf.constant([False] * n))
    return [v.decode() for v in out["name"].numpy()], out["log_prob"].numpy().tolist()

names, log_probs = call(1.0)
fixed = ["Tyrannosaurus", "Ab", "Zzzzzz"]
scored = score(name=tf.constant(names + fixed))
print(json.dumps(dict(tensorflow=tf.__version__, names=names, log_probs=log_probs,
                      prefixed=call(0.8, "Ste")[0], greedy=call(0.0)[0][:2],
                      score=scored["log_likelihood"].numpy().tolist())))
"""


def _outside(path: Path) -> str:
    """`path` as the other stack sees it."""
    if not OTHER_ROOT:
        return str(path)
    return "/" + str(path.resolve().relative_to(Path(OTHER_ROOT).resolve()))


def _run(command: list[str], what: str) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_ENABLE_FORK_SUPPORT": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=3600)
    assert done.returncode == 0, f"{what} failed:\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def exchange(dinos_path) -> Path:
    """A folder both stacks can read and write, holding the data file."""
    parent = Path(OTHER_ROOT) / "tmp" if OTHER_ROOT else None
    folder = Path(tempfile.mkdtemp(prefix="namegen-cross-", dir=parent))
    folder.chmod(0o755)
    shutil.copy(dinos_path, folder / "dinos.txt")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _export(python: list[str], exchange: Path, side: str, outside) -> Path:
    root = exchange / side
    _run(python + ["-m", "namegen.cli", "run", "--preset", "tiny", "--epochs", str(EPOCHS),
                   "--data", outside(exchange / "dinos.txt"),
                   "--pipeline-root", outside(root / "pipeline"),
                   "--serving-dir", outside(root / "serving")],
         f"`namegen run` on the {side} stack")
    return model_dir.resolve(root / "serving" / encoding.MODEL_NAME)


@pytest.fixture(scope="module")
def models(exchange) -> dict[str, Path]:
    """The tiny model exported by this stack ("here") and by the other one ("other")."""
    return {"here": _export([sys.executable], exchange, "here", str),
            "other": _export(OTHER_PYTHON, exchange, "other", _outside)}


@pytest.fixture(scope="module")
def served(models) -> dict[tuple[str, str], dict]:
    """(exported by, served by) -> what the serving stack sampled and scored."""
    results = {}
    for exporter, model in models.items():
        for server, python, outside in (("here", [sys.executable], str),
                                        ("other", OTHER_PYTHON, _outside)):
            out = _run(python + ["-c", PROBE, outside(model), json.dumps(SEEDS)],
                       f"serving the {exporter} model on the {server} stack")
            results[exporter, server] = json.loads(out.strip().splitlines()[-1])
    return results


def test_the_two_sides_are_different_stacks(served):
    here, other = served["here", "here"]["tensorflow"], served["here", "other"]["tensorflow"]
    assert here != other, f"both sides run TensorFlow {here}: not a cross-stack test"


@pytest.mark.parametrize("exporter", ["here", "other"])
def test_a_model_samples_the_same_names_on_both_stacks(served, exporter):
    native, foreign = served[exporter, exporter], served[exporter, _flip(exporter)]
    assert foreign["names"] == native["names"]
    assert foreign["prefixed"] == native["prefixed"]
    assert foreign["greedy"] == native["greedy"]
    assert len(set(native["names"])) > len(SEEDS) // 2  # the seeds really vary the samples


@pytest.mark.parametrize("exporter", ["here", "other"])
def test_a_model_scores_the_same_on_both_stacks(served, exporter):
    native, foreign = served[exporter, exporter], served[exporter, _flip(exporter)]
    # float32 kernels of two TF releases: equal up to rounding, not bit for bit.
    assert foreign["log_probs"] == pytest.approx(native["log_probs"], rel=1e-5, abs=1e-5)
    assert foreign["score"] == pytest.approx(native["score"], rel=1e-5, abs=1e-5)


def _flip(side: str) -> str:
    return "other" if side == "here" else "here"
