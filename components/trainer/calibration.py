"""The served sampler calibrated to the training names, at export: lengths and case.

Both apply only where a request asks for `length_calibration` (the default sampler does); the
model's likelihood stays honest (`score` never sees them).

Length: one end-of-name logit bias per length. The *sampler* should stop a
name as often as real names stop: at each length L, the real stopping hazard is
h(L) = #names of length L / #names of length >= L. We sample with the served settings, measure
the sampler's hazard the same way, and move the bias at L by the difference of their log-odds
(adding b to one logit moves its log-odds by exactly b). A few rounds converge, because the
hazard at L depends on the bias at L far more than on the biases before it.

Case: the case transitions the names make (start -> upper, lower -> lower, ...). A transition
that fewer than 1% of the training names make (a capital mid-name in "TensHonosaurus") is not
sampled; from each case its most common transition always stays, and ending a name always
may. Counted from the data, so a list where "McKenzie" shapes are common keeps them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from data import encoding

ROUNDS = 6
SAMPLES = 8192  # names sampled per round
MIN_AT_RISK = 40  # a length is corrected only where this many real and sampled names reach it
MAX_STEP = 3.0  # largest change of one bias in one round (log-odds)
GAIN = 1.5  # over-relaxation: a mixed batch of rows moves less than its log-odds shift
MAX_BIAS = 8.0
CLIP = 1e-4  # hazards are clipped to [CLIP, 1 - CLIP]: no infinite log-odds
SEED_BASE = 7_000_000_000  # sampling seeds of the fit, away from the small seeds users pick


def hazards(lengths: Sequence[int], size: int = encoding.SEQUENCE_LENGTH
            ) -> tuple[np.ndarray, np.ndarray]:
    """(hazard, at_risk) per length: the share of names reaching length L that stop there."""
    stops = np.bincount(np.asarray(lengths, np.int64), minlength=size)[:size].astype(float)
    at_risk = np.cumsum(stops[::-1])[::-1]
    return np.clip(stops / np.maximum(at_risk, 1.0), CLIP, 1 - CLIP), at_risk


def _log_odds(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def correction(real_lengths: Sequence[int], sampled_lengths: Sequence[int]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step, fitted, real_at_risk): the change of each length's bias that moves the sampled
    hazard onto the real one, where it was measured, and how many real names reach it."""
    real, real_at_risk = hazards(real_lengths)
    sampled, sampled_at_risk = hazards(sampled_lengths)
    # Where neither stops, there is nothing to match (both hazards are the clip).
    step = np.clip(GAIN * (_log_odds(real) - _log_odds(sampled)), -MAX_STEP, MAX_STEP)
    # Past the longest real name every sampled name should stop.
    beyond = (real_at_risk == 0) & (sampled_at_risk > 0)
    fitted = (real_at_risk >= MIN_AT_RISK) & (sampled_at_risk >= MIN_AT_RISK)
    return np.where(fitted, step, np.where(beyond, MAX_STEP, 0.0)), fitted, real_at_risk


def fit(sample_lengths: Callable[[np.ndarray, int], np.ndarray], real_lengths: Sequence[int],
        rounds: int = ROUNDS) -> tuple[np.ndarray, list[dict]]:
    """The bias per length, and each round's length TV to the real lengths.

    sample_lengths(bias, round) returns the lengths of SAMPLES names sampled with `bias`.
    """
    bias = np.zeros(encoding.SEQUENCE_LENGTH)
    history = []
    for round_ in range(rounds + 1):
        lengths = sample_lengths(bias, round_)
        history.append({"round": round_, "length_tv": length_tv(lengths, real_lengths)})
        if round_ == rounds:
            break
        step, fitted, real_at_risk = correction(real_lengths, lengths)
        bias = np.clip(bias + step, -MAX_BIAS, MAX_BIAS)
        bias = _carry_forward(bias, fitted, real_at_risk)
    return bias, history


def _carry_forward(bias: np.ndarray, fitted: np.ndarray, real_at_risk: np.ndarray
                   ) -> np.ndarray:
    """Lengths past the last measured one that real names still reach (too few to measure)
    take the last measured length's bias."""
    if not fitted.any():
        return bias
    last = int(np.flatnonzero(fitted)[-1])
    tail = (np.arange(len(bias)) > last) & (real_at_risk > 0)
    return np.where(tail, bias[last], bias)


# --- case ----------------------------------------------------------------------------------
# A token's case class. BOUNDARY is the start of a name as the previous token, and end-of-name
# (or any special token) as the next one: ending is never banned.
BOUNDARY, UNCASED, LOWER, UPPER = range(4)
CASE_NAMES = ("boundary", "uncased", "lower", "upper")
CASE_CLASSES = len(CASE_NAMES)
MIN_CASE_SHARE = 0.01  # a transition is kept if this share of the names make it (casing_fit's 1%)


def case_class(character: str) -> int:
    """UPPER, LOWER or UNCASED (digits, punctuation, scripts without case)."""
    return UPPER if character.isupper() else LOWER if character.islower() else UNCASED


def case_transitions(names: Sequence[str], min_share: float = MIN_CASE_SHARE) -> np.ndarray:
    """allowed[previous class, next class] (bool, CASE_CLASSES x CASE_CLASSES).

    Kept: every transition at least min_share of the names make, each class's most common one
    (no class is a dead end), ending (next BOUNDARY), and everything after a class no name
    continues from (a prefix may force one: no rule there).
    """
    made = np.zeros((CASE_CLASSES, CASE_CLASSES))
    for name in names:
        classes = [BOUNDARY] + [case_class(c) for c in name]
        for pair in set(zip(classes, classes[1:])):
            made[pair] += 1
    allowed = made >= min_share * max(len(names), 1)
    seen = made.any(axis=1)
    allowed[seen, made.argmax(axis=1)[seen]] = True
    allowed[~seen] = True
    allowed[:, BOUNDARY] = True
    return allowed


def length_tv(a: Sequence[int], b: Sequence[int]) -> float:
    """Total-variation distance between two length histograms."""
    size = max(max(a, default=0), max(b, default=0)) + 1
    pa = np.bincount(np.asarray(a, np.int64), minlength=size) / max(len(a), 1)
    pb = np.bincount(np.asarray(b, np.int64), minlength=size) / max(len(b), 1)
    return float(0.5 * np.abs(pa - pb).sum())
