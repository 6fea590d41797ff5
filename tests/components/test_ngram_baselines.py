"""Kneser-Ney and unigram baselines: proper distributions, the metric, sampling, selection."""

from __future__ import annotations

import collections
import math

import numpy as np
import pytest

from components.baselines import ngram, selection

NAMES = ["Abelisaurus", "Carnotaurus", "Allosaurus", "Tarbosaurus", "Abrosaurus", "Carnosaur",
         "Alioramus", "Tyrannosaurus", "Albertosaurus", "Daspletosaurus"] * 3


@pytest.mark.parametrize("order", [1, 2, 4, 6])
def test_distributions_sum_to_one_over_seen_and_unseen_contexts(order):
    model = ngram.KneserNey(order, 0.8).fit(NAMES)
    index = model.vocab.index
    contexts = [(), (ngram.BOS,) * 5, (index["s"], index["a"], index["u"]),
                (index["y"], index["y"], index["D"]), (model.vocab.oov,)]
    for context in contexts:
        probs = model.distribution(context)
        assert probs.shape == (model.vocab.size,)
        assert np.all(probs > 0)
        assert probs.sum() == pytest.approx(1.0, abs=1e-9)


def test_nats_per_char_counts_end_of_name_and_matches_the_definition():
    model = ngram.KneserNey(3, 0.7).fit(NAMES)
    names = ["Saurus", "Qx"]  # "Q" and "x" never occur: the out-of-vocabulary slot
    total, count = 0.0, 0
    for name in names:
        ids = [ngram.BOS] * 2 + model.vocab.encode(name)
        for end in range(2, len(ids)):
            total -= math.log(model.distribution(tuple(ids[:end]))[ids[end]])
            count += 1
    assert count == len("Saurus") + 1 + len("Qx") + 1
    assert model.nats_per_char(names) == pytest.approx(total / count)


def test_longer_context_beats_unigram_on_structured_names():
    held_out = ["Allosaurus", "Tarbosaurus"]
    unigram = ngram.Unigram().fit(NAMES).nats_per_char(held_out)
    kneser_ney = ngram.KneserNey(4, 0.8).fit(NAMES).nats_per_char(held_out)
    assert kneser_ney < unigram - 1.0


def test_unigram_is_add_one_smoothed():
    model = ngram.Unigram().fit(["ab", "a"])  # a:2 b:1 end:2, plus one each for a, b, end, oov
    assert model.probs.tolist() == pytest.approx([3 / 9, 3 / 9, 2 / 9, 1 / 9])
    assert model.nats_per_char(["a"]) == pytest.approx(-(math.log(3 / 9) * 2) / 2)


def test_samples_are_reproducible_valid_and_in_vocabulary():
    model = ngram.KneserNey(5, 0.8).fit(NAMES)
    first, again = model.sample(50, seed=3), model.sample(50, seed=3)
    assert first == again
    assert set("".join(first)) <= set("".join(NAMES))
    assert all(0 < len(name) < 32 for name in first)
    assert len(set(first) & set(NAMES)) > 0  # an order-5 model on 10 names copies some


def test_selection_picks_the_grid_minimum_and_refits_on_all_names():
    model, info = selection.select_kneser_ney(NAMES * 2, orders=(1, 3, 5), discounts=(0.5, 0.9))
    assert len(info["grid"]) == 6
    assert info["validation_nats_per_char"] == min(info["grid"].values()) or math.isclose(
        round(info["validation_nats_per_char"], 4), min(info["grid"].values()))
    assert (model.order, model.discounts[0]) == (info["order"], info["discount"])
    assert info["order"] > 1  # structured names: context helps


