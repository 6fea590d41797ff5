"""The served sampler (issue 26): length and case calibration, eta, unique, on a NameGenerator with
random weights and a stand-in Transform layer (no pipeline run needed)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import calibration, sampling
from components.trainer.generator import NameGenerator
from components.trainer.model import build_model
from data import encoding, name_lists
from pipeline import configs
from serving import contract

VOCABULARY = list(encoding.RESERVED_TOKENS) + list("abcdeAB")


class CharIds(tf.Module):
    """Stands in for the Transform layer: name -> character ids, end-of-name, padding."""

    def __init__(self):
        super().__init__()
        chars = VOCABULARY[len(encoding.RESERVED_TOKENS):]
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            chars, tf.range(len(encoding.RESERVED_TOKENS), len(VOCABULARY), dtype=tf.int64)),
            default_value=len(VOCABULARY))

    def __call__(self, features):
        names = tf.reshape(features[encoding.NAME_FEATURE], [-1])
        chars = tf.strings.unicode_split(names, "UTF-8")
        ids = tf.ragged.map_flat_values(self.table.lookup, chars)
        ids = tf.concat([ids, tf.fill([tf.shape(names)[0], 1], tf.constant(
            encoding.EON_ID, tf.int64))], axis=1)
        return {encoding.IDS_FEATURE: ids.to_tensor(encoding.PAD_ID,
                                                   shape=[None, encoding.SEQUENCE_LENGTH])}


def random_generator(seed: int, training_names: list[str]) -> NameGenerator:
    """A tiny model with seeded random weights, exported as the export builds it."""
    model = build_model(len(VOCABULARY) + encoding.NUM_OOV_BUCKETS,
                        configs.resolve("tiny"), VOCABULARY)
    for i, weight in enumerate(model.trainable_weights):
        weight.assign(tf.random.stateless_normal(weight.shape, [seed, i]) * 0.8)
    return NameGenerator(model, CharIds(), VOCABULARY, training_names)


@pytest.fixture(scope="module")
def generator() -> NameGenerator:
    return random_generator(9, ["ab", "ba"])


def sample(generator: NameGenerator, n: int, seeds=None, **values) -> list[str]:
    request = contract.generation_request(n, seeds=seeds if seeds is not None else list(range(n)),
                                          signature=contract.SAMPLE_SIGNATURE, **values)
    out = generator.sample(**{k: tf.constant(v) for k, v in request.items()})
    return [name.decode() for name in out["name"].numpy()]


# --- length calibration ---------------------------------------------------------------------
def test_calibration_moves_the_sampled_lengths_onto_the_datas(generator):
    """False-alarm rate under 1e-6: the fresh 4,000 samples' TV to their own distribution
    exceeds its mean by t with probability at most exp(-2 n t^2) (McDiarmid) = e^-20 at t = 0.05,
    and the raw model (it rarely stops: TV ~ 0.9) is far from the 0.15 bound."""
    real = [len(name) for name in name_lists.dinosaur_names()]
    seeds = list(range(10**6, 10**6 + 4000))  # not the fit's seeds
    before = [len(n) for n in sample(generator, 4000, seeds, eta=contract.SAMPLER["eta"],
                                     length_calibration=True)]
    raw_before = sample(generator, 4000, seeds, eta=contract.SAMPLER["eta"])
    generator.calibrate_lengths(name_lists.dinosaur_names())
    after = [len(n) for n in sample(generator, 4000, seeds, eta=contract.SAMPLER["eta"],
                                    length_calibration=True)]
    raw_after = sample(generator, 4000, seeds, eta=contract.SAMPLER["eta"])
    assert calibration.length_tv(before, real) > 0.5
    assert calibration.length_tv(after, real) < 0.15
    assert raw_after == raw_before  # length_calibration false is the raw model, whatever the bias


def test_calibration_never_touches_score(generator):
    names = tf.constant(["abc", "Bad", ""])
    first = generator.score(names)["log_likelihood"].numpy()
    generator.end_bias.assign(tf.fill([encoding.SEQUENCE_LENGTH], 5.0))
    try:
        assert np.array_equal(generator.score(names)["log_likelihood"].numpy(), first)
    finally:
        generator.end_bias.assign(tf.zeros([encoding.SEQUENCE_LENGTH]))


def test_correction_is_the_log_odds_gap_where_both_sides_are_measured():
    real = [3] * 100 + [4] * 100  # hazard at 3: 1/2
    sampled = [3] * 50 + [4] * 150  # hazard at 3: 1/4
    step, fitted, _ = calibration.correction(real, sampled)
    assert fitted[3] and not fitted[9]
    assert step[3] == pytest.approx(calibration.GAIN * np.log(3.0))
    assert step[0] == 0.0  # neither stops at 0: nothing to match


def test_end_of_name_bias_moves_its_log_odds_by_exactly_the_bias():
    log_probs = tf.math.log(tf.constant([[0.1, 0.2, 0.7]]))  # end-of-name is id 1
    shifted = sampling.calibrate_end_of_name(log_probs, tf.constant([2]),
                                             tf.constant([0.0, 0.0, 1.5]), tf.constant([True]))
    p = float(tf.exp(shifted)[0, encoding.EON_ID])
    assert np.log(p / (1 - p)) == pytest.approx(np.log(0.2 / 0.8) + 1.5, abs=1e-5)


# --- eta ----------------------------------------------------------------------------------------
def test_eta_drops_the_tail_by_entropy_and_keeps_the_top():
    probs = tf.constant([[0.9, 0.05, 0.04, 0.01], [0.25, 0.25, 0.25, 0.25]])
    kept = sampling.keep_eta(probs, tf.constant([0.02, 0.02])).numpy()
    assert kept[0].tolist() == pytest.approx([0.9, 0.05, 0.04, 0.0])  # peaked: 0.01 < 0.02
    assert kept[1].tolist() == pytest.approx([0.25] * 4)  # flat: nothing under the threshold
    assert sampling.keep_eta(probs, tf.constant([0.0, 0.0])).numpy() == pytest.approx(
        probs.numpy())  # 0 = off


# --- case calibration ----------------------------------------------------------------------
def test_case_transitions_keep_what_one_percent_of_the_names_make():
    names = ["Tyrannosaurus"] * 99 + ["AetonyxAfromimus"]  # a capital mid-name in 1% of them
    lower, upper, uncased, boundary = (calibration.LOWER, calibration.UPPER,
                                       calibration.UNCASED, calibration.BOUNDARY)
    assert calibration.case_transitions(names)[lower, upper]
    rare = calibration.case_transitions(["Tyrannosaurus"] * 101 + ["AetonyxAfromimus"])
    assert not rare[lower, upper]  # under 1%
    assert rare[boundary, upper] and not rare[boundary, lower] and rare[:, boundary].all()
    assert rare[uncased].all()  # no name continues from an uncased character: no rule there
    hyphens = calibration.case_transitions(["Ab"] * 1000 + ["A-b", "A-c"])
    assert hyphens[uncased, lower] and not hyphens[uncased, upper]  # its most common stays
    assert not hyphens[upper, uncased]
    assert calibration.case_class("Ά") == upper and calibration.case_class("ά") == lower


@pytest.fixture(scope="module")
def cased_generator() -> NameGenerator:
    """Random weights (they put capitals anywhere); training names all shaped "Abba"."""
    return random_generator(5, ["Ab", "Bab", "Abba", "Bad", "Ace"])


def _breaks_the_case_rule(name: str) -> bool:
    return bool(name) and (name[0].islower() or any(c.isupper() for c in name[1:]))


def test_calibration_samples_only_the_case_transitions_of_the_data(cased_generator):
    """Not statistical: a banned token has probability 0, so one breach fails (no false alarm);
    the raw model breaks the rule in most names, so the test has power."""
    seeds = list(range(2000))
    calibrated = sample(cased_generator, 2000, seeds, length_calibration=True)
    raw = sample(cased_generator, 2000, seeds)
    assert [n for n in calibrated if _breaks_the_case_rule(n)] == []
    assert sum(map(_breaks_the_case_rule, raw)) > 1000
    forced = sample(cased_generator, 50, prefix="aB", length_calibration=True)
    assert all(name.startswith("aB") for name in forced)  # a prefix is the client's, never banned


# --- unique ---------------------------------------------------------------------------------
SMALL_SPACE = dict(max_length=3, top_k=3)  # few possible names: plain sampling repeats them


def test_unique_returns_n_different_names_where_plain_sampling_repeats(generator):
    plain = sample(generator, 8, **SMALL_SPACE)
    assert len(set(plain)) < 8  # else this test could not fail
    distinct = sample(generator, 8, unique=True, **SMALL_SPACE)
    assert len(set(distinct)) == 8
    # first occurrences are kept: a row whose plain name is new keeps it
    firsts = [i for i, name in enumerate(plain) if name not in plain[:i]]
    assert [distinct[i] for i in firsts] == [plain[i] for i in firsts]


def test_unique_gives_a_request_the_same_names_in_any_batch(generator):
    alone = sample(generator, 8, seeds=list(range(40, 48)), unique=True, **SMALL_SPACE)
    before = contract.generation_columns(5, seeds=list(range(40, 45)),
                                         signature=contract.SAMPLE_SIGNATURE, unique=True,
                                         **SMALL_SPACE)
    ours = contract.generation_columns(8, seeds=list(range(40, 48)),
                                       signature=contract.SAMPLE_SIGNATURE, unique=True,
                                       **SMALL_SPACE)
    batch = {key: tf.constant(np.array(before[key] + ours[key] + before[key],
                                       dtype=tf.as_dtype(contract.INPUT_DTYPES[key])
                                       .as_numpy_dtype if key != "prefix" else object))
             for key in ours}
    names = [n.decode() for n in generator.sample(**batch)["name"].numpy()]
    assert names[5:13] == alone
    assert len(set(names[:5])) == 5 and names[:5] == names[13:]


def test_unique_rows_that_do_not_form_requests_are_invalid_argument(generator):
    with pytest.raises(tf.errors.InvalidArgumentError, match="unique must be 0, or n"):
        sample(generator, 2, unique=[3, 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match="unique must be 0, or n"):
        sample(generator, 3, unique=[2, 3, 3])
