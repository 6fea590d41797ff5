"""Multi-worker set-up: TF_CONFIG names the workers, and importing the Trainer starts no
TensorFlow runtime. Two workers training: tests/e2e/test_multiworker_training.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.trainer import distribute
from pipeline import configs


def test_tf_config_names_the_workers():
    assert distribute.cluster_workers("") == 1
    assert distribute.cluster_workers(json.dumps(
        {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}})) == 2
    assert distribute.cluster_workers(json.dumps(
        {"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]}})) == 3
    with pytest.raises(ValueError, match="TF_CONFIG is not a JSON object"):
        distribute.cluster_workers("{not json")


def test_importing_the_trainer_does_not_start_tensorflows_runtime():
    """MultiWorkerMirroredStrategy must be created before TF's runtime starts (in run_fn)."""
    probe = ("from tensorflow.python.eager import context\n"
             "import components.trainer.train\n"
             "print('STARTED', context.context()._initialized)\n")
    result = subprocess.run([sys.executable, "-c", probe], cwd=configs.PROJECT_ROOT,
                            capture_output=True, text=True, timeout=600)
    assert "STARTED False" in result.stdout, result.stderr[-2000:]