def textbook_kneser_ney(names, order, discount, vocab):
    """Interpolated Kneser-Ney written from its definition with Python dicts (the reference):
    raw counts at the highest order, continuation counts (distinct left neighbours) below."""
    grams = collections.Counter()
    for name in names:
        ids = [ngram.BOS] * (order - 1) + vocab.encode(name)
        for end in range(order - 1, len(ids)):
            grams[tuple(ids[end - order + 1:end + 1])] += 1
    counts = [collections.defaultdict(collections.Counter) for _ in range(order)]
    for gram, count in grams.items():
        counts[order - 1][gram[:-1]][gram[-1]] += count
    for length in range(order - 1):  # from the distinct grams one symbol longer
        longer = {gram[-(length + 2):] for gram in grams}
        for gram in longer:
            counts[length][gram[1:-1]][gram[-1]] += 1

    def interpolated(context, next_id):
        lower = interpolated(context[1:], next_id) if context else 1.0 / vocab.size
        table = counts[len(context)].get(context)
        if not table:
            return lower
        return ((max(table[next_id] - discount, 0.0) + discount * len(table) * lower)
                / sum(table.values()))

    def probability(context, next_id):  # from the last order - 1 ids of the context
        return interpolated(tuple(context)[len(context) - order + 1:] if order > 1 else (),
                            next_id)

    return probability


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_array_tables_give_the_textbook_probabilities_one_context_or_many(order):
    model = ngram.KneserNey(order, 0.7).fit(NAMES)
    reference = textbook_kneser_ney(NAMES, order, 0.7, model.vocab)
    held_out = ["Saurus", "Qxosaurus", "Al", "Tyrannotitan"]  # unseen contexts, OOV characters
    contexts, expected_log = [], 0.0
    for name in held_out:
        ids = [ngram.BOS] * (order - 1) + model.vocab.encode(name)
        for end in range(order - 1, len(ids)):
            contexts.append(ids[end - order + 1:end])
            expected_log += math.log(reference(ids[end - order + 1:end], ids[end]))
    expected = np.array([[reference(c, w) for w in range(model.vocab.size)] for c in contexts])
    many = model.distributions(np.array(contexts, np.int64).reshape(len(contexts), order - 1))
    one = np.stack([model.distribution(tuple(c)) for c in contexts])
    np.testing.assert_allclose(many, expected, rtol=1e-12)
    np.testing.assert_allclose(one, expected, rtol=1e-12)
    total, count = model.total_log_likelihood(held_out)
    assert count == len(contexts) and total == pytest.approx(expected_log, rel=1e-12)
    padded = [[ngram.BOS] * (order - 1) + model.vocab.encode(name) for name in NAMES]
    distinct = {tuple(ids[end - order + 1:end + 1]) for ids in padded
                for end in range(order - 1, len(ids))}
    assert len(model.tables[order - 1].grams) == len(distinct)  # only the grams seen are held


def test_fold_models_equal_models_fitted_on_the_other_folds():
    names = NAMES[:10] + ["Saurornithoides", "Qianzhousaurus"]
    folds = np.array([i % 3 for i in range(len(names))])
    models = ngram.fit_folds(names, folds, 3, 4, 0.7, ngram.CharVocabulary(names))
    held_out = ["Saurus", "Qxosaurus", "Alioramus"]
    for fold, model in enumerate(models):
        others = [n for n, f in zip(names, folds) if f != fold]
        alone = ngram.KneserNey(4, 0.7).fit(others, ngram.CharVocabulary(names))
        assert model.parameters == alone.parameters
        assert model.total_log_likelihood(held_out) == alone.total_log_likelihood(held_out)


def test_selection_on_a_sample_chooses_on_at_most_max_names():
    names = NAMES * 4
    model, exact = selection.select_kneser_ney(names, orders=(2, 4), discounts=(0.5, 0.9))
    _, same = selection.select_kneser_ney(names, orders=(2, 4), discounts=(0.5, 0.9),
                                      max_names=len(names))
    none, sampled = selection.select_kneser_ney(names, orders=(2, 4), discounts=(0.5, 0.9),
                                            max_names=40, refit=False)
    assert same == exact and model is not None  # a list within max_names: as without it
    assert sampled["selection_names"] == 40 and sampled["validation_names"] == 4
    assert none is None
