"""Resuming a Trainer attempt that died: find the same training's earlier attempt and adopt it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

import tensorflow as tf

from pipeline.configs import Hyperparameters

HISTORY_FILE = "history.json"
RESUME_KEY_FILE = "resume_key.txt"  # inputs + hyperparameters of an attempt (resume_key())
INTERRUPTED = "interrupted"  # the mid-epoch checkpoint written on Ctrl-C (SIGINT)
CHECKPOINTS = "checkpoints"


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
            print(f"[trainer] continuing the earlier attempt {adopted}", file=sys.stderr,
                  flush=True)
    with open(os.path.join(run_dir, RESUME_KEY_FILE), "w") as f:
        f.write(key)
    return adopted
