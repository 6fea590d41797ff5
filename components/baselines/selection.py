"""Choosing a Kneser-Ney model for a list: order and discount on a held-out slice of train.

Used by the n-gram teacher (components/trainer/teacher.py), the gate's reference model
(components/evaluator/fidelity.py) and `namegen bench quality`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from components.baselines.ngram import CharVocabulary, KneserNey


def select_kneser_ney(
    train: Sequence[str],
    validation_share: float = 0.1,
    orders: Sequence[int] = (2, 3, 4, 5, 6, 7, 8),
    discounts: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
    seed: int = 0,
    max_names: int | None = None,
    refit: bool = True,
) -> tuple[KneserNey | None, dict]:
    """Pick order and discount on a held-out slice of train, then refit on all of train.

    max_names: choose on a seeded sample of at most this many names (lists up to that size
    choose exactly as without it). refit=False: return no model, only the choice.
    """
    names = list(train)
    sample = names
    if max_names is not None and len(names) > max_names:
        keep = np.sort(np.random.default_rng([seed, 1]).choice(len(names), max_names,
                                                                replace=False))
        sample = [names[i] for i in keep]
    rng = np.random.default_rng(seed)
    order_of = rng.permutation(len(sample))
    cut = max(1, int(round(len(sample) * validation_share)))
    validation = [sample[i] for i in order_of[:cut]]
    fit_on = [sample[i] for i in order_of[cut:]]
    vocabulary = CharVocabulary(fit_on)
    grid = {}
    for order in orders:
        lookups = KneserNey(order).fit(fit_on, vocabulary).lookups(validation)
        for discount in discounts:
            total, count = lookups.log_likelihood([discount] * order)
            grid[(order, discount)] = -total / max(count, 1)
    order, discount = min(grid, key=grid.get)
    chosen = KneserNey(order, discount).fit(names) if refit else None
    return chosen, {
        "order": order, "discount": discount, "selection_names": len(sample),
        "validation_names": len(validation),
        "validation_nats_per_char": grid[(order, discount)],
        "grid": {f"n={o} D={d}": round(v, 4) for (o, d), v in sorted(grid.items())},
    }
