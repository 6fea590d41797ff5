"""Multi-worker training: two Trainer processes under MultiWorkerMirroredStrategy on 127.0.0.1
train like one with the same global batch, judged from the checkpointed state."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import configs

# One Trainer worker: run_fn with the FnArgs TFX would pass, on the Transform output of tiny_run.
WORKER_SCRIPT = """
import json, sys
from tfx.components.trainer.fn_args_utils import FnArgs
from components.trainer import train
args = json.loads(sys.argv[1])
train.run_fn(FnArgs(
    train_files=[args["transformed"] + "/Split-train/*"],
    eval_files=[args["transformed"] + "/Split-eval/*"],
    transform_graph_path=args["transform_graph"], model_run_dir=args["run_dir"],
    serving_model_dir=args["serving_dir"], hyperparameters=None,
    custom_config={"hyperparameters": args["hyperparameters"]}))
"""



def free_ports(count: int) -> list[int]:
    """Ports the OS picks (bound together so they differ, then released for the workers)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports



def newest(pattern: Path) -> str:
    return str(max(pattern.parent.glob(pattern.name), key=lambda p: int(p.name)))



def start_worker(args: dict, tf_config: dict | None) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, json.dumps(args)], env=env,
                            cwd=configs.PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)



@pytest.mark.slow
def test_two_workers_train_like_one_with_the_same_global_batch(tiny_run, tmp_path):
    pipeline = tiny_run.pipeline_root
    transformed = newest(pipeline / "Transform" / "transformed_examples" / "*")
    graph = newest(pipeline / "Transform" / "transform_graph" / "*")
    # Global batch: hp["batch_size"]. No clipping: it would hide a wrong gradient scale.
    hp = configs.hyperparameters("tiny", {"epochs": 2, "clip_norm": 0.0})

    def args(name: str) -> dict:
        return {"transformed": transformed, "transform_graph": graph,
                "run_dir": str(tmp_path / name / "model_run"),
                "serving_dir": str(tmp_path / name / "serving"), "hyperparameters": hp}

    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    workers = [start_worker(args("multi"), {"cluster": cluster,
                                             "task": {"type": "worker", "index": index}})
               for index in range(2)]
    single = start_worker(args("single"), None)
    outputs = []
    for process in [*workers, single]:
        output, _ = process.communicate(timeout=900)
        outputs.append(output)
        assert process.returncode == 0, output[-3000:]
    assert "worker 1 of 2" in outputs[0] and "worker 2 of 2" in outputs[1]

    multi, alone = tmp_path / "multi", tmp_path / "single"
    assert (multi / "serving" / "saved_model.pb").exists()  # the chief exported
    assert sorted(p.name for p in (multi / "model_run" / "checkpoints").iterdir()) == sorted(
        p.name for p in (alone / "model_run" / "checkpoints").iterdir())
    history = json.loads((multi / "model_run" / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    # Every checkpointed value agrees: weights, and Adam's moments. Adam's update hardly moves
    # with the gradient's scale, but its moments do (m with it, v with its square): a worker
    # that trains on the whole batch instead of its half, on the other worker's half, or that
    # scales its loss by its own characters instead of the global batch's, changes them by
    # about 2x. The runs differ only in the order of float sums (measured below 1e-5).
    multi_state = checkpointed(multi / "model_run" / "checkpoints")
    single_state = checkpointed(alone / "model_run" / "checkpoints")
    assert multi_state.keys() == single_state.keys()
    assert sum(key.startswith("optimizer/_variables/") for key in multi_state) > 2  # m and v
    differences = {key: relative_difference(multi_state[key], single_state[key])
                   for key in single_state}
    assert max(differences.values()) < 1e-3, sorted(differences.items(), key=lambda x: -x[1])[:5]


def checkpointed(directory: Path) -> dict:
    """Every float variable of the newest checkpoint in a folder, by its checkpoint key."""
    import numpy as np
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(directory))
    values = {name: tf.train.load_variable(latest, name)
              for name, _ in tf.train.list_variables(latest)}
    return {name: value for name, value in values.items()
            if isinstance(value, np.ndarray) and value.dtype.kind == "f"}


def relative_difference(ours, theirs) -> float:
    import numpy as np

    return float(np.linalg.norm(ours - theirs) / (np.linalg.norm(theirs) + 1e-12))
