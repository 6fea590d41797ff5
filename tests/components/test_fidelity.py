"""Sample-fidelity measures (components/evaluator/fidelity.py) and the gate's use of them."""

from __future__ import annotations

import os
import random

import pytest

from components.evaluator import fidelity
from components.evaluator.component import decide, fidelity_failures
from data import name_lists
from pipeline import configs

# Seeds of the statistical test: fixed by default; NAMEGEN_FIDELITY_SEEDS=random draws new ones.
SEEDS = (list(range(20)) if os.environ.get("NAMEGEN_FIDELITY_SEEDS") != "random"
         else random.SystemRandom().sample(range(10**9), 20))


@pytest.fixture(scope="module")
def real_names() -> list[str]:
    return name_lists.dinosaur_names()


def test_length_distance_and_copy_rate_by_hand():
    assert fidelity.length_distance(["ab", "abc"], ["xy", "xy"]) == pytest.approx(0.5)
    assert fidelity.length_distance(["ab"], ["xy"]) == 0.0
    assert fidelity.length_distance(["a"], ["xyz"]) == 1.0
    assert fidelity.copy_rate(["Ab", "Ab", "Cd", "Ef"], ["Ab", "Zz"]) == 0.5
    with pytest.raises(ValueError, match="names on both sides"):
        fidelity.length_distance([], ["x"])


def test_floor_uses_real_names_disjoint_from_the_eval_split():
    train = [f"N{'a' * (i % 9)}{i}" for i in range(300)]
    evaluation = [f"E{'b' * (i % 7)}" for i in range(40)]
    sample, reference = fidelity.split_real(train, evaluation, 1000, seed=3)
    assert len(sample) == 200  # at most two thirds of train
    assert set(sample) <= set(train) and not set(sample) & set(evaluation)
    assert sorted(sample + reference) == sorted(train + evaluation)
    measured = fidelity.fidelity(train[:150], train, evaluation, seed=3)
    sample, reference = fidelity.split_real(train, evaluation, 150, seed=3)  # as many as samples
    assert measured["reference_sample_size"] == 150
    assert measured["reverse_score_floor"] == pytest.approx(
        fidelity.reverse_score(sample, evaluation))
    assert measured["length_tv_distance_floor"] == pytest.approx(
        fidelity.length_distance(sample, reference))
    assert measured["copy_rate"] == 1.0 and measured["copy_rate_floor"] == 0.0


def test_reverse_score_punishes_samples_that_collapse_onto_a_few_names(real_names):
    train, evaluation = real_names[::2], real_names[1::2]
    collapsed = [train[i % 10] for i in range(1000)]
    varied = fidelity.fidelity(train[:900], train, evaluation, seed=0)
    narrow = fidelity.fidelity(collapsed, train, evaluation, seed=0)
    assert narrow["reverse_score"] > varied["reverse_score_floor"] + 0.5
    # real names as the "samples" score like the floor (same data, a different draw)
    assert abs(varied["reverse_score"] - varied["reverse_score_floor"]) < 0.1


def test_prefix_diversity_counts_distinct_names_per_prefix():
    train = ["Tyra", "Tyrb", "Tyrc", "Tyrd", "Abca"] * 1
    evaluation = ["Tyre"]
    result = fidelity.prefix_diversity(lambda prefix, n, seed: [prefix + "x"] * n, train,
                                       evaluation, seed=0, samples_per_prefix=10)
    assert result["prefixes"]["Tyr"]["model"] == pytest.approx(0.1)  # one name out of ten
    assert result["prefixes"]["Tyr"]["real_names"] == 5
    assert 0.1 < result["prefixes"]["Tyr"]["floor"] <= 0.5  # ten draws from five real names
    assert result["prefix_diversity"] == pytest.approx(0.1)
    assert fidelity.common_prefixes(train, count=1) == ["Tyr"]


