"""Count-based baselines in NumPy: interpolated Kneser-Ney character n-grams and a unigram floor.

Both score names exactly like the neural model's metric: mean nats per predicted character over
every character of a name plus its end-of-name. Characters never seen in training get their
probability from a reserved out-of-vocabulary slot (the neural vocabulary has one too).
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Sequence

import numpy as np

from pipeline import configs

BOS = -1  # context padding before a name; never predicted


class CharVocabulary:
    """Character ids: 0 end-of-name, 1..V training characters, V+1 out-of-vocabulary."""

    def __init__(self, names: Iterable[str]):
        counts = collections.Counter(ch for name in names for ch in name)
        self.chars = sorted(counts)
        self.index = {ch: i + 1 for i, ch in enumerate(self.chars)}
        self.size = len(self.chars) + 2  # + end-of-name + out-of-vocabulary
        self.oov = self.size - 1

    def encode(self, name: str) -> list[int]:
        """Ids of the name's characters followed by end-of-name (0)."""
        return [self.index.get(ch, self.oov) for ch in name] + [0]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i - 1] for i in ids if 0 < i < self.oov)


class KneserNey:
    """Interpolated Kneser-Ney over characters, order n, one absolute discount per order."""

    def __init__(self, order: int, discount: float | Sequence[float] = 0.75):
        if order < 1:
            raise ValueError("order must be at least 1")
        self.order = order
        discounts = [discount] * order if np.isscalar(discount) else list(discount)
        if len(discounts) != order or not all(0.0 < d < 1.0 for d in discounts):
            raise ValueError(f"need {order} discounts in (0, 1), got {discount!r}")
        self.discounts = [float(d) for d in discounts]  # index k: contexts of length k
        self.vocab: CharVocabulary | None = None
        self.tables: list[dict[tuple, np.ndarray]] = []
        self._cache: dict[tuple, np.ndarray] = {}

    def fit(self, names: Sequence[str], vocabulary: CharVocabulary | None = None) -> KneserNey:
        """Counts for the highest order, continuation counts for the lower ones.

        Every n-gram is a base-(size + 1) integer code (the leftmost symbol highest), so the
        counting is np.unique over arrays rather than a Python loop over characters.
        """
        self.vocab = vocabulary or CharVocabulary(names)
        size, n = self.vocab.size, self.order
        base = self._base = size + 1  # symbol `size` stands for BOS
        if float(base) ** n >= 2.0**62:
            raise ValueError(f"{size} symbols at order {n} do not fit 64-bit n-gram codes")
        symbols, valid = _padded_symbols(names, self.vocab, n)
        grams, code = [], np.zeros_like(symbols)  # grams[k]: codes of grams of length k+1
        for k in range(n):  # extend every gram ending at a valid position one symbol left
            code = code + np.roll(symbols, k, axis=1) * base**k
            grams.append(code[valid])
        self.tables = [dict() for _ in range(n)]
        self._arrays: list[tuple[np.ndarray, np.ndarray]] = [None] * n  # (contexts, counts)
        top, counts = np.unique(grams[n - 1], return_counts=True)
        self._set_table(n - 1, top // base, top % base, counts)
        for k in range(n - 1):  # continuation count: distinct characters to the left
            distinct = np.unique(grams[k + 1])  # grams of length k + 2
            pairs, counts = np.unique((distinct // base) % base**k * base + distinct % base,
                                      return_counts=True)
            self._set_table(k, pairs // base, pairs % base, counts)
        self._cache = {}
        return self

    def _set_table(self, length: int, contexts: np.ndarray, targets: np.ndarray,
                   counts: np.ndarray) -> None:
        """tables[length]: context tuple -> counts over the vocabulary (rows of one array)."""
        size, base = self.vocab.size, self._base
        unique, row = np.unique(contexts, return_inverse=True)
        dense = np.zeros((len(unique), size))
        dense[row, targets] = counts
        digits = np.stack([unique // base**(length - 1 - j) % base for j in range(length)],
                          axis=1) if length else np.zeros((len(unique), 0), np.int64)
        digits[digits == size] = BOS
        self.tables[length] = dict(zip(map(tuple, digits.tolist()), dense))
        self._arrays[length] = (unique, dense)

    def total_log_likelihood(self, names: Sequence[str]) -> tuple[float, int]:
        """Sum of `log_likelihood` over names, and predictions made; computed over arrays."""
        size, base, n = self.vocab.size, self._base, self.order
        symbols, valid = _padded_symbols(names, self.vocab, n)
        targets = symbols[valid]
        probs = np.full(len(targets), 1.0 / size)  # uniform, including out-of-vocabulary
        context = np.zeros(len(targets), np.int64)
        for k in range(n):  # contexts of length k, shortest first, as _interpolate recurses
            if k:
                context = context + np.roll(symbols, k, axis=1)[valid] * base**(k - 1)
            unique, dense = self._arrays[k]
            row = np.minimum(np.searchsorted(unique, context), max(len(unique) - 1, 0))
            found = unique[row] == context if len(unique) else np.zeros(len(context), bool)
            counts = dense[row[found]]
            discount = self.discounts[k]
            seen = np.count_nonzero(counts, axis=1)
            chosen = counts[np.arange(len(counts)), targets[found]]
            probs[found] = ((np.maximum(chosen - discount, 0.0) + discount * seen * probs[found])
                            / counts.sum(axis=1))
        return float(np.log(probs).sum()), len(targets)

    def distribution(self, context: tuple) -> np.ndarray:
        """P(next id | the last order-1 ids of context), over the whole vocabulary."""
        context = tuple(context[len(context) - self.order + 1:]) if self.order > 1 else ()
        return self._interpolate(context)

    def _interpolate(self, context: tuple) -> np.ndarray:
        if context in self._cache:
            return self._cache[context]
        size = self.vocab.size
        if context:
            lower = self._interpolate(context[1:])
        else:
            lower = np.full(size, 1.0 / size)  # uniform, including out-of-vocabulary
        counts = self.tables[len(context)].get(context)
        if counts is None:
            result = lower
        else:
            total = counts.sum()
            discount = self.discounts[len(context)]
            seen = np.count_nonzero(counts)
            result = (np.maximum(counts - discount, 0.0) + discount * seen * lower) / total
        self._cache[context] = result
        return result

    def log_likelihood(self, name: str) -> tuple[float, int]:
        """(natural-log probability of the name with its end-of-name, predictions made)."""
        ids = [BOS] * (self.order - 1) + self.vocab.encode(name)
        total = 0.0
        for end in range(self.order - 1, len(ids)):
            total += math.log(self.distribution(tuple(ids[:end]))[ids[end]])
        return total, len(ids) - self.order + 1

    def nats_per_char(self, names: Iterable[str]) -> float:
        total, count = self.total_log_likelihood(list(names))
        return -total / max(count, 1)

    def sample(self, n: int, seed: int, temperature: float = 1.0) -> list[str]:
        """n names drawn character by character; never out-of-vocabulary, capped in length."""
        rng = np.random.default_rng(seed)
        names = []
        for _ in range(n):
            ids = [BOS] * (self.order - 1)
            for _ in range(configs.MAX_NAME_LENGTH):
                probs = _sharpen(self.distribution(tuple(ids)), temperature, self.vocab.oov)
                token = int(rng.choice(len(probs), p=probs))
                if token == 0:
                    break
                ids.append(token)
            else:
                ids.append(-2)  # hit the cap without end-of-name: marks the sample invalid
            names.append(_as_sample(self.vocab, ids))
        return names

    @property
    def parameters(self) -> int:
        """Stored counts (non-zero entries of every table): the model's size."""
        return int(sum(np.count_nonzero(v) for table in self.tables for v in table.values()))


class Unigram:
    """The floor: each character (and end-of-name) independent of the others, add-one smoothed."""

    def __init__(self) -> None:
        self.vocab: CharVocabulary | None = None
        self.probs = np.zeros(0)

    def fit(self, names: Sequence[str]) -> Unigram:
        self.vocab = CharVocabulary(names)
        counts = np.ones(self.vocab.size)
        for name in names:
            np.add.at(counts, self.vocab.encode(name), 1.0)
        self.probs = counts / counts.sum()
        return self

    def log_likelihood(self, name: str) -> tuple[float, int]:
        ids = self.vocab.encode(name)
        return float(np.log(self.probs[ids]).sum()), len(ids)

    def nats_per_char(self, names: Iterable[str]) -> float:
        return _nats_per_char(self, names)

    def sample(self, n: int, seed: int, temperature: float = 1.0) -> list[str]:
        rng = np.random.default_rng(seed)
        probs = _sharpen(self.probs, temperature, self.vocab.oov)
        names = []
        for _ in range(n):
            ids = []
            for _ in range(configs.MAX_NAME_LENGTH):
                token = int(rng.choice(len(probs), p=probs))
                if token == 0:
                    break
                ids.append(token)
            else:
                ids.append(-2)
            names.append(_as_sample(self.vocab, ids))
        return names

    @property
    def parameters(self) -> int:
        return int(self.vocab.size)


def _padded_symbols(names: Sequence[str], vocab: CharVocabulary, order: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Names as rows of symbols: order - 1 BOS (as vocab.size), the ids, end-of-name (0).

    Returns the rows and the mask of the positions predicted (each character and the end).
    """
    lengths = np.fromiter(map(len, names), np.int64, len(names))
    width = order + int(lengths.max(initial=0))
    symbols = np.full((len(names), width), vocab.size, np.int64)
    text = "".join(names)
    if text:
        points, inverse = np.unique(np.frombuffer(text.encode("utf-32-le"), np.uint32),
                                    return_inverse=True)
        ids = np.array([vocab.index.get(chr(p), vocab.oov) for p in points])[inverse]
        rows = np.repeat(np.arange(len(names)), lengths)
        starts = np.cumsum(lengths) - lengths
        columns = order - 1 + np.arange(len(text)) - np.repeat(starts, lengths)
        symbols[rows, columns] = ids
    symbols[np.arange(len(names)), order - 1 + lengths] = 0  # end-of-name
    columns = np.arange(width)
    valid = (columns >= order - 1) & (columns <= (order - 1 + lengths)[:, None])
    return symbols, valid


def _nats_per_char(model, names: Iterable[str]) -> float:
    total, count = 0.0, 0
    for name in names:
        log_prob, predictions = model.log_likelihood(name)
        total, count = total - log_prob, count + predictions
    return total / max(count, 1)


def _sharpen(probs: np.ndarray, temperature: float, oov: int) -> np.ndarray:
    probs = probs.copy()
    probs[oov] = 0.0
    if temperature != 1.0:
        probs = np.power(probs, 1.0 / temperature)
    return probs / probs.sum()


def _as_sample(vocab: CharVocabulary, ids: list[int]) -> str:
    """A capped sample is returned 32+ characters long, so validity counts it as invalid."""
    text = vocab.decode(i for i in ids if i != BOS)
    return text + "\u2026" if ids and ids[-1] == -2 else text


def select_kneser_ney(
    train: Sequence[str],
    validation_share: float = 0.1,
    orders: Sequence[int] = (2, 3, 4, 5, 6, 7, 8),
    discounts: Sequence[float] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95),
    seed: int = 0,
) -> tuple[KneserNey, dict]:
    """Pick order and discount on a held-out slice of train, then refit on all of train."""
    names = list(train)
    rng = np.random.default_rng(seed)
    order_of = rng.permutation(len(names))
    cut = max(1, int(round(len(names) * validation_share)))
    validation = [names[i] for i in order_of[:cut]]
    fit_on = [names[i] for i in order_of[cut:]]
    vocabulary = CharVocabulary(fit_on)
    grid = {}
    for order in orders:
        model = KneserNey(order).fit(fit_on, vocabulary)
        for discount in discounts:
            model.discounts = [discount] * order
            model._cache = {}
            grid[(order, discount)] = model.nats_per_char(validation)
    order, discount = min(grid, key=grid.get)
    chosen = KneserNey(order, discount).fit(names)
    return chosen, {
        "order": order, "discount": discount,
        "validation_names": len(validation),
        "validation_nats_per_char": grid[(order, discount)],
        "grid": {f"n={o} D={d}": round(v, 4) for (o, d), v in sorted(grid.items())},
    }
