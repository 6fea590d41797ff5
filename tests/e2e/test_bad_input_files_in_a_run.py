"""Bad input files in a run: each either trains correctly or stops with a message, and nothing
is pushed."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from components.example_gen.executor import IngestError
from components.validation.component import DataValidationError
from data import encoding
from pipeline import configs
from tests.conftest import run_pipeline

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bad"


TINY = configs.hyperparameters("tiny", {"epochs": 1})


ANY_QUALITY = dict(configs.GATE, max_nats_per_char=10.0, min_validity=0.0,  # data, not quality
                   max_length_tv_over_noise=1.0, max_reverse_score_over_floor=100.0,
                   copy_rate_sigmas=1e9)



def pushed_versions(run_root: Path) -> list[str]:
    base = run_root / "serving" / encoding.MODEL_NAME
    return sorted(p.name for p in base.iterdir() if p.name.isdigit()) if base.exists() else []



@pytest.mark.slow  # runs the pipeline
@pytest.mark.parametrize("fixture, message", [
    ("empty.txt", r"no names found: 0 lines"),
    ("blank_lines.txt", r"no names found: 6 lines, 6 blank"),
    ("binary.bin", r"binary\.bin, line 1: not valid UTF-8"),
    ("long_line.txt", r"no names found: 1 lines, 0 blank, 1 longer than 32 characters"),
])
def test_unusable_files_stop_in_example_gen(tmp_path, fixture, message):
    with pytest.raises(IngestError, match=message):
        run_pipeline(FIXTURES / fixture, tmp_path, TINY)
    assert pushed_versions(tmp_path) == []



def cyrillic_half(dinos: Path, out: Path) -> Path:
    """The dinosaur list followed by as many Cyrillic pseudo-names built from the fixture."""
    dinos_names = dinos.read_text().split()
    base = (FIXTURES / "cyrillic_names.txt").read_text().split()
    made = [a[:3] + b[-4:] for a, b in itertools.product(base, base) if a != b]
    out.write_text("\n".join(dinos_names + made[: len(dinos_names)]) + "\n")
    return out



@pytest.mark.slow  # runs the pipeline
def test_second_half_in_another_script_trains(tmp_path, dinos_path):
    data = cyrillic_half(dinos_path, tmp_path / "mixed.txt")
    run_pipeline(data, tmp_path / "run", TINY, gate=ANY_QUALITY)
    assert pushed_versions(tmp_path / "run") == ["1"]



@pytest.mark.slow  # runs the pipeline
def test_allowed_characters_rule_stops_before_training(tmp_path, dinos_path):
    data = cyrillic_half(dinos_path, tmp_path / "mixed.txt")
    latin = "".join(sorted(set(dinos_path.read_text()) - {"\n"}))
    rules = dict(configs.VALIDATION, allowed_characters=latin)
    with pytest.raises(DataValidationError) as error:
        run_pipeline(data, tmp_path / "run", TINY, validation=rules)
    message = str(error.value)
    assert re.search(r"\[train\] NameValidator: character_not_allowed: .* \(\d+ names, e\.g\.",
                     message)
    assert "[eval] NameValidator: character_not_allowed" in message
    assert pushed_versions(tmp_path / "run") == []
    assert not (tmp_path / "run" / "pipeline" / "Trainer").exists()
    assert (tmp_path / "run" / "pipeline" / "StatisticsGen").exists()



@pytest.mark.slow  # runs the pipeline
def test_lowercased_names_train(tmp_path, dinos_path):
    data = tmp_path / "lower.txt"
    data.write_text(dinos_path.read_text().lower())
    run_pipeline(data, tmp_path / "run", TINY, gate=ANY_QUALITY)
    assert pushed_versions(tmp_path / "run") == ["1"]