@pytest.mark.parametrize("seed", SEEDS)
def test_a_generator_that_draws_real_unseen_names_passes_the_fidelity_gate(real_names, seed):
    """False-alarm rate: 0 in 300 seeds measured (docs/QUALITY.md), so under 1% (95% bound).

    The "generator" draws 1,000 names with replacement from a half of the real names that the
    gate never sees (a perfect model of the data); train and eval come from the other half.
    """
    rng = random.Random(seed)
    names = list(real_names)
    rng.shuffle(names)
    unseen, seen = names[: len(names) // 2], names[len(names) // 2:]
    train, evaluation = seen[: len(seen) * 9 // 10], seen[len(seen) * 9 // 10:]
    samples = [rng.choice(unseen) for _ in range(1000)]
    measured = fidelity.fidelity(samples, train, evaluation, seed)
    measured["length_tv_noise"] = fidelity.length_tv_noise(train, evaluation, 1000, seed)
    # Real lists repeat names across halves, so even this generator copies a little; the
    # limit is what a Kneser-Ney of train copies.
    measured.update(fidelity.reference_copy_rate(train, 1000, seed))
    assert fidelity_failures(measured, configs.GATE) == []


def test_gate_rejects_lengths_coverage_and_copies_beyond_its_thresholds():
    healthy = {"eval_nats_per_char": 1.6, "validity": 1.0, "novelty": 0.97,
               "length_tv_distance": 0.12, "length_tv_distance_floor": 0.10, "copy_rate": 0.03,
               "reverse_score": 1.9, "reverse_score_floor": 1.8, "length_tv_noise": 0.11,
               "copy_rate_reference": 0.03, "copy_rate_reference_stderr": 0.005,
               "copy_rate_reference_model": "kneser-ney n=4 D=0.8"}
    gate = dict(configs.GATE)
    assert decide(healthy, None, gate)[0] is True
    too_short = dict(healthy, length_tv_distance=0.11 + gate["max_length_tv_over_noise"] + 0.01)
    blessed, reason = decide(too_short, None, gate)
    assert blessed is False and "length TV" in reason and "floor" in reason
    narrow = dict(healthy, reverse_score=1.8 + gate["max_reverse_score_over_floor"] + 0.01)
    blessed, reason = decide(narrow, None, gate)
    assert blessed is False and "reverse score" in reason
    limit = 0.03 + gate["copy_rate_sigmas"] * 2 ** 0.5 * 0.005
    assert decide(dict(healthy, copy_rate=limit - 0.001), None, gate)[0] is True
    copier = dict(healthy, copy_rate=limit + 0.001)
    blessed, reason = decide(copier, None, gate)
    assert blessed is False and "copy a training name" in reason and "kneser-ney" in reason


def test_length_tv_noise_is_larger_on_a_smaller_list(real_names):
    """The limit comes from the data: fewer names, more real-vs-real noise."""
    big = fidelity.length_tv_noise(real_names[100:], real_names[:100], 1000, 0)
    small = fidelity.length_tv_noise(real_names[100:400], real_names[:30], 1000, 0)
    assert small > big > 0


def test_reference_copy_rate_is_high_on_short_common_names():
    """A Kneser-Ney of a list of a few short names copies them; of long varied ones, rarely."""
    short = ["Ann", "Bob", "Eve", "Tom", "Amy", "Joe", "Sam", "Max"] * 20
    measured = fidelity.reference_copy_rate(short, 500, 0)
    assert measured["copy_rate_reference"] > 0.3
    assert 0 < measured["copy_rate_reference_stderr"] < 0.05


def test_length_band_brackets_the_real_shares_and_not_a_collapsed_sampler(real_names):
    train, evaluation = real_names[::10][:40] + real_names[1::2], real_names[::10][40:]
    low, high = fidelity.length_band(train, evaluation, draws=20, seed=0)
    assert all(lo <= hi for lo, hi in zip(low, high))
    shares = [sum(len(n) == k for n in train) / len(train) for k in range(len(low))]
    mode = max(range(len(shares)), key=shares.__getitem__)
    assert low[mode] <= shares[mode] <= high[mode]
    assert high[5] < 0.5  # a sampler whose names all have 5 characters is far outside
