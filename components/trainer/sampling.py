"""Token policies for the exported sampler: RNG, bans, length calibration, temperature, top-k,
eta, top-p, draw, and the per-request acceptance rules (no-copy, unique).

Each policy is a small function over a batch of rows with per-row controls, so it can be tested
alone with fixed logits; `NameGenerator` (export.py) runs the loop and composes them per step.
"""

from __future__ import annotations

import tensorflow as tf

from data import encoding

BANNED = -1e9  # added to a token's logit: it is never sampled, at any temperature
HASH_BUCKETS = 2**62  # fingerprint space for the training-name set (no-copy)

_GOLDEN = tf.constant(0x9E3779B97F4A7C15, tf.uint64)
_MIX1 = tf.constant(0xBF58476D1CE4E5B9, tf.uint64)
_MIX2 = tf.constant(0x94D049BB133111EB, tf.uint64)


def uniform_per_row(seed: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
    """A uniform in [0, 1) from (row seed, step) alone (splitmix64), so rows never interact."""
    x = tf.bitcast(seed, tf.uint64) * _GOLDEN + tf.cast(step + 1, tf.uint64) * _MIX1
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(30, tf.uint64))) * _MIX1
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(27, tf.uint64))) * _MIX2
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(31, tf.uint64)))
    top53 = tf.cast(tf.bitwise.right_shift(x, tf.constant(11, tf.uint64)), tf.float64)
    return tf.cast(top53 * (2.0**-53), tf.float32)


# --- bans: additive [batch or 1, vocab] terms ---------------------------------------------
def banned_ids(vocab_size: int, ids: list[int]) -> tf.Tensor:
    """A [vocab] ban for fixed ids (padding, out-of-vocabulary): BANNED there, 0 elsewhere."""
    return tf.constant([BANNED if i in ids else 0.0 for i in range(vocab_size)], tf.float32)


def min_length_ban(length: tf.Tensor, min_length: tf.Tensor, vocab_size: int) -> tf.Tensor:
    """[batch, vocab]: bans end-of-name in rows still shorter than their min_length."""
    end_of_name = tf.one_hot(encoding.EON_ID, vocab_size) * BANNED
    return tf.where((length < min_length)[:, None], end_of_name[None], 0.0)


def case_ban(previous: tf.Tensor, token_case: tf.Tensor, allowed: tf.Tensor,
             calibrated: tf.Tensor) -> tf.Tensor:
    """[batch, vocab]: in calibrated rows, bans each token whose case class may not follow the
    previous token's (allowed[previous class, next class], calibration.case_transitions)."""
    after_previous = tf.gather(allowed, tf.gather(token_case, previous))  # [batch, classes]
    permitted = tf.gather(after_previous, token_case, axis=1)  # [batch, vocab]
    return tf.where(calibrated[:, None] & ~permitted, BANNED, 0.0)


def calibrate_end_of_name(log_probs: tf.Tensor, length: tf.Tensor, end_bias: tf.Tensor,
                          calibrated: tf.Tensor) -> tf.Tensor:
    """Adds end_bias[length] to end-of-name's log-odds in calibrated rows, renormalized.

    end_bias is one logit per name length so far (the export fits it so that names stop as
    often as training names do at each length); uncalibrated rows are returned unchanged.
    """
    bias = tf.gather(end_bias, tf.minimum(length, tf.shape(end_bias)[0] - 1))
    bias = tf.where(calibrated, bias, 0.0)
    shifted = log_probs + tf.one_hot(encoding.EON_ID, tf.shape(log_probs)[-1]) * bias[:, None]
    return tf.where(calibrated[:, None], tf.nn.log_softmax(shifted), log_probs)


# --- the distribution ----------------------------------------------------------------------
def apply_temperature(log_probs: tf.Tensor, temperature: tf.Tensor) -> tf.Tensor:
    """log_probs / T per row; T = 0 (greedy) is clamped to 1e-6 here, callers take argmax."""
    return log_probs * (1.0 / tf.maximum(temperature, 1e-6))[:, None]


def keep_top_k(logits: tf.Tensor, top_k: tf.Tensor) -> tf.Tensor:
    """Bans every token below a row's k-th largest logit (ties at the k-th all stay); 0 = off."""
    vocab = tf.shape(logits)[-1]
    ranked = tf.sort(logits, direction="DESCENDING", axis=-1)
    kth = tf.gather(ranked, tf.clip_by_value(top_k - 1, 0, vocab - 1), batch_dims=1)
    return tf.where((top_k[:, None] > 0) & (logits < kth[:, None]), BANNED, logits)


def keep_top_p(probs: tf.Tensor, top_p: tf.Tensor) -> tf.Tensor:
    """Zeroes the tail outside the smallest top set holding top_p of the mass; 1 = off.

    Not renormalized: `draw` scales by each row's total.
    """
    ranked = tf.sort(probs, direction="DESCENDING", axis=-1)
    before = tf.cumsum(ranked, axis=-1, exclusive=True)
    keep = tf.reduce_sum(tf.cast(before < top_p[:, None], tf.int32), axis=-1)
    cutoff = tf.gather(ranked, tf.maximum(keep - 1, 0), batch_dims=1)
    # top_p 1 is off exactly: rounding in the cumsum never cuts a row's tail
    return tf.where((top_p[:, None] < 1.0) & (probs < cutoff[:, None]), 0.0, probs)


