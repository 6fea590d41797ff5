"""Trainer: a training process killed mid-run resumes from its last checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

TRAIN_SCRIPT = """
import sys, numpy as np
from components.trainer import loop
from components.trainer.model import build_model
from pipeline import configs
from data import encoding
import tensorflow as tf
run_dir, epochs = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
ids = np.zeros([512, encoding.SEQUENCE_LENGTH], np.int64)
for row in ids:
    n = rng.integers(3, 12); row[:n] = rng.integers(2, 20, n); row[n] = encoding.EON_ID
hp = configs.resolve("tiny", {"epochs": epochs, "rnn_units": 256, "batch_size": 8})
model = build_model(20, hp)
trainer = loop.TrainingLoop(model, hp, 64, run_dir)
history = trainer.fit(ids, ids[:64], tf.summary.create_file_writer(run_dir))
print("START", history[0]["epoch"] if history else None, "STEPS", int(trainer.optimizer.iterations))
"""



@pytest.mark.slow  # trains 6 epochs in a subprocess, twice
def test_training_resumes_from_the_last_checkpoint_after_a_kill(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-c", TRAIN_SCRIPT, str(run_dir), "6"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoints = run_dir / "checkpoints"
    deadline = time.time() + 240
    while time.time() < deadline and not list(checkpoints.glob("ckpt-2.index")):
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    history = json.loads((run_dir / "history.json").read_text())
    done = len(history)
    assert 2 <= done < 6, "the kill must land mid-training"
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"resumed from {checkpoints}" in second.stderr
    start = int(second.stdout.split("START")[1].split()[0])
    steps = int(second.stdout.split("STEPS")[1].split()[0])
    assert start == 1  # history restored from the checkpoint, not restarted
    assert steps == 6 * 64  # the step count continues: 64 steps per epoch, 6 epochs in all
    resumed_epochs = [line for line in second.stderr.splitlines() if "epoch" in line
                      and "/6" in line]
    assert len(resumed_epochs) == 6 - done
    assert len(json.loads((run_dir / "history.json").read_text())) == 6
