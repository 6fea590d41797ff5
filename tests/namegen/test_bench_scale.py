"""`namegen bench scale`: the attribution of RSS samples (its name lists: tests/data/)."""

from __future__ import annotations

import pytest

from namegen.bench import scale


def test_each_component_gets_the_peak_of_the_samples_taken_while_it_ran():
    samples = [(0.0, 100), (1.0, 500), (2.0, 300), (3.0, 900), (4.0, 200), (5.0, 50)]
    intervals = [
        {"component": "ExampleGen", "start": 0.5, "end": 2.0},  # 1.0 and 2.0 (end included)
        {"component": "Transform", "start": 2.5, "end": 4.5},  # 3.0 and 4.0
        {"component": "Pusher", "start": 4.2, "end": 4.3},  # no sample: 4.0 and 5.0 bracket
    ]
    rows = scale.attribute_peaks(samples, intervals)
    assert [r["peak"] for r in rows] == [500, 900, 200]
    assert [r["samples"] for r in rows] == [2, 2, 0]
    assert [r["bracketed"] for r in rows] == [False, False, True]
    assert rows[0]["component"] == "ExampleGen" and rows[0]["start"] == 0.5


def test_a_sample_counts_for_every_overlapping_component_and_order_does_not_matter():
    samples = [(2.0, 700), (1.0, 100), (3.0, 50)]
    intervals = [{"component": "A", "start": 0.0, "end": 2.0},
                 {"component": "B", "start": 2.0, "end": 3.0}]
    assert [r["peak"] for r in scale.attribute_peaks(samples, intervals)] == [700, 700]


def test_an_interval_with_no_samples_anywhere_has_no_peak():
    rows = scale.attribute_peaks([], [{"component": "A", "start": 0.0, "end": 1.0}])
    assert rows[0]["peak"] is None and rows[0]["bracketed"]
    before_only = scale.attribute_peaks([(0.0, 5)], [{"component": "A", "start": 1, "end": 2}])
    assert before_only[0]["peak"] == 5


def test_the_verdicts_follow_the_targets():
    def row(names, chars, epoch, teacher, rss):
        return {"names": names, "exit_code": 0, "train_characters": chars,
                "epoch_seconds": epoch, "teacher_seconds": teacher, "peak_rss": rss}

    rows = [row(10, 1_000, 2.0, 0.1, 2**30), row(100, 10_000, 20.0, 3.0, 7 * 2**30)]
    verdicts = scale.verdicts(rows)
    assert verdicts["peak_rss_le_6gib"] == {"10": True, "100": False}
    assert verdicts["teacher_le_10pct"] == {"10": True, "100": False}
    assert verdicts["epoch_time_exponent"] == pytest.approx(1.0)
