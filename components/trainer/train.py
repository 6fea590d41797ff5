"""Trainer run_fn: a custom GradientTape loop with masked loss, checkpoints and TensorBoard."""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import time

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras
from tfx.components.trainer.fn_args_utils import FnArgs

from components.trainer import export, teacher
from components.trainer.model import (
    NameModel,
    build_model,
    case_smoothing_prior,
    decode_ids,
    sequence_loss,
    shift_right,
)
from pipeline import configs

HISTORY_FILE = "history.json"
RESUME_KEY_FILE = "resume_key.txt"  # inputs + hyperparameters of an attempt (resume_key())
INTERRUPTED = "interrupted"  # the mid-epoch checkpoint written on Ctrl-C (SIGINT)


def load_split(file_patterns: list[str], tft_output) -> np.ndarray:
    """All transformed id sequences of a split, as an int64 array [names, SEQUENCE_LENGTH]."""
    files = sorted(f for pattern in file_patterns for f in glob.glob(pattern))
    spec = {configs.IDS_FEATURE: tft_output.transformed_feature_spec()[configs.IDS_FEATURE]}
    dataset = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(4096)
    parts = [
        tf.io.parse_example(records, spec)[configs.IDS_FEATURE].numpy() for records in dataset
    ]
    if not parts:
        return np.zeros([0, configs.SEQUENCE_LENGTH], np.int64)
    ids = np.concatenate(parts)
    return ids[np.lexsort(ids.T[::-1])]  # a canonical order: file order depends on the runner


def batches(
    ids: np.ndarray, batch_size: int, rng: np.random.Generator | None, bucket: bool
) -> list[np.ndarray]:
    """Batches of id sequences. With bucket, similar lengths share a batch and padding is cut.

    Without it, every batch is padded to the split's longest sequence, as the tutorial pads.
    """
    return [ids[rows, :width] for rows, width in batch_rows(ids, batch_size, rng, bucket)]


def batch_rows(
    ids: np.ndarray, batch_size: int, rng: np.random.Generator | None, bucket: bool
) -> list[tuple[np.ndarray, int]]:
    """The rows and padded width of each batch (see `batches`)."""
    order = rng.permutation(len(ids)) if rng is not None else np.arange(len(ids))
    lengths = (ids != configs.PAD_ID).sum(axis=1)
    if bucket:
        chunk = batch_size * 16
        order = np.concatenate([
            order[i:i + chunk][np.argsort(lengths[order[i:i + chunk]], kind="stable")]
            for i in range(0, len(order), chunk)
        ]) if len(order) else order
    result = []
    longest = int(lengths.max()) if len(ids) else ids.shape[1]  # as the tutorial pads (issue 7)
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        result.append((rows, int(lengths[rows].max()) if bucket else longest))
    if rng is not None:
        rng.shuffle(result)
    return result


def make_optimizer(hp: dict, steps_per_epoch: int) -> tf_keras.optimizers.Optimizer:
    learning_rate = hp["learning_rate"]
    if hp["lr_schedule"] == "cosine":
        total = max(1, hp["epochs"] * steps_per_epoch)
        warmup = min(total - 1, hp["warmup_epochs"] * steps_per_epoch)
        learning_rate = tf_keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate * 0.1 if warmup else learning_rate,
            decay_steps=total - warmup,
            alpha=0.05,
            warmup_target=learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    elif hp["lr_schedule"] != "constant":
        raise ValueError(f"unknown lr_schedule {hp['lr_schedule']!r}: use constant or cosine")
    if hp["weight_decay"]:
        return tf_keras.optimizers.AdamW(learning_rate, weight_decay=hp["weight_decay"])
    return tf_keras.optimizers.Adam(learning_rate)


def decode_names(ids: np.ndarray, tft_output) -> list[str]:
    """Id sequences back to the names they encode (special tokens dropped)."""
    return decode_ids(ids, tft_output.vocabulary_by_name(configs.VOCAB_NAME))


