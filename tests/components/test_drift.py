"""DriftCheck's comparisons: TFDV's own drift and skew comparators on derived name features."""

from __future__ import annotations

import random
import zlib

import pytest

from components.validation import drift
from pipeline import configs


@pytest.fixture(scope="module")
def dinos(dinos_path) -> list[str]:
    return dinos_path.read_text(encoding="utf-8").split()


def resample(names: list[str], seed: int, share: float = 0.85) -> list[str]:
    return random.Random(seed).sample(names, int(share * len(names)))


def split(names: list[str]) -> tuple[list[str], list[str]]:
    """Train and eval as ExampleGen splits them: a 9:1 hash of the name."""
    train = [n for n in names if zlib.crc32(n.encode()) % 10]
    return train, [n for n in names if not zlib.crc32(n.encode()) % 10]


def blocking(found) -> dict[str, list[str]]:
    return {kind: sorted(a.anomaly_info) + (["dataset"] if a.HasField("dataset_anomaly_info")
                                            else [])
            for kind, a in found.items()}


def test_two_days_of_the_same_source_pass(dinos):
    today = resample(dinos, 2)
    found, summary = drift.compare(today, *split(today), resample(dinos, 1), configs.DRIFT)
    assert blocking(found) == {"drift": [], "skew": []}
    assert set(summary["drift"]) == {drift.CHARACTERS, drift.LENGTH}


def test_truncated_names_drift_in_length(dinos):
    today = [n[:3] if i % 2 else n for i, n in enumerate(resample(dinos, 3))]
    found, summary = drift.compare(today, *split(today), resample(dinos, 1), configs.DRIFT)
    assert drift.LENGTH in blocking(found)["drift"]
    value, threshold = summary["drift"][drift.LENGTH]["JENSEN_SHANNON_DIVERGENCE"]
    assert value > threshold
    info = found["drift"].anomaly_info[drift.LENGTH]
    assert info.short_description.startswith(
        "compared with the previous span: the name-length distribution")


def test_a_list_in_another_script_drifts_in_characters(dinos):
    shift = {c: chr(ord(c.lower()) - ord("a") + 0x430) for c in "abcdefghijklmnopqrstuvwxyz"}
    cyrillic = ["".join(shift.get(c.lower(), c) for c in n) for n in resample(dinos, 4)]
    found, summary = drift.compare(cyrillic, *split(cyrillic), resample(dinos, 1),
                                   configs.DRIFT)
    assert drift.CHARACTERS in blocking(found)["drift"]
    character, before, after = summary["character_changes"][0]
    assert abs(after - before) > 0.05, character


def test_a_list_a_third_the_size_drifts_in_count(dinos):
    today = resample(dinos, 5, share=0.25)
    found, _ = drift.compare(today, *split(today), resample(dinos, 1), configs.DRIFT)
    assert "dataset" in blocking(found)["drift"]
    assert "the number of names" in found["drift"].dataset_anomaly_info.description


def test_an_eval_split_in_another_script_is_skew(dinos):
    train, evaluation = split(dinos)
    evaluation = [n.upper() for n in evaluation]
    found, _ = drift.compare(train + evaluation, train, evaluation, None, configs.DRIFT)
    assert drift.CHARACTERS in blocking(found)["skew"]
    assert "drift" not in found  # no previous span: drift is not checked


def test_noise_floor_grows_for_small_samples():
    small = drift.noise_floor(["abcdefg"] * 20, ["abcdefg"] * 20)
    large = drift.noise_floor(["abcdefg"] * 2000, ["abcdefg"] * 2000)
    assert small[0] > large[0] and small[1] > large[1]
    assert large[0] < configs.DRIFT["char_drift"] and large[1] < configs.DRIFT["length_drift"]
