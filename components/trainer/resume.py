"""Resuming training: the loop's checkpoints (save, restore, Ctrl-C mid-epoch) and adopting the
earlier attempt of the same training after a Trainer that died (kill -9, full disk)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile

import tensorflow as tf

from pipeline.configs import Hyperparameters

HISTORY_FILE = "history.json"
RESUME_KEY_FILE = "resume_key.txt"  # inputs + hyperparameters of an attempt (resume_key())
INTERRUPTED = "interrupted"  # the mid-epoch checkpoint written on Ctrl-C (SIGINT)
CHECKPOINTS = "checkpoints"


class Checkpoints:
    """The training loop's checkpoints: one per epoch, and one on Ctrl-C mid-epoch.

    `checkpoint` holds every variable of the loop (weights, optimizer, best, averages) and the
    progress variables given here: the epoch, the batches done in it and its loss sums. Only the
    chief's checkpoints are kept: saving may need every worker, so the others write to a scratch
    folder and delete it.
    """

    def __init__(self, checkpoint: tf.train.Checkpoint, run_dir: str, epoch: tf.Variable,
                 batches_done: tf.Variable, partial: tf.Variable, chief: bool = True,
                 workers: int = 1):
        self.checkpoint, self.run_dir = checkpoint, run_dir
        self.chief, self.workers = chief, workers
        self.epoch, self.batches_done, self.partial = epoch, batches_done, partial
        self.directory = os.path.join(run_dir, CHECKPOINTS)
        self.scratch_dir = None if chief else tempfile.mkdtemp(prefix="namegen-worker-")
        self.manager = tf.train.CheckpointManager(
            checkpoint, self.directory if chief else self.scratch_dir, max_to_keep=2)

    def restore(self) -> tuple[int, list[dict]]:
        """Resume from the last checkpoint, if any: (the epoch to start from, its history).

        An interrupt checkpoint (mid-epoch) is newer than every epoch checkpoint while it
        exists; if it cannot be read (a second Ctrl-C while writing it), the epoch one is used.
        Every worker restores the chief's checkpoint.
        """
        interrupted = os.path.join(self.directory, INTERRUPTED)
        latest = tf.train.latest_checkpoint(self.directory)
        restored, history = None, []
        if tf.io.gfile.exists(interrupted + ".index"):
            try:
                self.checkpoint.read(interrupted).expect_partial()
                restored = interrupted
            except (tf.errors.OpError, ValueError) as error:
                log(f"ignoring an unreadable interrupt checkpoint: {str(error)[:200]}")
        if restored is None and latest:
            self.checkpoint.restore(latest).expect_partial()
            self.batches_done.assign(0)
            restored = latest
        if restored:
            history_path = os.path.join(self.run_dir, HISTORY_FILE)
            if os.path.exists(history_path):
                with open(history_path) as f:
                    history = json.load(f)[: int(self.epoch.numpy())]
            log(f"resumed from {restored} at epoch {int(self.epoch)}, "
                f"batch {int(self.batches_done)}")
        return int(self.epoch.numpy()), history

    def save_interrupted(self, batches_done: int, sums: tuple) -> str | None:
        """Ctrl-C mid-epoch: checkpoint the weights and where in the epoch training stopped.

        Single-worker only: one worker's interrupt cannot checkpoint the others.
        """
        if self.workers > 1:
            return None
        self.batches_done.assign(batches_done)
        self.partial.assign([float(x) for x in sums])
        path = self.checkpoint.write(os.path.join(self.directory, INTERRUPTED))
        log(f"interrupted: saved {path} at epoch {int(self.epoch)}, batch {batches_done}")
        return path

    def save_epoch(self, epoch: int, history: list[dict]) -> bool:
        """Checkpoint a finished epoch (every worker takes part) and, on the chief, its history.

        Returns whether this worker is the chief (which also writes the summaries).
        """
        self.manager.save(checkpoint_number=epoch)
        if not self.chief:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)
            return False
        for leftover in tf.io.gfile.glob(os.path.join(self.directory, INTERRUPTED + ".*")):
            tf.io.gfile.remove(leftover)  # superseded by the epoch checkpoint
        path = os.path.join(self.run_dir, HISTORY_FILE)
        with open(path + ".tmp", "w") as f:
            json.dump(history, f, indent=1)
        os.replace(path + ".tmp", path)
        return True


def log(message: str) -> None:
    print(f"[trainer] {message}", file=sys.stderr, flush=True)


def resume_key(fn_args, hp: Hyperparameters) -> str:
    """What makes two Trainer attempts the same training: inputs, hyperparameters, config."""
    described = {"hyperparameters": hp.as_dict(), "train": list(fn_args.train_files),
                 "eval": list(fn_args.eval_files), "transform": fn_args.transform_graph_path,
                 "custom_config": fn_args.custom_config}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def has_checkpoint(run_dir: str) -> bool:
    checkpoints = os.path.join(run_dir, CHECKPOINTS)
    return bool(tf.train.latest_checkpoint(checkpoints)
                or os.path.exists(os.path.join(checkpoints, INTERRUPTED + ".index")))


def adopt_earlier_attempt(run_dir: str, key: str) -> str | None:
    """Continue an attempt of the same training that died (kill -9, Ctrl-C, full disk).

    A re-run after a crash is a new TFX execution with a new, empty model_run_dir. Its siblings
    (model_run/<execution id>) hold earlier attempts; the newest one with the same resume key
    and a checkpoint is copied in (via a temporary folder and a rename), so restore() resumes
    from it instead of epoch 0. Returns the adopted folder, or None.
    """
    if "://" in run_dir:
        return None  # object stores: no adoption (each execution trains from its own folder)
    checkpoints = os.path.join(run_dir, CHECKPOINTS)
    adopted = None
    if not os.path.isdir(checkpoints):
        parent = os.path.dirname(os.path.abspath(run_dir))
        earlier = []
        for name in os.listdir(parent):
            other = os.path.join(parent, name)
            if other == os.path.abspath(run_dir) or not name.isdigit():
                continue
            try:
                with open(os.path.join(other, RESUME_KEY_FILE)) as f:
                    same = f.read().strip() == key
            except OSError:
                continue
            if same and has_checkpoint(other):
                earlier.append((int(name), other))
        if earlier:
            _, adopted = max(earlier)
            staging = checkpoints + ".adopting"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(os.path.join(adopted, CHECKPOINTS), staging)
            if os.path.exists(os.path.join(adopted, HISTORY_FILE)):
                shutil.copy(os.path.join(adopted, HISTORY_FILE),
                            os.path.join(run_dir, HISTORY_FILE))
            os.rename(staging, checkpoints)
            log(f"continuing the earlier attempt {adopted}")
    with open(os.path.join(run_dir, RESUME_KEY_FILE), "w") as f:
        f.write(key)
    return adopted
