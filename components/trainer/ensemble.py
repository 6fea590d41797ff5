"""Soft targets beyond a constant n-gram teacher: its weight schedule and an ensemble of GRUs.

`teacher_weight` gives the n-gram teacher's weight at a step (`teacher_schedule`). An
`EnsembleTeacher` holds K GRUs trained before the student (`ensemble_teacher`, trained by
`TrainingLoop.fit_ensemble`); the student's labels take in their mean next-character
distribution as they take in the n-gram teacher's. Cross-fitted (`ensemble_folds`), member m
never sees the names of fold m % folds and only those names take its distribution, so no
member hands a name its own answer back. Members exist in training only: the export is the
student, one GRU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from components.trainer.data import fold_of
from components.trainer.model import NameModel, shift_right
from data import encoding
from pipeline.configs import Hyperparameters


def teacher_weight(hp: Hyperparameters, step: int, total_steps: int) -> float:
    """The n-gram teacher's weight at a step: ngram_teacher, moving to ngram_teacher_final."""
    if hp.teacher_schedule == "constant" or total_steps <= 1:
        return hp.ngram_teacher
    done = min(1.0, max(0.0, step / (total_steps - 1)))
    if hp.teacher_schedule == "cosine":
        done = (1.0 - math.cos(math.pi * done)) / 2.0
    return hp.ngram_teacher + (hp.ngram_teacher_final - hp.ngram_teacher) * done


def uses_ngram_teacher(hp: Hyperparameters) -> bool:
    """Whether the schedule ever gives the n-gram teacher a weight."""
    return bool(hp.ngram_teacher or (hp.teacher_schedule != "constant"
                                     and hp.ngram_teacher_final))


def member_seed(seed: int, member: int) -> int:
    """Member m's seed: its own weights and batch order, apart from the student's."""
    return seed + 1000 * (member + 1)


def member_folds(ids: np.ndarray, hp: Hyperparameters) -> list[np.ndarray]:
    """Each member's train rows: all of them, or all but those of the fold it teaches."""
    if not hp.ensemble_folds:
        return [ids] * hp.ensemble_members
    folds = fold_of(ids, hp.ensemble_folds, hp.seed)
    return [ids[folds != m % hp.ensemble_folds] for m in range(hp.ensemble_members)]


class EnsembleTeacher:
    """Trained members; `targets(batch)` is each row's mean of the members allowed to teach it."""

    def __init__(self, members: Sequence[NameModel], num_folds: int, seed: int):
        """members[m] skipped fold m % num_folds (num_folds 0: every member saw every name)."""
        self.members, self.num_folds, self.seed = list(members), num_folds, seed
        self.vocab_size = self.members[0].vocab_size
        self._probabilities = [
            tf.function(lambda inputs, member=member: tf.nn.softmax(
                member(inputs, training=False), axis=-1), reduce_retracing=True)
            for member in self.members]

    def targets(self, ids: np.ndarray) -> np.ndarray:
        """Distributions [rows, width, vocab_size] for a batch of target rows; zero after them."""
        rows, width = ids.shape
        folds = (fold_of(ids, self.num_folds, self.seed) if self.num_folds
                 else np.zeros(rows, np.int64))
        inputs = shift_right(tf.constant(ids))
        total = np.zeros((rows, width, self.vocab_size), np.float32)
        count = np.zeros(rows, np.float32)
        for m, probabilities in enumerate(self._probabilities):
            teaches = (folds == m % self.num_folds) if self.num_folds else np.ones(rows, bool)
            if teaches.any():  # each member scores only the rows it teaches
                taught = np.flatnonzero(teaches)
                total[taught] += probabilities(tf.gather(inputs, taught)).numpy()
                count[taught] += 1.0
        total /= np.maximum(count, 1.0)[:, None, None]
        total[ids == encoding.PAD_ID] = 0.0
        return total
