"""Soft targets from a Kneser-Ney n-gram teacher, for the `ngram_teacher` hyperparameter.

The GRU is trained towards (1 - w) * its usual labels + w * the teacher's next-character
distribution. Each name's targets come from a teacher fitted on the other folds of the train
split only, so the teacher never repeats counts taken from the name itself. Targets are built
per batch from the fold teachers, so nothing the size of the split is held. The teacher is used
in training only; the exported model is the GRU alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from components.baselines.ngram import BOS, CharVocabulary, fit_folds
from components.baselines.selection import select_kneser_ney
from components.trainer.data import fold_of
from components.trainer.model import case_smoothing_prior, decode_tokens
from data import encoding

FOLDS = 5
SELECTION_NAMES = 100_000  # order and discount are chosen on a sample of at most this many


class NgramTeacher:
    """One Kneser-Ney teacher per fold; `targets(batch)` gives a batch its distributions."""

    def __init__(self, names: Sequence[str], folds: np.ndarray, vocabulary: Sequence[str | bytes],
                 vocab_size: int, seed: int, within_case: bool = False, num_folds: int = FOLDS,
                 end_of_name: bool = True):
        """names: the train split as text; folds: each name's fold (`data.fold_of` of its ids).

        Order and discount are chosen on a slice of (at most SELECTION_NAMES of) the names
        (`select_kneser_ney`); the fold models share one count of the n-grams. With
        within_case, the targets stay in the case of the true next character (as smoothing does).
        Without end_of_name, the teacher says nothing about stopping: the label alone does.
        """
        self.end_of_name = end_of_name
        self.vocab_size, self.seed, self.num_folds = vocab_size, seed, num_folds
        chars = CharVocabulary(names)
        tokens = decode_tokens(vocabulary)
        model_id = {token: i for i, token in enumerate(tokens)
                    if i >= len(encoding.RESERVED_TOKENS)}
        self.to_model = np.full(chars.size, vocab_size - 1)  # teacher's OOV slot -> model's OOV
        self.to_model[0] = encoding.EON_ID
        self.to_char = np.full(vocab_size, chars.oov)  # model id -> teacher id
        self.to_char[encoding.EON_ID] = 0
        for char, index in chars.index.items():
            self.to_model[index] = model_id[char]
            self.to_char[model_id[char]] = index
        _, chosen = select_kneser_ney(names, seed=seed, max_names=SELECTION_NAMES, refit=False)
        self.order, self.discount = chosen["order"], chosen["discount"]
        self.teachers = fit_folds(names, folds, num_folds, self.order, self.discount, chars)
        self.same_case = (case_smoothing_prior(vocabulary, vocab_size).numpy() > 0
                          if within_case else None)
        log_likelihood, predictions = 0.0, 0
        for fold, fold_teacher in enumerate(self.teachers):  # each name under its fold's
            value, count = fold_teacher.total_log_likelihood(
                [name for name, f in zip(names, folds) if f == fold])
            log_likelihood, predictions = log_likelihood + value, predictions + count
        self.info = {"order": self.order, "discount": self.discount, "folds": num_folds,
                     "train_nats_per_char": -log_likelihood / max(predictions, 1)}

    def targets(self, ids: np.ndarray) -> np.ndarray:
        """Distributions [rows, width, vocab_size] for a batch of target rows; zero after them."""
        rows, width = ids.shape
        lengths = (ids != encoding.PAD_ID).sum(axis=1)
        folds = fold_of(ids, self.num_folds, self.seed)
        contexts = np.concatenate([np.full((rows, self.order - 1), BOS),
                                   self.to_char[ids]], axis=1)
        # windows[r, p]: the order - 1 teacher ids before position p of row r
        windows = np.lib.stride_tricks.sliding_window_view(
            contexts, self.order - 1, axis=1)[:, :width]
        real = np.arange(width) < lengths[:, None]
        soft = np.zeros((rows, width, self.vocab_size), np.float32)
        for fold, teacher in enumerate(self.teachers):  # each row under its fold's teacher
            positions = real & (folds == fold)[:, None]
            if positions.any():
                flat = np.zeros((int(positions.sum()), self.vocab_size), np.float32)
                flat[:, self.to_model] = teacher.distributions(windows[positions])
                soft[positions] = flat
        if self.same_case is not None:  # the teacher, too, stays in the target's case
            soft *= self.same_case[ids]
            total = soft.sum(axis=-1, keepdims=True)
            soft = np.divide(soft, total, out=np.zeros_like(soft), where=total > 0)
        if not self.end_of_name:  # stopping is learned from the data
            stops = (ids == encoding.EON_ID).astype(soft.dtype)
            soft[..., encoding.EON_ID] = 0.0
            total = soft.sum(axis=-1)
            soft *= np.divide(1.0 - stops, total, out=np.zeros_like(total),
                              where=total > 0)[..., None]
            soft[..., encoding.EON_ID] = stops
        return soft

    def describe(self) -> str:
        info = self.info
        return (f"Kneser-Ney n={info['order']} D={info['discount']}, {info['folds']} folds, "
                f"{info['train_nats_per_char']:.3f} nats/char on train (cross-fitted)")
