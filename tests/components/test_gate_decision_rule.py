"""decide(): the gate's rule on metrics alone (unit).

The gate in pipeline runs: tests/e2e/test_gate_across_pipeline_runs.py.
"""

from __future__ import annotations

from components.evaluator.component import decide
from pipeline import configs

GATE = dict(configs.GATE, max_nats_per_char=2.0, max_regression=0.02, min_validity=0.99)


def metrics(nats: float, validity: float = 1.0, version: int | None = None) -> dict:
    """Loss and validity as given; samples exactly as far from real names as real names are."""
    values = {"eval_nats_per_char": nats, "validity": validity, "novelty": 0.9,
              "copy_rate": 0.0, "length_tv_distance": 0.08, "length_tv_distance_floor": 0.08,
              "reverse_score": 1.8, "reverse_score_floor": 1.8, "length_tv_noise": 0.1,
              "copy_rate_reference": 0.05, "copy_rate_reference_stderr": 0.007,
              "copy_rate_reference_model": "kneser-ney n=4 D=0.8"}
    return values if version is None else dict(values, version=version)


def test_first_model_under_the_ceiling_is_blessed():
    blessed, reason = decide(metrics(1.9), None, GATE)
    assert blessed and "no served model to compare with" in reason


def test_at_or_over_the_ceiling_is_rejected():
    for nats in (2.0, 2.5, float("nan")):
        blessed, reason = decide(metrics(nats), None, GATE)
        assert not blessed and "not under the ceiling" in reason


def test_regression_within_the_allowance_is_blessed_beyond_it_rejected():
    baseline = metrics(1.50, version=7)
    assert decide(metrics(1.515), baseline, GATE)[0]
    blessed, reason = decide(metrics(1.53), baseline, GATE)
    assert not blessed and "worse than served version 7's 1.5000" in reason


def test_low_validity_is_rejected_and_every_reason_is_given():
    blessed, reason = decide(metrics(2.4, validity=0.5), metrics(1.5), GATE)
    assert not blessed
    assert reason.count(";") == 2 and "validity 50.0% is under 99%" in reason
