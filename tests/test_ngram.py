"""Kneser-Ney and unigram baselines: proper distributions, the metric, sampling, selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.baselines import ngram

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
    model, info = ngram.select_kneser_ney(NAMES * 2, orders=(1, 3, 5), discounts=(0.5, 0.9))
    assert len(info["grid"]) == 6
    assert info["validation_nats_per_char"] == min(info["grid"].values()) or math.isclose(
        round(info["validation_nats_per_char"], 4), min(info["grid"].values()))
    assert (model.order, model.discounts[0]) == (info["order"], info["discount"])
    assert info["order"] > 1  # structured names: context helps
