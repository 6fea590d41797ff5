"""TFX's Trainer entry point (`run_fn`): stream the splits, train, and export the best weights."""

from __future__ import annotations

import math
import os

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx.components.trainer.fn_args_utils import FnArgs

from components.trainer import distribute, resume
from components.trainer.data import Split, StreamedSplit, ids_spec, split_files
from components.trainer.loop import TrainingLoop, log
from components.trainer.model import build_model
from data import encoding
from pipeline.configs import Hyperparameters


def train_and_export(train: Split, evaluation: Split, tft_output, hp: Hyperparameters, run_dir: str,
                     serving_dir: str, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Train on two splits, export the best weights (the chief only), return summary metrics."""
    strategy = strategy or tf.distribute.get_strategy()
    tf_keras.utils.set_random_seed(hp.seed)
    tf.config.experimental.enable_op_determinism()
    vocabulary = tft_output.vocabulary_by_name(encoding.VOCAB_NAME)
    vocab_size = len(vocabulary) + encoding.NUM_OOV_BUCKETS
    with strategy.scope():
        model = build_model(vocab_size, hp, vocabulary)
    steps_per_epoch = math.ceil(len(train) / hp.batch_size)
    loop = TrainingLoop(model, hp, steps_per_epoch, run_dir, strategy)
    writer = (tf.summary.create_file_writer(os.path.join(run_dir, "logs")) if loop.chief
              else tf.summary.create_noop_writer())
    log(f"{len(train)} train / {len(evaluation)} eval names, vocabulary {vocab_size}, "
        f"{model.count_params():,} parameters, preset {hp.preset}"
        + (f", worker {loop.worker + 1} of {loop.workers}" if loop.workers > 1 else ""))
    history = loop.fit(train, evaluation, writer)
    best = min(history, key=lambda r: r["eval_loss"]) if history else {}
    metrics = {
        "parameters": int(model.count_params()),
        "vocab_size": int(vocab_size),
        "epochs_trained": len(history),
        "best_epoch": best.get("epoch"),
        "train_loss": best.get("train_loss"),
        "eval_nats_per_char": loop.evaluate(evaluation),
        "train_nats_per_char": loop.evaluate(train),
        # with an ensemble teacher, its members' training too
        "train_seconds": sum(r["epoch_seconds"] for r in history) + loop.ensemble_seconds,
        "num_train_names": len(train),
        "num_eval_names": len(evaluation),
        "workers": loop.workers,
    }
    if loop.chief:
        # Imported here: export.py creates a tensor at import, which starts TensorFlow's
        # runtime, and MultiWorkerMirroredStrategy must be created before that (run_fn).
        from components.trainer import export

        export.export(model, tft_output, serving_dir,
                      {"hyperparameters": hp.as_dict(), "metrics": metrics, "history": history},
                      training_names=train.names)
    return metrics


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point (GenericExecutor calls it; `pipeline.py` names it).

    Hyperparameters come from the HyperParameters input when there is one (on Kubeflow, chosen
    per run by RunParameters), else from custom_config. Under a TF_CONFIG naming several
    workers, every worker runs this and trains under MultiWorkerMirroredStrategy.
    """
    hp = Hyperparameters.from_dict(fn_args.hyperparameters
                                   or fn_args.custom_config["hyperparameters"])
    strategy = distribute.strategy_from_environment()
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    vocabulary = tft_output.vocabulary_by_name(encoding.VOCAB_NAME)
    spec = ids_spec(tft_output)
    train = StreamedSplit(split_files(fn_args.train_files), spec, vocabulary)
    evaluation = StreamedSplit(split_files(fn_args.eval_files), spec, vocabulary)
    if len(train) == 0:
        raise ValueError("the train split is empty: nothing to train on")
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    if distribute.is_chief(strategy):
        resume.adopt_earlier_attempt(fn_args.model_run_dir, resume.resume_key(fn_args, hp))
    distribute.barrier(strategy)  # the others restore what the chief adopted
    train_and_export(train, evaluation, tft_output, hp, fn_args.model_run_dir,
                     fn_args.serving_model_dir, strategy)
