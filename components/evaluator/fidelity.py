"""Sample fidelity: how close sampled names are to real ones, each beside a real-vs-real floor.

Every measure is computed twice: on the model's samples, and in the same way on a disjoint
sample of real names (the *floor*, what a perfect generator would reach with this much data):

- **length TV**: total-variation distance between name-length distributions, against a
  reference set of real names;
- **copy rate**: share of names that are a training name (for real held-out names: 0 by
  construction of the hash split, so the floor is the share of eval names found in train);
- **reverse score**: a small Kneser-Ney n-gram fitted on the names, scoring the real eval
  names in nats/char. Low when the samples cover the data's variety; a model that collapses onto
  a few modes scores high;
- **prefix diversity**: distinct names among N samples that start with a common prefix,
  against the same count for N draws from the real names with that prefix.

The real names are split once, seeded: `reference_sample` (drawn from train, as many as there
are samples, at most two thirds of train) plays the generator; `reference` (the rest of train
and the eval split) is what both are compared with. The reverse score is always fitted on equal
numbers of names and scores the eval split, which neither set contains.
"""

from __future__ import annotations

import collections
import random
import statistics
from collections.abc import Callable, Sequence

from components.baselines.ngram import CharVocabulary, KneserNey
from data import encoding
from pipeline import configs

REVERSE_ORDER = 3  # the reverse score's n-gram: small, so it measures coverage, not memory
REVERSE_DISCOUNT = 0.75
PREFIX_COUNT = 5  # the most common prefixes of the training names
PREFIX_LENGTH = 3
PREFIX_SAMPLES = 20  # N names per prefix
REFERENCE_SHARE = 2 / 3  # at most this share of train is drawn as the real "generator"

NOISE_DRAWS = 50  # real-vs-real splits behind the length TV's noise limit
NOISE_QUANTILE = 0.99  # the limit: real names exceed it in 1% of the splits
REFERENCE_SELECTION_NAMES = 5000  # the reference n-gram's order is chosen on at most this many

# The measures that have a `<measure>_floor` (tables print them side by side).
MEASURES = ("length_tv_distance", "copy_rate", "reverse_score", "prefix_diversity")


def length_distance(generated: Sequence[str], reference: Sequence[str]) -> float:
    """Total-variation distance between the two name-length distributions."""
    if not generated or not reference:
        raise ValueError("length_distance needs names on both sides")
    a, b = collections.Counter(map(len, generated)), collections.Counter(map(len, reference))
    return 0.5 * sum(abs(a[k] / len(generated) - b[k] / len(reference)) for k in set(a) | set(b))


def copy_rate(names: Sequence[str], train: Sequence[str]) -> float:
    """Share of names that are exactly a training name."""
    train_set = set(train)
    return sum(name in train_set for name in names) / max(len(names), 1)


def reverse_score(names: Sequence[str], evaluation: Sequence[str]) -> float:
    """Nats/char of the real eval names under a small Kneser-Ney fitted on `names`."""
    fitted = [name for name in names if name]
    if not fitted:
        return float("inf")  # nothing to fit: no coverage at all
    model = KneserNey(REVERSE_ORDER, REVERSE_DISCOUNT).fit(fitted, CharVocabulary(fitted))
    return model.nats_per_char(evaluation)


def common_prefixes(train: Sequence[str], count: int = PREFIX_COUNT,
                    length: int = PREFIX_LENGTH) -> list[str]:
    """The `count` most common `length`-character prefixes of names longer than that."""
    counts = collections.Counter(name[:length] for name in train if len(name) > length)
    return [prefix for prefix, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            [:count]]


def split_real(train: Sequence[str], evaluation: Sequence[str], num_samples: int, seed: int
               ) -> tuple[list[str], list[str]]:
    """(reference_sample, reference): a seeded draw from train, and the rest of train + eval."""
    if not train or not evaluation:
        raise ValueError("fidelity needs names in both the train and the eval split")
    size = max(1, min(num_samples, int(len(train) * REFERENCE_SHARE)))
    order = list(train)
    random.Random(seed).shuffle(order)
    return order[:size], order[size:] + list(evaluation)


