"""Hyperparameter merging: preset, then overrides (typed from strings), unknown names refused."""

from __future__ import annotations

import argparse

import pytest

from namegen.commands import run
from namegen.errors import UserError
from pipeline import configs


def test_overrides_replace_preset_values_and_keep_the_rest():
    merged = configs.hyperparameters("tiny", {"epochs": 7, "learning_rate": "0.5"}, seed=3)
    assert merged == dict(configs.PRESETS["tiny"], epochs=7, learning_rate=0.5, preset="tiny",
                          seed=3)


@pytest.mark.parametrize("text,value", [("true", True), ("0", False), ("1", True)])
def test_booleans_parse_from_text(text, value):
    assert configs.hyperparameters("tiny", {"tie_embeddings": text})["tie_embeddings"] is value


@pytest.mark.parametrize("overrides,message", [
    ({"epoch": 3}, "unknown hyperparameter 'epoch'"),
    ({"epochs": "three"}, "epochs='three': expected int"),
    ({"tie_embeddings": "yes"}, "tie_embeddings='yes': expected bool"),
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
