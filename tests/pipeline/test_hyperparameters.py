"""Typed hyperparameters: presets list changes, overrides are typed, bad ones name the problem."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from namegen import cli
from namegen.commands import run
from namegen.errors import UserError
from pipeline import configs


def test_overrides_replace_preset_values_and_keep_the_rest():
    merged = configs.hyperparameters("tiny", {"epochs": 7, "learning_rate": "0.5"}, seed=3)
    assert merged == dict(configs.PRESETS["tiny"], epochs=7, learning_rate=0.5, preset="tiny",
                          seed=3)


def test_presets_list_only_what_they_change():
    defaults = configs.Hyperparameters()
    assert configs.PRESET_CHANGES[configs.DEFAULT_PRESET] == {}
    for name, changes in configs.PRESET_CHANGES.items():
        for key, value in changes.items():
            assert getattr(defaults, key) != value, f"{name} repeats the default {key}={value!r}"
        assert configs.resolve(name) == dataclasses.replace(defaults, preset=name, **changes)


def test_every_field_has_a_reason():
    source = open(configs.__file__).read()
    for spec in dataclasses.fields(configs.Hyperparameters):
        line = next(line for line in source.splitlines()
                    if line.strip().startswith(f"{spec.name}: {spec.type} = "))
        assert "  # " in line, f"{spec.name} has no one-line reason"


def test_the_json_form_round_trips_and_is_checked():
    hp = configs.resolve("tiny", {"ngram_teacher": 0.5}, seed=9)
    text = json.dumps(hp.as_dict())  # as custom_config carries it to the Trainer
    assert configs.Hyperparameters.from_dict(json.loads(text)) == hp
    with pytest.raises(ValueError, match="unknown hyperparameter 'rnn_unit'"):
        configs.Hyperparameters.from_dict(dict(hp.as_dict(), rnn_unit=3))
    with pytest.raises(ValueError, match=r"epochs=2\.5: expected int"):
        configs.Hyperparameters.from_dict(dict(hp.as_dict(), epochs=2.5))
    with pytest.raises(dataclasses.FrozenInstanceError):
        hp.epochs = 3  # type: ignore[misc]


def test_ints_widen_to_float_fields():
    assert configs.resolve("tiny", {"learning_rate": 1}).learning_rate == 1.0
    assert type(configs.resolve("tiny", {"learning_rate": 1}).learning_rate) is float


@pytest.mark.parametrize("text,value", [("true", True), ("0", False), ("1", True)])
def test_booleans_parse_from_text(text, value):
    assert configs.hyperparameters("tiny", {"tie_embeddings": text})["tie_embeddings"] is value


@pytest.mark.parametrize("overrides,message", [
    ({"epoch": 3}, "unknown hyperparameter 'epoch'"),
    ({"epochs": "three"}, "epochs='three': expected int"),
    ({"tie_embeddings": "yes"}, "tie_embeddings='yes': expected bool"),
    ({"tie_embeddings": 1}, "tie_embeddings=1: expected bool"),
    ({"lr_schedule": "linear"}, "lr_schedule='linear': expected one of"),
])
def test_bad_overrides_name_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        configs.hyperparameters("tiny", overrides)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown preset 'huge'.*tiny"):
        configs.hyperparameters("huge")


def test_cli_merges_set_then_epochs_flag():
    args = argparse.Namespace(set=["batch_size=8", "epochs=4"], epochs=9, preset="tiny", seed=5)
    merged = run.hyperparameters_from(args)
    assert merged["batch_size"] == 8 and merged["epochs"] == 9 and merged["seed"] == 5
    with pytest.raises(UserError, match="unknown hyperparameter"):
        run.hyperparameters_from(argparse.Namespace(set=["nope=1"], epochs=None, preset="tiny",
                                                    seed=5))


@pytest.mark.parametrize("setting,message", [
    ("rnn_unit=64", "namegen: error: --set: unknown hyperparameter 'rnn_unit'; known: ["),
    ("rnn_units=big", "namegen: error: --set: hyperparameter rnn_units='big': expected int"),
    ("mask_padding=maybe",
     "namegen: error: --set: hyperparameter mask_padding='maybe': expected bool"),
])
def test_namegen_run_set_refuses_a_bad_key_or_type(setting, message, tmp_path, capsys,
                                                   monkeypatch):
    # The --set check comes before TFX is imported; skip the process setup that imports it.
    monkeypatch.setattr(cli, "configure_process", lambda loads_tfx: None)
    code = cli.main(["run", "--preset", "tiny", "--set", setting,
                     "--pipeline-root", str(tmp_path / "p"), "--serving-dir", str(tmp_path / "s")])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p").exists() and not (tmp_path / "s").exists()  # nothing written
