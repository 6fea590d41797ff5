"""Count-based baselines in NumPy: interpolated Kneser-Ney character n-grams and a unigram floor.

Both score names exactly like the neural model's metric: mean nats per predicted character over
every character of a name plus its end-of-name. Characters never seen in training get their
probability from a reserved out-of-vocabulary slot (the neural vocabulary has one too).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from data import encoding

BOS = -1  # context padding before a name; never predicted


class CharVocabulary:
    """Character ids: 0 end-of-name, 1..V training characters, V+1 out-of-vocabulary."""

    def __init__(self, names: Iterable[str]):
        self.chars = sorted(set("".join(names)))
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
        self.tables: list[CountTable] = []  # index k: contexts of length k
        self._cache: dict[tuple, np.ndarray] = {}

    def fit(self, names: Sequence[str], vocabulary: CharVocabulary | None = None) -> KneserNey:
        """Counts for the highest order, continuation counts for the lower ones.

        Every n-gram is a base-(size + 1) integer code (the leftmost symbol highest), so the
        counting is np.unique over arrays rather than a Python loop over characters, and the
        tables are sorted arrays of the n-grams seen (no row per context over the vocabulary).
        """
        fitted = fit_folds(names, np.zeros(len(names), np.int64), 1, self.order,
                           self.discounts, vocabulary)[0]
        self.vocab, self._base, self.tables, self._cache = (
            fitted.vocab, fitted._base, fitted.tables, {})
        return self

    def total_log_likelihood(self, names: Sequence[str]) -> tuple[float, int]:
        """Sum of `log_likelihood` over names, and predictions made; computed over arrays."""
        return self.lookups(names).log_likelihood(self.discounts)

    def lookups(self, names: Sequence[str]) -> Lookups:
        """What scoring names needs from the tables, whatever the discounts (see Lookups)."""
        base, n = self._base, self.order
        symbols, valid = _padded_symbols(names, self.vocab, n)
        rows, columns = np.nonzero(valid)
        targets = symbols[rows, columns]
        context = np.zeros(len(targets), np.int64)
        per_length = []
        for k in range(n):  # contexts of length k, shortest first, as _interpolate recurses
            if k:
                context += symbols[rows, columns - k] * base**(k - 1)
            table = self.tables[k]
            found, row = table.find(context)
            chosen = table.count_of(context[found] * base + targets[found])
            per_length.append((found, chosen, table.seen[row[found]].astype(np.float64),
                               table.totals[row[found]]))
        return Lookups(self.vocab.size, len(targets), per_length)

    def distributions(self, contexts: np.ndarray) -> np.ndarray:
        """P(next id | context) [rows, size] for rows of ids [rows, >= order - 1] (BOS-padded).

        The last order - 1 ids of each row are its context; computed over arrays, the same
        interpolation as `distribution`.
        """
        size, base, n = self.vocab.size, self._base, self.order
        contexts = np.asarray(contexts, np.int64).reshape(len(contexts), -1)
        symbols = np.where(contexts == BOS, size, contexts)
        probs = np.full((len(symbols), size), 1.0 / size)
        code = np.zeros(len(symbols), np.int64)
        for k in range(n):  # contexts of length k, shortest first
            if k:
                code = code + symbols[:, -k] * base**(k - 1)
            table = self.tables[k]
            found, row = table.find(code)
            counts = table.dense(row[found], size)
            discount = self.discounts[k]
            probs[found] = ((np.maximum(counts - discount, 0.0)
                             + discount * table.seen[row[found], None] * probs[found])
                            / table.totals[row[found], None])
        return probs

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
        code = sum((size if c == BOS else c) * self._base**i
                   for i, c in enumerate(reversed(context)))
        table = self.tables[len(context)]
        found, row = table.find(np.array([code], np.int64))
        if not found[0]:
            result = lower
        else:
            counts = table.dense(row, size)[0]
            discount = self.discounts[len(context)]
            seen = np.count_nonzero(counts)
            result = (np.maximum(counts - discount, 0.0) + discount * seen * lower) / counts.sum()
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
            for _ in range(encoding.MAX_NAME_LENGTH):
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
        return int(sum(len(table.grams) for table in self.tables))


def fit_folds(names: Sequence[str], folds: np.ndarray, num_folds: int, order: int,
              discount: float | Sequence[float], vocabulary: CharVocabulary | None = None
              ) -> list[KneserNey]:
    """For each fold f, the model fitted on the names whose fold is not f (num_folds == 1,
    folds all 0: on every name); every n-gram is sorted once for all the folds.

    Counts for the highest order, continuation counts for the lower ones. Every n-gram is a
    base-(size + 1) integer code (the leftmost symbol highest), counted with np.unique and
    bincount over arrays; the tables hold only the n-grams seen (`CountTable`).
    """
    models = [KneserNey(order, discount) for _ in range(num_folds)]
    vocab = vocabulary or CharVocabulary(names)
    size, n = vocab.size, order
    base = size + 1  # symbol `size` stands for BOS
    if float(base) ** n >= 2.0**62:
        raise ValueError(f"{size} symbols at order {n} do not fit 64-bit n-gram codes")
    symbols, valid = _padded_symbols(names, vocab, n)
    rows, columns = np.nonzero(valid)  # every predicted position
    # a position's count goes to every fold but its name's (the one-fold case: to fold 0)
    owner = (np.asarray(folds, np.int64)[rows] if num_folds > 1
             else np.full(len(rows), 1, np.int64))
    tables: list[list] = [[None] * n for _ in range(num_folds)]
    code = np.zeros(len(rows), np.int64)  # grams of length k + 1 ending at each position
    for k in range(n):
        code += symbols[rows, columns - k] * base**k
        grams, index = np.unique(code, return_inverse=True)
        per_fold = np.bincount(index.ravel() * (num_folds + 1) + owner,
                               minlength=len(grams) * (num_folds + 1)).reshape(len(grams), -1)
        excluded = per_fold.sum(axis=1, keepdims=True) - per_fold[:, :num_folds]
        del index, per_fold
        if k == n - 1:  # raw counts of the highest order
            for fold in range(num_folds):
                seen = excluded[:, fold] > 0
                tables[fold][k] = CountTable(grams[seen], excluded[seen, fold], base)
        if k >= 1:  # continuation counts of contexts of length k - 1: distinct left symbols
            inner, inner_index = np.unique((grams // base) % base**(k - 1) * base
                                           + grams % base, return_inverse=True)
            for fold in range(num_folds):
                counts = np.bincount(inner_index.ravel()[excluded[:, fold] > 0],
                                     minlength=len(inner))
                tables[fold][k - 1] = CountTable(inner[counts > 0], counts[counts > 0], base)
    for model, fold_tables in zip(models, tables):
        model.vocab, model._base, model.tables, model._cache = vocab, base, fold_tables, {}
    return models


class Lookups:
    """Per context length: which predictions' contexts were seen, and their counts there."""

    def __init__(self, size: int, predictions: int, per_length: list[tuple]):
        self.size, self.predictions, self.per_length = size, predictions, per_length

    def log_likelihood(self, discounts: Sequence[float]) -> tuple[float, int]:
        """(sum of the log probabilities of the predictions, how many) under these discounts."""
        probs = np.full(self.predictions, 1.0 / self.size)  # uniform, including OOV
        for discount, (found, chosen, seen, totals) in zip(discounts, self.per_length):
            probs[found] = ((np.maximum(chosen - discount, 0.0) + discount * seen * probs[found])
                            / totals)
        return float(np.log(probs).sum()), self.predictions


