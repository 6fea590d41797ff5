"""The quality bench's pieces that need no training: name lists, metrics, table, CLI hook."""

from __future__ import annotations

import pytest

from components.evaluator.component import case_shape, casing_fit
from data import name_lists
from namegen import cli
from namegen.bench import quality


def test_name_lists_differ_in_alphabet_and_size():
    greek, english = name_lists.greek_names(), name_lists.english_first_names()
    assert 1500 < len(greek) < 4000 and 400 < len(english) < 1500
    assert all("\u0370" <= ch <= "\u03ff" or "\u1f00" <= ch <= "\u1fff" for ch in "".join(greek))
    assert set("".join(english)) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'-")
    assert len(set(greek)) == len(greek) and len(set(english)) == len(english)


def test_full_names_are_distinct_reproducible_and_sized():
    names = name_lists.full_names(5000, seed=1)
    assert len(names) == len(set(names)) == 5000
    assert names == name_lists.full_names(5000, seed=1)
    assert all(len(name.split(" ")) == 2 for name in names)


def test_sample_metrics():
    metrics = quality.sample_metrics(["Ab", "Cd", "", "x" * 40], train=["Ab"], evaluation=["Zz"])
    assert metrics["copy_rate"] == 0.25 and metrics["novelty"] == 0.75
    assert metrics["validity"] == 0.5  # the empty name and the over-long one are invalid
    # lengths 2,2,0,40 vs the reference (rest of train + eval = ["Zz"]: train's one name is
    # drawn as the real sample)
    assert metrics["length_tv_distance"] == pytest.approx(0.5)
    assert metrics["length_tv_distance_floor"] == 0.0  # "Ab" vs "Zz": same length
    assert metrics["copy_rate_floor"] == 0.0
    assert metrics["casing"] == 0.5  # "x..." and "" are not capitalised like "Ab"


def test_casing_compares_capitalisation_shapes_with_the_training_names():
    assert [case_shape(n) for n in ("Tyrannosaurus", "AetonyxAfromimus", "Ann Lee", "ab")] == [
        "Ul", "UlUl", "Ul_Ul", "l"]
    train = ["Tyrannosaurus", "Jane Doe"]
    assert casing_fit(["Brontosaurus", "Mary Ann", "KotEtracephale", "rex"], train) == 0.5
    dinos = ["Tyrannosaurus"] * 200 + ["AetonyxAfromimus"]  # one stray shape in 201 names
    assert casing_fit(["Brontosaurus", "KotEtracephale"], dinos) == 0.5


def test_aggregate_and_table():
    runs = [{"eval_nats_per_char": v, "train_seconds": 10.0, "parameters": 5, "novelty": 0.9,
             "copy_rate": c, "validity": 1.0, "length_tv_distance": 0.1, "reverse_score": 2.0,
             "length_tv_distance_floor": 0.08, "copy_rate_floor": 0.0,
             "reverse_score_floor": 1.9} for v, c in ((1.6, 0.1), (1.7, 0.2))]
    row = quality.with_bits(quality.aggregate(runs))
    assert row["eval_nats_per_char"] == pytest.approx(1.65)
    assert row["eval_nats_per_char_std"] == pytest.approx(0.0707, abs=1e-4)
    assert row["bits_per_char"] == pytest.approx(1.65 / 0.693147, rel=1e-5)
    rows = {"default": row}
    rows[quality.FLOOR_ROW] = quality.floor_row(rows)
    text = quality.table({"rows": rows})
    assert "| default | 0.100 ± 0.000 | 15.0% ± 7.1% | 2.000 ± 0.000 | - |" in text
    assert "| 1.650 ± 0.071 | 2.380 ± 0.102 | 10 ± 0 | 5 |" in text
    assert "| real names (floor) | 0.080 | 0.0% | 1.900 | - |" in text


def test_the_registry_adds_quality_to_the_bench_group():
    parser = cli.build_parser()
    args = parser.parse_args(["bench", "quality", "--quick", "--dataset", "greek", "--seeds", "1",
                              "--presets", "default", "--set", "ngram_teacher=0.3"])
    assert args.func is quality.cmd_quality and args.quick and args.dataset == ["greek"]
    assert args.presets == ["default"] and args.set == [("ngram_teacher", "0.3")]
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "quality", "--set", "no_such_knob=1"])
