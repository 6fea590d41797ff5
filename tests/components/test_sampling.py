"""The sampler's token policies on fixed logits, and its draws against softmax(logits / T).

Statistical tests: each chi-square test rejects a correct sampler with probability ALPHA
(0.1%) for a random seed. With the default seed base the draws are fixed, so the outcome is
too; NAMEGEN_FUZZ_SEED=random (or an integer) draws fresh seeds, printed on failure.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from scipy import stats

from components.trainer import sampling
from components.trainer.export import NameGenerator
from components.trainer.model import build_model
from data import encoding
from pipeline import configs

ALPHA = 1e-3  # false-alarm rate of each chi-square test
DRAWS = 20_000


def rows(*values, dtype=tf.float32) -> tf.Tensor:
    return tf.constant(values, dtype)


# --- one policy at a time, fixed logits --------------------------------------------------------
def test_temperature_divides_log_probs():
    log_probs = np.log([[0.5, 0.25, 0.25]])
    scaled = sampling.apply_temperature(tf.constant(log_probs, tf.float32), rows(2.0))
    # softmax(log p / 2) is sqrt(p) renormalized
    expected = np.sqrt([0.5, 0.25, 0.25]) / np.sqrt([0.5, 0.25, 0.25]).sum()
    np.testing.assert_allclose(tf.nn.softmax(scaled)[0], expected, rtol=1e-6)


def test_temperature_zero_stays_finite():
    scaled = sampling.apply_temperature(tf.constant([[-1.0, -2.0]]), rows(0.0))
    assert np.isfinite(scaled.numpy()).all() and scaled.numpy()[0, 0] > scaled.numpy()[0, 1]


def test_top_k_bans_all_but_the_k_largest_and_zero_is_off():
    logits = tf.constant([[1.0, 3.0, 2.0, 0.0]] * 3)
    kept = sampling.keep_top_k(logits, rows(2, 0, 9, dtype=tf.int32)).numpy()
    b = sampling.BANNED
    assert kept.tolist() == [[b, 3.0, 2.0, b], [1.0, 3.0, 2.0, 0.0], [1.0, 3.0, 2.0, 0.0]]


def test_top_k_keeps_ties_at_the_kth_logit():
    kept = sampling.keep_top_k(tf.constant([[2.0, 1.0, 2.0]]), rows(1, dtype=tf.int32))
    assert kept.numpy().tolist() == [[2.0, sampling.BANNED, 2.0]]


@pytest.mark.parametrize("top_p,expected", [
    (1.0, [0.5, 0.3, 0.15, 0.05]),  # off
    (0.81, [0.5, 0.3, 0.15, 0.0]),  # .5 + .3 < .81: the third is needed
    (0.79, [0.5, 0.3, 0.0, 0.0]),
    (0.4, [0.5, 0.0, 0.0, 0.0]),  # the top token alone holds enough
    (1e-6, [0.5, 0.0, 0.0, 0.0]),
])
def test_top_p_keeps_the_smallest_top_set_holding_p(top_p, expected):
    probs = tf.constant([[0.15, 0.5, 0.05, 0.3]])
    kept = sampling.keep_top_p(probs, rows(top_p)).numpy()[0]
    order = [1, 3, 0, 2]  # the same probabilities, ranked
    np.testing.assert_allclose(kept[order], expected, rtol=1e-6)


@pytest.mark.parametrize("uniform,token", [
    (0.0, 0), (0.19, 0), (0.2, 1), (0.49, 1), (0.5, 2), (0.999, 2),
])
def test_draw_inverts_the_cumulative_distribution(uniform, token):
    probs = tf.constant([[0.2, 0.3, 0.5]])
    assert sampling.draw(probs, rows(uniform)).numpy().tolist() == [token]


def test_draw_never_picks_a_zero_probability_token_even_unnormalized():
    probs = tf.constant([[0.0, 0.25, 0.0, 0.25, 0.0]] * 5)  # total 0.5: draw scales by it
    drawn = sampling.draw(probs, rows(0.0, 0.3, 0.499, 0.5, 0.9999)).numpy()
    assert drawn.tolist() == [1, 1, 1, 3, 3]


def test_min_length_bans_end_of_name_only_in_short_rows():
    ban = sampling.min_length_ban(rows(0, 3, 5, dtype=tf.int32), rows(4, 4, 4, dtype=tf.int32),
                                  vocab_size=4).numpy()
    expected = np.zeros([3, 4])
    expected[:2, encoding.EON_ID] = sampling.BANNED
    np.testing.assert_array_equal(ban, expected)


def test_banned_ids_are_never_drawn_at_any_temperature():
    log_probs = tf.math.log(tf.constant([[0.97, 0.01, 0.01, 0.01]] * 4))
    banned = sampling.banned_ids(4, [0])
    for temperature in (0.1, 1.0, 50.0):
        scaled = sampling.apply_temperature(log_probs, rows(*[temperature] * 4)) + banned
        drawn = sampling.draw(tf.nn.softmax(scaled), rows(0.0, 0.2, 0.6, 0.999999))
        assert 0 not in drawn.numpy().tolist()


def test_greedy_is_the_argmax():
    assert sampling.greedy(tf.constant([[0.1, 2.0, -1.0], [5.0, 0.0, 4.0]])).numpy().tolist() \
        == [1, 0]


def test_no_copy_membership():
    table = sampling.fingerprints(["Rex", "Ann", "Rex"])
    found = sampling.is_in_set(table, tf.constant(["Ann", "Bob", "Rex", "", "rex"]))
    assert found.numpy().tolist() == [True, False, True, False, False]


@pytest.mark.parametrize("truncate", [{"top_k": 1}, {"top_p": 1e-6}])
def test_top_k_one_and_tiny_top_p_equal_greedy_for_any_uniform(truncate):
    logits = tf.random.stateless_normal([64, 12], [3, 4]) * 3.0
    top_k = tf.fill([64], truncate.get("top_k", 0))
    top_p = tf.fill([64], truncate.get("top_p", 1.0))
    for uniform in (0.0, 0.37, 0.999999):
        probs = sampling.next_token_probs(logits, top_k, top_p, tf.constant(True))
        drawn = sampling.draw(probs, tf.fill([64], uniform))
        assert drawn.numpy().tolist() == sampling.greedy(logits).numpy().tolist()


# --- the whole sampler: a NameGenerator with random weights, no pipeline needed ----------------
VOCABULARY = list(encoding.RESERVED_TOKENS) + list("abcdeAB")


@pytest.fixture(scope="module")
def generator() -> tuple[NameGenerator, np.ndarray]:
    """A sampler with random weights, and its model's first-step log-probabilities."""
    model = build_model(len(VOCABULARY) + encoding.NUM_OOV_BUCKETS,
                        configs.resolve("tiny"), VOCABULARY)
    for i, weight in enumerate(model.trainable_weights):
        weight.assign(tf.random.stateless_normal(weight.shape, [9, i]) * 0.8)
    logits = model(tf.constant([[encoding.EON_ID]])).numpy()[0, 0].astype(np.float64)
    return NameGenerator(model, None, VOCABULARY, ["ab"]), logits