class Trainer:
    """Trains a NameModel with a tf.function GradientTape step; resumable from checkpoints."""

    STEP_SIGNATURE = [tf.TensorSpec([None, None], tf.int64),  # targets
                      tf.TensorSpec([None, None, None], tf.float32)]  # teacher's, or empty

    def __init__(self, model: NameModel, hp: dict, steps_per_epoch: int, run_dir: str):
        self.model, self.hp, self.run_dir = model, hp, run_dir
        self.optimizer = make_optimizer(hp, steps_per_epoch)
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_eval = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_weights = [tf.Variable(w, trainable=False) for w in model.trainable_variables]
        # Mid-epoch progress, set only by an interrupt checkpoint: batches done, loss sums.
        self.batches_done = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.partial = tf.Variable([0.0, 0.0, 0.0], dtype=tf.float64, trainable=False)
        # Weight averaging: eval, early stopping and export use an exponential moving average.
        self.ema_decay = float(hp.get("ema_decay", 0.0))
        self.ema_weights = [tf.Variable(w, trainable=False)
                            for w in model.trainable_variables] if self.ema_decay else []
        self.checkpoint = tf.train.Checkpoint(
            model=model, optimizer=self.optimizer, epoch=self.epoch, best_eval=self.best_eval,
            best_epoch=self.best_epoch, best_weights=self.best_weights,
            ema_weights=self.ema_weights, batches_done=self.batches_done, partial=self.partial,
        )
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(run_dir, "checkpoints"), max_to_keep=2
        )
        self.smoothing_prior = (
            case_smoothing_prior(model.vocabulary, model.vocab_size)
            if hp.get("smooth_within_case") and hp["label_smoothing"] else None)
        self.teacher_weight = float(hp.get("ngram_teacher", 0.0))
        self.history: list[dict] = []
        self._no_soft_targets = tf.zeros([0, 0, 0])
        self.train_step = tf.function(self._train_step, input_signature=self.STEP_SIGNATURE,
                                      reduce_retracing=True)
        self.eval_step = tf.function(self._eval_step, input_signature=self.STEP_SIGNATURE[:1],
                                     reduce_retracing=True)

    def step(self, batch: np.ndarray, soft_targets: np.ndarray | None = None
             ) -> tuple[tf.Tensor, tf.Tensor]:
        """One update on a batch of id rows (and the n-gram teacher's targets for them)."""
        if self.teacher_weight and soft_targets is None:
            raise ValueError("ngram_teacher is on: pass the teacher's targets for the batch")
        soft = self._no_soft_targets if soft_targets is None else tf.constant(soft_targets)
        return self.train_step(tf.constant(batch), soft)

    def _train_step(self, targets: tf.Tensor, soft_targets: tf.Tensor
                    ) -> tuple[tf.Tensor, tf.Tensor]:
        """One update; soft_targets are the n-gram teacher's (empty when it is off)."""
        with tf.GradientTape() as tape:
            logits = self.model(shift_right(targets), training=True)
            loss, count = sequence_loss(logits, targets, self.hp["mask_padding"],
                                        self.hp["label_smoothing"], self.smoothing_prior,
                                        soft_targets, self.teacher_weight)
        variables = self.model.trainable_variables
        gradients = tape.gradient(loss, variables)
        if self.hp["clip_norm"]:
            gradients, _ = tf.clip_by_global_norm(gradients, self.hp["clip_norm"])
        self.optimizer.apply_gradients(zip(gradients, variables))
        if self.ema_weights:
            step = tf.cast(self.optimizer.iterations, tf.float32)
            decay = tf.minimum(self.ema_decay, step / (step + 1.0))  # plain mean at first
            for average, weight in zip(self.ema_weights, variables):
                average.assign(decay * average + (1.0 - decay) * weight)
        return loss * count, count

    def _eval_step(self, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        logits = self.model(shift_right(targets), training=False)
        loss, count = sequence_loss(logits, targets, mask_padding=True)
        return loss * count, count

    def restore(self) -> int:
        """Resume from the last checkpoint, if any; returns the epoch to start from.

        An interrupt checkpoint (mid-epoch) is newer than every epoch checkpoint while it
        exists; if it cannot be read (a second Ctrl-C while writing it), the epoch one is used.
        """
        interrupted = os.path.join(self.run_dir, "checkpoints", INTERRUPTED)
        restored = None
        if tf.io.gfile.exists(interrupted + ".index"):
            try:
                self.checkpoint.read(interrupted).expect_partial()
                restored = interrupted
            except (tf.errors.OpError, ValueError) as error:
                log(f"ignoring an unreadable interrupt checkpoint: {str(error)[:200]}")
        if restored is None and self.manager.latest_checkpoint:
            self.checkpoint.restore(self.manager.latest_checkpoint).expect_partial()
            self.batches_done.assign(0)
            restored = self.manager.latest_checkpoint
        if restored:
            history_path = os.path.join(self.run_dir, HISTORY_FILE)
            if os.path.exists(history_path):
                with open(history_path) as f:
                    self.history = json.load(f)[: int(self.epoch.numpy())]
            log(f"resumed from {restored} at epoch {int(self.epoch)}, "
                f"batch {int(self.batches_done)}")
        return int(self.epoch.numpy())

    def save_interrupted(self, batches_done: int, sums: tuple) -> str:
        """Ctrl-C mid-epoch: checkpoint the weights and where in the epoch training stopped."""
        self.batches_done.assign(batches_done)
        self.partial.assign([float(x) for x in sums])
        path = self.checkpoint.write(os.path.join(self.run_dir, "checkpoints", INTERRUPTED))
        log(f"interrupted: saved {path} at epoch {int(self.epoch)}, batch {batches_done}")
        return path

    def evaluate(self, ids: np.ndarray) -> float:
        """Mean nats per predicted character (end-of-name included) over a split."""
        total, count = 0.0, 0.0
        for batch in batches(ids, 256, None, bucket=True):
            loss_sum, n = self.eval_step(tf.constant(batch))
            total, count = total + float(loss_sum), count + float(n)
        return total / max(count, 1.0)

    def fit(self, train: np.ndarray, evaluation: np.ndarray, writer) -> list[dict]:
        hp = self.hp
        start_epoch = self.restore()
        stale = start_epoch - int(self.best_epoch.numpy()) if start_epoch else 0
        soft_targets = self.teacher_targets(train) if self.teacher_weight else None
        for epoch in range(start_epoch, hp["epochs"]):
            if hp["patience"] and stale >= hp["patience"]:
                log(f"early stop: no eval improvement for {stale} epochs")
                break
            rng = np.random.default_rng([hp["seed"], epoch])
            started = time.perf_counter()
            skip = int(self.batches_done.numpy()) if epoch == start_epoch else 0
            total, count, padded = self.partial.numpy().tolist() if skip else (0.0, 0.0, 0)
            first_step = int(self.optimizer.iterations.numpy()) - skip
            try:
                for index, (rows, width) in enumerate(
                        batch_rows(train, hp["batch_size"], rng, bucket=hp["mask_padding"])):
                    if index < skip:
                        continue  # done before the interrupt; the order is seeded per epoch
                    batch = train[rows, :width]
                    loss_sum, n = self.step(batch, None if soft_targets is None
                                            else soft_targets[rows, :width])
                    total, count = total + float(loss_sum), count + float(n)
                    padded += batch.size
            except KeyboardInterrupt:
                done = int(self.optimizer.iterations.numpy()) - first_step  # steps applied
                self.save_interrupted(done, (total, count, padded))
                raise
            self.batches_done.assign(0)
            self.partial.assign([0.0, 0.0, 0.0])
            seconds = time.perf_counter() - started
            train_chars = int((train != configs.PAD_ID).sum())
            self._swap_average()
            record = {
                "epoch": epoch + 1,
                "train_loss": total / max(count, 1.0),
                "eval_loss": self.evaluate(evaluation),
                "chars_per_second": train_chars / seconds,
                "padded_chars_per_second": padded / seconds,
                "epoch_seconds": seconds,
                "learning_rate": float(_current_lr(self.optimizer)),
            }
            if record["eval_loss"] < float(self.best_eval.numpy()):
                self.best_eval.assign(record["eval_loss"])
                self.best_epoch.assign(epoch + 1)
                for best, current in zip(self.best_weights, self.model.trainable_variables):
                    best.assign(current)
                stale = 0
            else:
                stale += 1
            self._swap_average()
            self.epoch.assign(epoch + 1)
            self.history.append(record)
            record["elapsed_seconds"] = sum(r["epoch_seconds"] for r in self.history)
            self._save(record, writer)
            log(
                f"epoch {epoch + 1:3d}/{hp['epochs']}  train {record['train_loss']:.4f}  "
                f"eval {record['eval_loss']:.4f} nats/char  "
                f"{record['chars_per_second']:,.0f} chars/s  {record['elapsed_seconds']:.1f}s"
            )
        if self.history and self.hp.get("restore_best", True):
            for best, current in zip(self.best_weights, self.model.trainable_variables):
                current.assign(best)
        return self.history

    def teacher_targets(self, train: np.ndarray) -> np.ndarray:
        """The n-gram teacher's soft targets for the rows of `train` (see teacher.py)."""
        started = time.perf_counter()
        soft, info = teacher.ngram_soft_labels(train, self.model.vocabulary,
                                               self.model.vocab_size, seed=self.hp["seed"])
        if self.hp.get("smooth_within_case"):  # the teacher, too, stays in the target's case
            same_case = case_smoothing_prior(self.model.vocabulary,
                                             self.model.vocab_size).numpy() > 0
            soft *= same_case[train[:, :soft.shape[1]]]
            total = soft.sum(axis=-1, keepdims=True)
            soft = np.divide(soft, total, out=np.zeros_like(soft), where=total > 0)
        if not self.hp.get("teacher_end_of_name", True):  # stopping is learned from the data
            stops = (train[:, :soft.shape[1]] == configs.EON_ID).astype(soft.dtype)
            soft[..., configs.EON_ID] = 0.0
            total = soft.sum(axis=-1)
            soft *= np.divide(1.0 - stops, total, out=np.zeros_like(total),
                              where=total > 0)[..., None]
            soft[..., configs.EON_ID] = stops
        if soft.shape[1] < train.shape[1]:  # unbucketed batches span every column
            soft = np.pad(soft, [(0, 0), (0, train.shape[1] - soft.shape[1]), (0, 0)])
        log(f"n-gram teacher: Kneser-Ney n={info['order']} D={info['discount']}, "
            f"{info['folds']} folds, {info['train_nats_per_char']:.3f} nats/char on train "
            f"(cross-fitted), weight {self.teacher_weight}, "
            f"{time.perf_counter() - started:.1f}s")
        return soft

    def _swap_average(self) -> None:
        """Exchange the live weights and their moving average (a no-op without ema_decay)."""
        for average, weight in zip(self.ema_weights, self.model.trainable_variables):
            live = tf.identity(weight)
            weight.assign(average)
            average.assign(live)

    def _save(self, record: dict, writer) -> None:
        with writer.as_default(step=record["epoch"]):
            for key in ("train_loss", "eval_loss", "chars_per_second", "learning_rate"):
                tf.summary.scalar(key, record[key])
        writer.flush()
        self.manager.save(checkpoint_number=record["epoch"])
        for leftover in tf.io.gfile.glob(os.path.join(self.run_dir, "checkpoints",
                                                      INTERRUPTED + ".*")):
            tf.io.gfile.remove(leftover)  # superseded by the epoch checkpoint
        path = os.path.join(self.run_dir, HISTORY_FILE)
        with open(path + ".tmp", "w") as f:
            json.dump(self.history, f, indent=1)
        os.replace(path + ".tmp", path)


def _current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    return float(lr(optimizer.iterations) if callable(lr) else lr)


def log(message: str) -> None:
    print(f"[trainer] {message}", file=sys.stderr, flush=True)


def train_and_export(
    train_ids: np.ndarray,
    eval_ids: np.ndarray,
    tft_output,
    hp: dict,
    run_dir: str,
    serving_dir: str,
) -> dict:
    """Train on id arrays, export the best weights, and return the summary metrics."""
    tf_keras.utils.set_random_seed(hp["seed"])
    tf.config.experimental.enable_op_determinism()
    vocab_size = tft_output.vocabulary_size_by_name(configs.VOCAB_NAME) + configs.NUM_OOV_BUCKETS
    model = build_model(vocab_size, hp, tft_output.vocabulary_by_name(configs.VOCAB_NAME))
    steps_per_epoch = math.ceil(len(train_ids) / hp["batch_size"])
    trainer = Trainer(model, hp, steps_per_epoch, run_dir)
    writer = tf.summary.create_file_writer(os.path.join(run_dir, "logs"))
    log(f"{len(train_ids)} train / {len(eval_ids)} eval names, vocabulary {vocab_size}, "
        f"{model.count_params():,} parameters, preset {hp['preset']}")
    history = trainer.fit(train_ids, eval_ids, writer)
    best = min(history, key=lambda r: r["eval_loss"]) if history else {}
    metrics = {
        "parameters": int(model.count_params()),
        "vocab_size": int(vocab_size),
        "epochs_trained": len(history),
        "best_epoch": best.get("epoch"),
        "train_loss": best.get("train_loss"),
        "eval_nats_per_char": trainer.evaluate(eval_ids),
        "train_nats_per_char": trainer.evaluate(train_ids),
        "train_seconds": sum(r["epoch_seconds"] for r in history),
        "num_train_names": int(len(train_ids)),
        "num_eval_names": int(len(eval_ids)),
    }
    export.export(model, tft_output, serving_dir,
                  {"hyperparameters": hp, "metrics": metrics, "history": history},
                  training_names=decode_names(train_ids, tft_output))
    return metrics


def run_fn(fn_args: FnArgs) -> None:
    """TFX Trainer entry point (GenericExecutor).

    Hyperparameters come from the HyperParameters input when there is one (on Kubeflow, chosen
    per run by RunParameters), else from custom_config.
    """
    hp = dict(fn_args.hyperparameters or fn_args.custom_config["hyperparameters"])
    tft_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    train_ids = load_split(fn_args.train_files, tft_output)
    eval_ids = load_split(fn_args.eval_files, tft_output)
    if len(train_ids) == 0:
        raise ValueError("the train split is empty: nothing to train on")
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    adopt_earlier_attempt(fn_args.model_run_dir, resume_key(fn_args, hp))
    train_and_export(train_ids, eval_ids, tft_output, hp, fn_args.model_run_dir,
                     fn_args.serving_model_dir)


def resume_key(fn_args: FnArgs, hp: dict) -> str:
    """What makes two Trainer attempts the same training: inputs, hyperparameters, config."""
    import hashlib

    described = {"hyperparameters": hp, "train": list(fn_args.train_files),
                 "eval": list(fn_args.eval_files), "transform": fn_args.transform_graph_path,
                 "custom_config": fn_args.custom_config}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()


def adopt_earlier_attempt(run_dir: str, key: str) -> str | None:
    """Continue an attempt of the same training that died (kill -9, Ctrl-C, full disk).

    A re-run after a crash is a new TFX execution with a new, empty model_run_dir. Its siblings
    (model_run/<execution id>) hold earlier attempts; the newest one with the same resume key
    and a checkpoint is copied in (via a temporary folder and a rename), so restore() resumes
    from it instead of epoch 0. Returns the adopted folder, or None.
    """
    if "://" in run_dir:
        return None  # object stores: no adoption (each execution trains from its own folder)
    checkpoints = os.path.join(run_dir, "checkpoints")
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
            other_checkpoints = os.path.join(other, "checkpoints")
            if same and (tf.train.latest_checkpoint(other_checkpoints)
                         or os.path.exists(os.path.join(other_checkpoints,
                                                        INTERRUPTED + ".index"))):
                earlier.append((int(name), other))
        if earlier:
            _, source = max(earlier)
            import shutil

            staging = checkpoints + ".adopting"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(os.path.join(source, "checkpoints"), staging)
            if os.path.exists(os.path.join(source, HISTORY_FILE)):
                shutil.copy(os.path.join(source, HISTORY_FILE),
                            os.path.join(run_dir, HISTORY_FILE))
            os.rename(staging, checkpoints)
            log(f"continuing the earlier attempt {source}")
            with open(os.path.join(run_dir, RESUME_KEY_FILE), "w") as f:
                f.write(key)
            return source
    with open(os.path.join(run_dir, RESUME_KEY_FILE), "w") as f:
        f.write(key)
    return None
