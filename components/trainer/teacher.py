"""Soft targets from a Kneser-Ney n-gram teacher, for the `ngram_teacher` hyperparameter.

The GRU is trained towards (1 - w) * its usual labels + w * the teacher's next-character
distribution. Each name's targets come from a teacher fitted on the other folds of the train
split only, so the teacher never repeats counts taken from the name itself. The teacher is used
in training only; the exported model is the GRU alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from components.baselines.ngram import BOS, CharVocabulary, KneserNey, select_kneser_ney
from components.trainer.model import decode_ids, decode_tokens
from pipeline import configs

FOLDS = 5


def cross_fit_folds(count: int, folds: int, seed: int) -> np.ndarray:
    """The fold of each name: a seeded permutation, dealt round-robin."""
    return np.random.default_rng(seed).permutation(count) % folds


def ngram_soft_labels(
    ids: np.ndarray, vocabulary: Sequence[str | bytes], vocab_size: int, seed: int,
    folds: int = FOLDS,
) -> tuple[np.ndarray, dict]:
    """Teacher distributions [names, positions, vocab_size] aligned with `ids` (the targets).

    Positions after end-of-name are zeros. Order and discount are chosen on a slice of the
    names (`select_kneser_ney`), then one teacher per fold is fitted on the other folds.
    """
    names = decode_ids(ids, vocabulary)
    chars = CharVocabulary(names)
    to_model = np.full(chars.size, vocab_size - 1)  # the teacher's OOV slot -> the model's OOV
    to_model[0] = configs.EON_ID
    model_id = {token: i for i, token in enumerate(decode_tokens(vocabulary))
                if i >= len(configs.RESERVED_TOKENS)}
    for char, index in chars.index.items():
        to_model[index] = model_id[char]
    _, chosen = select_kneser_ney(names, seed=seed)
    order, discount = chosen["order"], chosen["discount"]
    width = int((ids != configs.PAD_ID).sum(axis=1).max()) if len(ids) else 0
    soft = np.zeros((len(names), width, vocab_size), np.float32)
    fold_of = cross_fit_folds(len(names), folds, seed)
    log_likelihood, predictions = 0.0, 0
    for fold in range(folds):
        others = [name for name, f in zip(names, fold_of) if f != fold]
        teacher = KneserNey(order, discount).fit(others, chars)
        for row in np.flatnonzero(fold_of == fold):
            context = [BOS] * (order - 1) + chars.encode(names[row])
            for position in range(len(context) - order + 1):
                probs = teacher.distribution(tuple(context[:order - 1 + position]))
                soft[row, position, to_model] = probs
                log_likelihood += np.log(probs[context[order - 1 + position]])
                predictions += 1
    return soft, {"order": order, "discount": discount, "folds": folds,
                  "train_nats_per_char": -log_likelihood / max(predictions, 1)}
