"""`namegen bench scale`: the generated name lists and the attribution of RSS samples."""

from __future__ import annotations

import pytest

from data import encoding
from namegen.bench import scale


@pytest.fixture(scope="module")
def pool() -> list[str]:
    return scale.name_pool()


def test_the_pool_is_faker_names_in_the_lists_alphabet(pool):
    assert len(pool) > 10_000  # every locale's Latin-script names, not one locale's
    assert pool == sorted(set(pool))
    assert all(scale.NAME_PATTERN.fullmatch(name) for name in pool)
    assert "Smith" in pool  # en_US last_names


def test_the_same_seed_makes_the_same_list(pool, tmp_path):
    first = scale.write_names(tmp_path / "a" / "names.txt", 2_000, seed=7)
    second = scale.write_names(tmp_path / "b" / "names.txt", 2_000, seed=7)
    assert first.read_bytes() == second.read_bytes()
    assert scale.scale_names(2_000, seed=8, pool=pool) != scale.scale_names(2_000, 7, pool)


def test_the_list_has_the_asked_count_of_distinct_names_in_format(pool, tmp_path):
    path = scale.write_names(tmp_path / "names.txt", 3_000, seed=1)
    lines = path.read_text().split("\n")
    assert lines[-1] == ""  # one name per line, newline-terminated
    names = lines[:-1]
    assert len(names) == 3_000 == len(set(names))
    assert all(1 <= len(n) <= encoding.MAX_NAME_LENGTH for n in names)
    assert all(scale.NAME_PATTERN.fullmatch(n) for n in names)
    assert sum(n in set(pool) for n in names) >= int(3_000 * scale.SINGLE_FRACTION)
    known = set(pool)

    def is_pair(name: str) -> bool:  # pool names may hold a hyphen themselves
        cuts = [i for i, char in enumerate(name) if char == "-"]
        return any(name[:i] in known and name[i + 1:] in known for i in cuts)

    assert all(n in known or is_pair(n) for n in names)
    assert not list(tmp_path.glob("*.partial"))


def test_more_names_than_pairs_is_a_clear_error():
    with pytest.raises(ValueError, match="too few pairs"):
        scale.scale_names(10, seed=0, pool=["Ann", "Bo"])
    with pytest.raises(ValueError, match="count must be"):
        scale.scale_names(-1, seed=0, pool=["Ann", "Bo"])


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
