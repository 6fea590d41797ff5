"""The training loop: a GradientTape step under a tf.distribute strategy, eval and checkpoints."""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import replace

import numpy as np
import tensorflow as tf
import tf_keras

from components.trainer import distribute, ensemble
from components.trainer.averaging import LastEpochsAverage
from components.trainer.data import ArraySplit, Split, epoch_seed
from components.trainer.model import (
    NameModel,
    build_model,
    case_smoothing_prior,
    sequence_loss,
    shift_right,
)
from components.trainer.resume import Checkpoints
from components.trainer.teacher import FOLDS, NgramTeacher
from data import encoding, progress
from pipeline.configs import Hyperparameters

EVAL_BATCH_SIZE = 256
SUM = tf.distribute.ReduceOp.SUM


def make_optimizer(hp: Hyperparameters, steps_per_epoch: int) -> tf_keras.optimizers.Optimizer:
    """Adam or AdamW with a constant or warmed-up cosine learning rate."""
    learning_rate = hp.learning_rate
    if hp.lr_schedule == "cosine":
        total = max(1, hp.epochs * steps_per_epoch)
        warmup = min(total - 1, hp.warmup_epochs * steps_per_epoch)
        learning_rate = tf_keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=learning_rate * 0.1 if warmup else learning_rate,
            decay_steps=total - warmup,
            alpha=0.05,
            warmup_target=learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if hp.weight_decay:
        return tf_keras.optimizers.AdamW(learning_rate, weight_decay=hp.weight_decay)
    return tf_keras.optimizers.Adam(learning_rate)


def as_split(data: Split | np.ndarray, vocabulary) -> Split:
    return data if isinstance(data, Split) else ArraySplit(data, vocabulary)


