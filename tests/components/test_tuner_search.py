"""NameTuner's search: trial 0 is the base, draws stay in the space, the budget is honoured.
The component in a run: tests/e2e/test_tuner_component_in_a_run.py."""

from __future__ import annotations

import json

import numpy as np

from components.tuner import component as tuner
from data import encoding
from pipeline import configs


def test_trials_start_from_the_base_and_stay_in_the_space():
    base = configs.hyperparameters("tiny")
    trials = tuner.sample_trials(base, tuner.SEARCH_SPACE, 12, seed=0)
    assert trials[0] == base and len(trials) == 12
    assert len({json.dumps(t, sort_keys=True) for t in trials}) == 12
    for trial in trials[1:]:
        for key, value in trial.items():
            assert value in tuner.SEARCH_SPACE[key] if key in tuner.SEARCH_SPACE else \
                value == base[key]
    assert trials == tuner.sample_trials(base, tuner.SEARCH_SPACE, 12, seed=0)


def _ids(count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = np.zeros([count, encoding.SEQUENCE_LENGTH], np.int64)
    for row in ids:
        length = rng.integers(3, 8)
        row[:length] = rng.integers(2, 12, size=length)
        row[length] = encoding.EON_ID
    return ids


def test_search_trains_trials_and_stops_at_the_budget():
    base = configs.hyperparameters("tiny", {"epochs": 1})
    space = {"rnn_units": [8, 12], "learning_rate": [0.01, 0.02]}
    train, evaluation = _ids(64, 0), _ids(16, 1)
    results = tuner.search(base, space, train, evaluation, 13, budget_seconds=3600,
                           max_trials=3, seed=0)
    assert [r["trial"] for r in results] == [0, 1, 2]
    assert results[0]["hyperparameters"] == base
    assert all(np.isfinite(r["eval_nats_per_char"]) and r["epochs_trained"] == 1
               for r in results)
    out_of_time = tuner.search(base, space, train, evaluation, 13, budget_seconds=0,
                               max_trials=3, seed=0)
    assert len(out_of_time) == 1  # the base always runs; nothing more fits in no time