def prefix_diversity(sample_prefix: Callable[[str, int, int], list[str]] | None,
                     train: Sequence[str], evaluation: Sequence[str], seed: int,
                     samples_per_prefix: int = PREFIX_SAMPLES) -> dict:
    """Distinct share among N samples per common prefix, and among N draws of real names.

    sample_prefix(prefix, n, seed) returns n names that start with prefix; None skips the model
    side (count baselines sample without a prefix).
    """
    real = sorted(set(train) | set(evaluation))
    rng = random.Random(seed)
    rows = {}
    for prefix in common_prefixes(train):
        pool = [name for name in real if name.startswith(prefix)]
        draws = [rng.choice(pool) for _ in range(samples_per_prefix)]
        row = {"real_names": len(pool), "floor": len(set(draws)) / samples_per_prefix}
        if sample_prefix is not None:
            names = sample_prefix(prefix, samples_per_prefix, seed)
            row["model"] = len(set(names)) / samples_per_prefix
            row["examples"] = names[:5]
        rows[prefix] = row
    summary = {"prefixes": rows, "prefix_diversity_floor":
               statistics.fmean(r["floor"] for r in rows.values()) if rows else 1.0}
    if sample_prefix is not None:
        summary["prefix_diversity"] = (statistics.fmean(r["model"] for r in rows.values())
                                       if rows else 1.0)
    return summary


def fidelity(samples: Sequence[str], train: Sequence[str], evaluation: Sequence[str],
             seed: int = configs.GATE["sample_seed"],
             sample_prefix: Callable[[str, int, int], list[str]] | None = None) -> dict:
    """Every fidelity measure of `samples`, each with its `<measure>_floor` from real names."""
    if not samples:
        raise ValueError("fidelity needs at least one sample")
    reference_sample, reference = split_real(train, evaluation, len(samples), seed)
    rng = random.Random(seed)
    fit_samples = rng.sample(list(samples), min(len(samples), len(reference_sample)))
    prefixes = prefix_diversity(sample_prefix, train, evaluation, seed)
    return {
        "length_tv_distance": length_distance(samples, reference),
        "length_tv_distance_floor": length_distance(reference_sample, reference),
        "copy_rate": copy_rate(samples, train),
        "copy_rate_floor": copy_rate(evaluation, train),
        "reverse_score": reverse_score(fit_samples, evaluation),
        "reverse_score_floor": reverse_score(reference_sample, evaluation),
        **{k: v for k, v in prefixes.items() if k != "prefixes"},
        "prefix_rows": prefixes["prefixes"],
        "reference_lengths": [len(name) for name in reference],
        "reference_sample_size": len(reference_sample),
    }


def length_band(train: Sequence[str], evaluation: Sequence[str], draws: int = 20,
                seed: int = 0, max_length: int = encoding.MAX_NAME_LENGTH
                ) -> tuple[list[float], list[float]]:
    """Per-length (low, high) share over `draws` real-vs-real splits: the real names' own spread.

    Each draw splits the real names as `split_real` does with a different seed; the band is the
    min and max share of each length over the drawn reference samples.
    """
    shares = []
    for draw in range(draws):
        sample, _ = split_real(train, evaluation, len(train), seed + draw)
        counts = collections.Counter(map(len, sample))
        shares.append([counts[k] / len(sample) for k in range(max_length + 1)])
    return ([min(column) for column in zip(*shares)], [max(column) for column in zip(*shares)])


def length_tv_noise(train: Sequence[str], evaluation: Sequence[str], num_samples: int,
                    seed: int, draws: int = NOISE_DRAWS, quantile: float = NOISE_QUANTILE
                    ) -> float:
    """The `quantile` of real-vs-real length TV over `draws` splits of this data.

    Each draw is measured exactly as the gate measures a model: `split_real` with another seed,
    the reference sample against the reference. So the limit carries the noise of this split's
    sizes (a small eval split or a short list gives a larger one), not a fixed allowance.
    """
    distances = sorted(length_distance(*split_real(train, evaluation, num_samples, seed + 1 + d))
                       for d in range(draws))
    return distances[min(draws - 1, int(quantile * draws))]


def reference_copy_rate(train: Sequence[str], num_samples: int, seed: int) -> dict:
    """What a reference model of this list copies: Kneser-Ney (the teacher's choice of order
    and discount), num_samples names at T=1, and the binomial standard error of that share."""
    from components.baselines.selection import select_kneser_ney

    model, chosen = select_kneser_ney(train, seed=seed, max_names=REFERENCE_SELECTION_NAMES)
    rate = copy_rate(model.sample(num_samples, seed), train)
    return {"copy_rate_reference": rate,
            "copy_rate_reference_stderr": (rate * (1 - rate) / num_samples) ** 0.5,
            "copy_rate_reference_model": f"kneser-ney n={chosen['order']} "
                                         f"D={chosen['discount']}"}