def first_tokens(generator: NameGenerator, n: int, seed_base: int, **controls) -> np.ndarray:
    """The sampler's first token for n rows (seeds seed_base..): ids, end-of-name included."""
    values = dict(temperature=1.0, top_k=0, top_p=1.0, min_length=0)
    values.update(controls)
    out = generator._sample(
        tf.zeros([n, encoding.SEQUENCE_LENGTH], tf.int32), tf.zeros([n], tf.int32),
        tf.range(seed_base, seed_base + n, dtype=tf.int64),
        tf.fill([n], float(values["temperature"])), tf.fill([n], values["top_k"]),
        tf.fill([n], float(values["top_p"])), tf.fill([n], values["min_length"]),
        limit=tf.fill([n], 1))
    index = {c: i for i, c in enumerate(VOCABULARY)}
    return np.array([index[name.decode()] if name else encoding.EON_ID
                     for name in out["name"].numpy()])


def expected_distribution(logits: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) over the tokens the sampler may emit (not padding nor OOV)."""
    allowed = np.zeros_like(logits, bool)
    allowed[encoding.EON_ID:len(VOCABULARY)] = True
    allowed[encoding.PAD_ID] = False
    z = np.where(allowed, logits / temperature, -np.inf)
    p = np.exp(z - z.max())
    return p / p.sum()


def chi_square_p_value(tokens: np.ndarray, expected: np.ndarray) -> float:
    support = expected > 0
    assert np.isin(tokens, np.flatnonzero(support)).all(), "drew a token of probability 0"
    observed = np.bincount(tokens, minlength=len(expected))[support]
    return stats.chisquare(observed, expected[support] * len(tokens)).pvalue


@pytest.mark.parametrize("temperature", [1.0, 0.6, 1.8])
def test_first_draws_follow_softmax_of_logits_over_t(generator, fuzz_seed, temperature):
    sampler, logits = generator
    tokens = first_tokens(sampler, DRAWS, fuzz_seed * DRAWS, temperature=temperature)
    p_value = chi_square_p_value(tokens, expected_distribution(logits, temperature))
    assert p_value > ALPHA, f"seed base {fuzz_seed}: p = {p_value:.2e}"


def test_the_chi_square_test_rejects_the_wrong_temperature(generator, fuzz_seed):
    """Power check: draws at T = 0.6 are not softmax(logits / 1)."""
    sampler, logits = generator
    tokens = first_tokens(sampler, DRAWS, fuzz_seed * DRAWS, temperature=0.6)
    assert chi_square_p_value(tokens, expected_distribution(logits, 1.0)) < ALPHA


def test_top_k_draws_follow_the_renormalized_top_k(generator, fuzz_seed):
    sampler, logits = generator
    expected = expected_distribution(logits, 1.0)
    expected[expected < np.sort(expected)[-3]] = 0.0
    tokens = first_tokens(sampler, DRAWS, fuzz_seed * DRAWS + 7, top_k=3)
    p_value = chi_square_p_value(tokens, expected / expected.sum())
    assert p_value > ALPHA, f"seed base {fuzz_seed}: p = {p_value:.2e}"


@pytest.mark.parametrize("truncate", [{"top_k": 1}, {"top_p": 1e-6}])
def test_whole_names_with_top_k_one_or_tiny_top_p_equal_greedy(generator, truncate):
    sampler, _ = generator
    n = 32
    common = dict(prefix_ids=tf.zeros([n, encoding.SEQUENCE_LENGTH], tf.int32),
                  prefix_lengths=tf.zeros([n], tf.int32),
                  seed=tf.range(n, dtype=tf.int64), min_length=tf.fill([n], 0),
                  limit=tf.fill([n], encoding.MAX_NAME_LENGTH))
    greedy = sampler._sample(temperature=tf.fill([n], 0.0), top_k=tf.fill([n], 0),
                             top_p=tf.fill([n], 1.0), **common)
    truncated = sampler._sample(temperature=tf.fill([n], 1.0),
                                top_k=tf.fill([n], truncate.get("top_k", 0)),
                                top_p=tf.fill([n], truncate.get("top_p", 1.0)), **common)
    assert truncated["name"].numpy().tolist() == greedy["name"].numpy().tolist()
    assert len(set(greedy["name"].numpy().tolist())) == 1