def keep_eta(probs: tf.Tensor, eta: tf.Tensor) -> tf.Tensor:
    """Eta sampling (Hewitt et al., 2022): zeroes tokens under min(eta, sqrt(eta) exp(-H)).

    H is the entropy of the row's distribution, so a flat row keeps more of its tail than a
    peaked one. The likeliest token always stays (exp(-H) <= its probability). 0 = off.
    Takes normalized probs; not renormalized.
    """
    entropy = -tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(probs), probs), axis=-1)
    threshold = tf.minimum(eta, tf.sqrt(eta) * tf.exp(-entropy))
    return tf.where((eta[:, None] > 0.0) & (probs < threshold[:, None]), 0.0, probs)


def _normalized(probs: tf.Tensor) -> tf.Tensor:
    return probs / tf.reduce_sum(probs, axis=-1, keepdims=True)


def next_token_probs(scaled: tf.Tensor, top_k: tf.Tensor, top_p: tf.Tensor,
                     truncating: tf.Tensor, eta: tf.Tensor | None = None) -> tf.Tensor:
    """softmax of the scaled logits, truncated by top-k, eta then top-p when any row asks."""
    eta = tf.zeros_like(top_p) if eta is None else eta
    return tf.cond(truncating,
                   lambda: keep_top_p(_normalized(keep_eta(tf.nn.softmax(keep_top_k(
                       scaled, top_k)), eta)), top_p),
                   lambda: tf.nn.softmax(scaled))


# --- choosing ---------------------------------------------------------------------------------
def draw(probs: tf.Tensor, uniform: tf.Tensor) -> tf.Tensor:
    """Inverse-CDF draw per row from (unnormalized) probs with a uniform in [0, 1)."""
    cumulative = tf.cumsum(probs, axis=-1)
    u = uniform[:, None] * cumulative[:, -1:]
    return tf.minimum(tf.reduce_sum(tf.cast(cumulative <= u, tf.int32), axis=-1),
                      tf.shape(probs)[-1] - 1)


def greedy(logits: tf.Tensor) -> tf.Tensor:
    """The most likely token per row (temperature 0)."""
    return tf.argmax(logits, axis=-1, output_type=tf.int32)


# --- no-copy ----------------------------------------------------------------------------------
def fingerprints(names: list[str]) -> tf.Tensor:
    """Sorted 64-bit fingerprints of a name set, for `is_in_set`."""
    return tf.sort(tf.strings.to_hash_bucket_fast(sorted(set(names)) or [""], HASH_BUCKETS))


def is_in_set(sorted_fingerprints: tf.Tensor, names: tf.Tensor) -> tf.Tensor:
    """Membership of each name in the fingerprinted set (binary search)."""
    keys = tf.strings.to_hash_bucket_fast(names, HASH_BUCKETS)
    found = tf.searchsorted(sorted_fingerprints, keys)
    found = tf.minimum(found, tf.size(sorted_fingerprints) - 1)
    return tf.gather(sorted_fingerprints, found) == keys


# --- unique: requests as groups of rows ---------------------------------------------------------
def request_groups(unique: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(group, well_formed): each row's group id (its request's first row) from `unique`.

    unique is 0 for a row on its own, or n in each of the n consecutive rows of a request
    whose names must all differ. well_formed is false when a request's rows disagree on n or
    the batch ends inside a request. Groups depend on the rows' own values only, so a request
    gets the same groups whatever is batched beside it.
    """
    def step(state, row):
        start, left, size, bad = state
        index, n = row
        continues = left > 0
        start = tf.where(continues, start, index)
        bad = bad | (continues & tf.not_equal(n, size))
        size = tf.where(continues, size, n)
        left = tf.where(continues, left - 1, tf.maximum(n, 1) - 1)
        return start, left, size, bad

    rows = tf.range(tf.shape(unique)[0])
    zero = tf.constant(0)
    starts, lefts, _, bads = tf.scan(step, (rows, unique),
                                     initializer=(zero, zero, zero, tf.constant(False)))
    ends_inside = tf.cond(tf.size(lefts) > 0, lambda: lefts[-1] > 0, lambda: tf.constant(False))
    return starts, ~(tf.reduce_any(bads) | ends_inside)


def name_keys(names: tf.Tensor) -> tf.Tensor:
    """64-bit fingerprints of names, for equality tests between rows."""
    return tf.strings.to_hash_bucket_fast(names, HASH_BUCKETS)


def repeats_earlier_row(keys: tf.Tensor, group: tf.Tensor,
                        candidates: tf.Tensor | None = None) -> tf.Tensor:
    """Per row: does an earlier row of its group hold the same key (among `candidates` rows)?"""
    rows = tf.range(tf.shape(keys)[0])
    same = ((group[:, None] == group[None, :]) & (keys[:, None] == keys[None, :])
            & (rows[None, :] < rows[:, None]))
    if candidates is not None:
        same &= candidates[None, :]
    return tf.reduce_any(same, axis=1)


def taken_in_group(candidate_keys: tf.Tensor, kept_keys: tf.Tensor, kept: tf.Tensor,
                   group: tf.Tensor) -> tf.Tensor:
    """Per row: is its candidate already a kept name of its group?"""
    same = ((group[:, None] == group[None, :])
            & (candidate_keys[:, None] == kept_keys[None, :]) & kept[None, :])
    return tf.reduce_any(same, axis=1)