class TrainingLoop:
    """Trains a NameModel with a tf.function GradientTape step; resumable from checkpoints.

    Under a MultiWorkerMirroredStrategy every worker walks the same seeded sequence of global
    batches and trains on its share of each (rows i, i + n, ...); each replica's loss is scaled
    by the global batch's character count and the gradients are summed across workers, so an
    update equals the single-worker one. Only the chief writes checkpoints, history and logs.
    """

    STEP_SIGNATURE = [tf.TensorSpec([None, None], tf.int64),  # this worker's targets
                      tf.TensorSpec([None, None, None], tf.float32),  # teacher's, or empty
                      tf.TensorSpec([], tf.float32)]  # characters in the global batch

    def __init__(self, model: NameModel, hp: Hyperparameters, steps_per_epoch: int, run_dir: str,
                 strategy: tf.distribute.Strategy | None = None, jit_compile: bool = False):
        """The model must have been built under `strategy.scope()` (the default: none)."""
        self.model, self.hp, self.run_dir = model, hp, run_dir
        self.strategy = strategy or tf.distribute.get_strategy()
        self.worker, self.workers = distribute.worker_index(self.strategy)
        self.chief = self.worker == 0
        with self.strategy.scope():
            self.optimizer = make_optimizer(hp, steps_per_epoch)
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.best_eval = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
            self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.best_weights = [tf.Variable(w, trainable=False)
                                 for w in model.trainable_variables]
            # Mid-epoch progress, set only by an interrupt checkpoint: batches done, loss sums.
            self.batches_done = tf.Variable(0, dtype=tf.int64, trainable=False)
            self.partial = tf.Variable([0.0, 0.0, 0.0], dtype=tf.float64, trainable=False)
            # Weight averaging: eval, early stopping and export use an exponential moving average.
            self.ema_decay = hp.ema_decay
            self.ema_weights = [
                tf.Variable(w, trainable=False,
                            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                for w in model.trainable_variables] if self.ema_decay else []
            # ... or the mean of the last epochs' weights (average_last_epochs).
            self.average = (LastEpochsAverage(model.trainable_variables, hp.average_last_epochs)
                            if hp.average_last_epochs else None)
            self.soft_weight = tf.Variable(0.0, trainable=False)  # the soft targets' this step
        self.checkpoints = Checkpoints(
            tf.train.Checkpoint(
                model=model, optimizer=self.optimizer, epoch=self.epoch,
                best_eval=self.best_eval, best_epoch=self.best_epoch,
                best_weights=self.best_weights, ema_weights=self.ema_weights,
                weight_average=self.average.state() if self.average else {},
                batches_done=self.batches_done, partial=self.partial),
            run_dir, self.epoch, self.batches_done, self.partial, self.chief, self.workers)
        self.smoothing_prior = (
            case_smoothing_prior(model.vocabulary, model.vocab_size)
            if hp.smooth_within_case and hp.label_smoothing else None)
        self.teacher_weight = hp.ngram_teacher  # at the first step (ensemble.teacher_weight)
        self.uses_ngram_teacher = ensemble.uses_ngram_teacher(hp)
        self.uses_soft_targets = self.uses_ngram_teacher or bool(hp.ensemble_teacher)
        self.total_steps = hp.epochs * steps_per_epoch
        self.teacher: NgramTeacher | None = None
        self.ensemble: ensemble.EnsembleTeacher | None = None
        self.ensemble_seconds = 0.0
        self.history: list[dict] = []
        self._no_soft_targets = tf.zeros([0, 0, 0])
        self.train_step = tf.function(self._distributed_step, input_signature=self.STEP_SIGNATURE,
                                      reduce_retracing=True, jit_compile=jit_compile)
        self.eval_step = tf.function(self._eval_step, input_signature=self.STEP_SIGNATURE[:1],
                                     reduce_retracing=True)

    # --- one update ----------------------------------------------------------------------
    def step(self, batch: np.ndarray, soft_targets: np.ndarray | None = None
             ) -> tuple[tf.Tensor, tf.Tensor]:
        """One update on a global batch of id rows; returns (summed loss, characters).

        The teachers' targets are built for the batch when they are on (see fit_teacher,
        fit_ensemble); given soft_targets take the first step's n-gram weight.
        """
        if soft_targets is not None:
            self.soft_weight.assign(self.teacher_weight)
        elif self.uses_soft_targets:
            soft_targets = self.soft_targets(batch, int(self.optimizer.iterations.numpy()))
        characters = batch.size if not self.hp.mask_padding else int(
            (batch != encoding.PAD_ID).sum())
        mine = slice(self.worker, None, self.workers)
        soft = (self._no_soft_targets if soft_targets is None
                else tf.constant(soft_targets[mine]))
        return self.train_step(tf.constant(batch[mine]), soft, tf.constant(characters, tf.float32))

    def soft_targets(self, batch: np.ndarray, step: int) -> np.ndarray:
        """The teachers' mixed targets for a batch; sets their weight for this step."""
        hp = self.hp
        ngram = (ensemble.teacher_weight(hp, step, self.total_steps)
                 if self.uses_ngram_teacher else 0.0)
        if ngram and self.teacher is None:
            raise ValueError("ngram_teacher is on: call fit_teacher(split) first")
        if hp.ensemble_teacher and self.ensemble is None:
            raise ValueError("ensemble_teacher is on: call fit_ensemble(train, eval) first")
        mixed = np.zeros(batch.shape + (self.model.vocab_size,), np.float32)
        if ngram:
            mixed += ngram * self.teacher.targets(batch)
        if hp.ensemble_teacher:
            mixed += hp.ensemble_teacher * self.ensemble.targets(batch)
        weight = ngram + hp.ensemble_teacher
        self.soft_weight.assign(weight)
        return mixed / weight if weight else mixed

    def _distributed_step(self, targets: tf.Tensor, soft_targets: tf.Tensor,
                          global_characters: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        loss_sum, count = self.strategy.run(self._replica_step,
                                            args=(targets, soft_targets, global_characters))
        return (self.strategy.reduce(SUM, loss_sum, axis=None),
                self.strategy.reduce(SUM, count, axis=None))

    def _replica_step(self, targets: tf.Tensor, soft_targets: tf.Tensor,
                      global_characters: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """One replica's share of an update; soft_targets are empty when the teacher is off."""
        with tf.GradientTape() as tape:
            logits = self.model(shift_right(targets), training=True)
            loss, count = sequence_loss(logits, targets, self.hp.mask_padding,
                                        self.hp.label_smoothing, self.smoothing_prior,
                                        soft_targets if self.uses_soft_targets else None,
                                        self.soft_weight)
            share = loss * count / tf.maximum(global_characters, 1.0)  # of the global mean
        variables = self.model.trainable_variables
        gradients = tape.gradient(share, variables)
        gradients = tf.distribute.get_replica_context().all_reduce(SUM, gradients)
        if self.hp.clip_norm:
            gradients, _ = tf.clip_by_global_norm(gradients, self.hp.clip_norm)
        self.optimizer.apply_gradients(zip(gradients, variables), skip_gradients_aggregation=True)
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

    # --- the teacher, evaluation, checkpoints ------------------------------------------------
    def fit_teacher(self, train: Split) -> NgramTeacher:
        """Fit the n-gram teacher's fold models on the train split (see teacher.py)."""
        started = time.perf_counter()
        with progress.heartbeat("[trainer] n-gram teacher"):
            self.teacher = NgramTeacher(
                train.names, train.folds(FOLDS, self.hp.seed), self.model.vocabulary,
                self.model.vocab_size, seed=self.hp.seed,
                within_case=self.hp.smooth_within_case,
                end_of_name=self.hp.teacher_end_of_name)
        schedule = ("" if self.hp.teacher_schedule == "constant" else
                    f" to {self.hp.ngram_teacher_final} ({self.hp.teacher_schedule})")
        log(f"n-gram teacher: {self.teacher.describe()}, weight {self.teacher_weight}{schedule}, "
            f"{time.perf_counter() - started:.1f}s")
        return self.teacher

    def fit_ensemble(self, train: Split, evaluation: Split) -> ensemble.EnsembleTeacher:
        """Train the ensemble's members (ensemble.py), each in its own loop and run folder."""
        hp, started = self.hp, time.perf_counter()
        ids = np.concatenate(list(train.rows().batch(4096).as_numpy_iterator()))
        members = []
        for m, rows in enumerate(ensemble.member_folds(ids, hp)):
            member_hp = replace(hp, seed=ensemble.member_seed(hp.seed, m), ensemble_teacher=0.0)
            tf_keras.utils.set_random_seed(member_hp.seed)
            with self.strategy.scope():
                model = build_model(self.model.vocab_size, member_hp, self.model.vocabulary)
            log(f"ensemble member {m + 1}/{hp.ensemble_members}: {len(rows)} names, "
                f"seed {member_hp.seed}")
            member = TrainingLoop(model, member_hp, math.ceil(len(rows) / hp.batch_size),
                                  os.path.join(self.run_dir, "ensemble", f"member-{m}"),
                                  self.strategy)
            member.fit(ArraySplit(rows, self.model.vocabulary), evaluation,
                       tf.summary.create_noop_writer())
            members.append(model)
        tf_keras.utils.set_random_seed(hp.seed)
        self.ensemble = ensemble.EnsembleTeacher(members, hp.ensemble_folds, hp.seed)
        self.ensemble_seconds = time.perf_counter() - started
        log(f"ensemble teacher: {len(members)} members, weight {hp.ensemble_teacher}, "
            f"{self.ensemble_seconds:.1f}s")
        return self.ensemble

    def evaluate(self, split: Split | np.ndarray) -> float:
        """Mean nats per predicted character (end-of-name included) over a split."""
        total, count = 0.0, 0.0
        for batch in as_split(split, self.model.vocabulary).batches(EVAL_BATCH_SIZE, None, True):
            loss_sum, n = self.eval_step(tf.constant(batch))
            total, count = total + float(loss_sum), count + float(n)
        return total / max(count, 1.0)

    # --- epochs --------------------------------------------------------------------------
    def fit(self, train: Split | np.ndarray, evaluation: Split | np.ndarray, writer
            ) -> list[dict]:
        """Train for the preset's epochs (from a checkpoint if any); returns the history."""
        hp = self.hp
        train = as_split(train, self.model.vocabulary)
        evaluation = as_split(evaluation, self.model.vocabulary)
        start_epoch, self.history = self.checkpoints.restore()
        stale = start_epoch - int(self.best_epoch.numpy()) if start_epoch else 0
        if self.uses_ngram_teacher and self.teacher is None:
            self.fit_teacher(train)
        if hp.ensemble_teacher and self.ensemble is None:
            self.fit_ensemble(train, evaluation)
        for epoch in range(start_epoch, hp.epochs):
            if hp.patience and stale >= hp.patience:
                log(f"early stop: no eval improvement for {stale} epochs")
                break
            started = time.perf_counter()
            skip = int(self.batches_done.numpy()) if epoch == start_epoch else 0
            total, count, padded = self.partial.numpy().tolist() if skip else (0.0, 0.0, 0)
            first_step = int(self.optimizer.iterations.numpy()) - skip
            shown = progress.Progress(f"[trainer] epoch {epoch + 1}/{hp.epochs}",
                                      train.batch_count(hp.batch_size))
            try:
                for index, batch in enumerate(train.batches(
                        hp.batch_size, epoch_seed(hp.seed, epoch), hp.mask_padding)):
                    if index < skip:
                        continue  # done before the interrupt; the order is seeded per epoch
                    loss_sum, n = self.step(batch)
                    total, count = total + float(loss_sum), count + float(n)
                    padded += batch.size
                    shown.update(index + 1 - skip, count)
                shown.close()
            except KeyboardInterrupt:
                shown.close()
                done = int(self.optimizer.iterations.numpy()) - first_step  # steps applied
                self.checkpoints.save_interrupted(done, (total, count, padded))
                raise
            self.batches_done.assign(0)
            self.partial.assign([0.0, 0.0, 0.0])
            seconds = time.perf_counter() - started
            if self.average:
                self.average.record(self.model.trainable_variables)
            self._swap_average()
            record = {
                "epoch": epoch + 1,
                "train_loss": total / max(count, 1.0),
                "eval_loss": self.evaluate(evaluation),
                "chars_per_second": train.characters / seconds,
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
            self._swap_average(back=True)
            self.epoch.assign(epoch + 1)
            self.history.append(record)
            record["elapsed_seconds"] = sum(r["epoch_seconds"] for r in self.history)
            self._save(record, writer)
            log(
                f"epoch {epoch + 1:3d}/{hp.epochs}  train {record['train_loss']:.4f}  "
                f"eval {record['eval_loss']:.4f} nats/char  "
                f"{record['chars_per_second']:,.0f} chars/s  {record['elapsed_seconds']:.1f}s"
            )
        if self.history and self.hp.restore_best:
            for best, current in zip(self.best_weights, self.model.trainable_variables):
                current.assign(best)
        elif self.history and self.average:
            self.average.swap_in(self.model.trainable_variables)  # export the average
        return self.history

    def _swap_average(self, back: bool = False) -> None:
        """Exchange the live weights and their moving average (a no-op without ema_decay), or
        put the last epochs' mean in (back: the live weights back) with average_last_epochs."""
        if self.average:
            swap = self.average.swap_out if back else self.average.swap_in
            swap(self.model.trainable_variables)
        for average, weight in zip(self.ema_weights, self.model.trainable_variables):
            live = tf.identity(weight)
            weight.assign(average)
            average.assign(live)

    def _save(self, record: dict, writer) -> None:
        """Checkpoint the epoch (components/trainer/resume.py); the chief writes summaries."""
        if not self.checkpoints.save_epoch(record["epoch"], self.history):
            return
        with writer.as_default(step=record["epoch"]):
            for key in ("train_loss", "eval_loss", "chars_per_second", "learning_rate"):
                tf.summary.scalar(key, record[key])
        writer.flush()


def _current_lr(optimizer) -> float:
    lr = optimizer.learning_rate
    value = lr(optimizer.iterations) if callable(lr) else lr
    return float(tf.convert_to_tensor(value))  # a mirrored variable under a strategy


def log(message: str) -> None:
    print(f"[trainer] {message}", file=sys.stderr, flush=True)