class CountTable:
    """The n-grams of one context length seen in training, as sorted arrays.

    grams: codes context * base + next id, sorted (so each context's grams are contiguous);
    counts: their counts; per distinct context (sorted): its first gram, the distinct next ids
    seen and the total count.
    """

    def __init__(self, grams: np.ndarray, counts: np.ndarray, base: int):
        self.base = base
        self.grams, self.counts = grams, counts.astype(np.int32)
        self.contexts, first, seen = np.unique(grams // base, return_index=True,
                                               return_counts=True)
        self.first, self.seen = first, seen.astype(np.int32)
        self.totals = (np.add.reduceat(counts, first) if len(grams)
                       else np.zeros(0, np.int64)).astype(np.float64)

    def find(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For context codes: (whether each was seen, its row where seen)."""
        if not len(self.contexts):
            return np.zeros(len(codes), bool), np.zeros(len(codes), np.int64)
        row = np.minimum(np.searchsorted(self.contexts, codes), len(self.contexts) - 1)
        return self.contexts[row] == codes, row

    def count_of(self, grams: np.ndarray) -> np.ndarray:
        """Counts of gram codes (0 for grams never seen)."""
        if not len(self.grams):
            return np.zeros(len(grams))
        index = np.minimum(np.searchsorted(self.grams, grams), len(self.grams) - 1)
        return np.where(self.grams[index] == grams, self.counts[index], 0).astype(np.float64)

    def dense(self, rows: np.ndarray, size: int) -> np.ndarray:
        """Counts over the vocabulary [len(rows), size] of seen contexts' rows."""
        seen = self.seen[rows].astype(np.int64)
        out = np.zeros((len(rows), size))
        owner = np.repeat(np.arange(len(rows)), seen)
        gram = np.repeat(self.first[rows] - np.cumsum(seen) + seen, seen) + np.arange(seen.sum())
        out[owner, self.grams[gram] % self.base] = self.counts[gram]
        return out


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
            for _ in range(encoding.MAX_NAME_LENGTH):
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
