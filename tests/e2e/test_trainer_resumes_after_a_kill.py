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
restored_epoch, _ = trainer.checkpoints.restore()  # fit restores again: the same state
print("RESTORED", restored_epoch, int(trainer.optimizer.iterations), flush=True)
history = trainer.fit(ids, ids[:64], tf.summary.create_file_writer(run_dir))
"""



@pytest.mark.slow  # trains 6 epochs in a subprocess, twice
def test_training_resumes_from_the_last_checkpoint_after_a_kill(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-c", TRAIN_SCRIPT, str(run_dir), "6"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    checkpoints = run_dir / "checkpoints"
    while not list(checkpoints.glob("ckpt-2.index")):  # an event; the run itself is the cap
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    history = json.loads((run_dir / "history.json").read_text())
    done = len(history)
    assert 2 <= done < 6, "the kill must land mid-training"
    saved_epoch, saved_step = checkpointed_progress(checkpoints)
    assert (saved_epoch, saved_step) == (done, done * 64)  # 64 steps per epoch

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    # The second process starts from the checkpointed epoch and optimizer step, not from 0 ...
    assert second.stdout.split("RESTORED")[1].split()[:2] == [str(saved_epoch), str(saved_step)]
    # ... keeps the killed run's epochs as they were, and trains only the rest to epoch 6.
    resumed_history = json.loads((run_dir / "history.json").read_text())
    assert [r["epoch"] for r in resumed_history] == [1, 2, 3, 4, 5, 6]
    assert resumed_history[:done] == history  # timings included: not trained again
    assert checkpointed_progress(checkpoints) == (6, 6 * 64)


def checkpointed_progress(checkpoints) -> tuple[int, int]:
    """(epoch, optimizer step) stored in the newest epoch checkpoint, read from the file."""
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(checkpoints))
    return (int(tf.train.load_variable(latest, "epoch/.ATTRIBUTES/VARIABLE_VALUE")),
            int(tf.train.load_variable(latest, "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE")))
