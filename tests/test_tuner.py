"""NameTuner's search: trial 0 is the base, draws stay in the space, the budget is honoured."""

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


def test_component_writes_the_trainer_input_and_records_trials(tiny_run, tmp_path):
    """The executor on a real Transform output: one JSON file (what the Trainer reads)."""
    from tfx.types import standard_artifacts
    from tfx.utils import io_utils

    from pipeline import metadata

    store = metadata.open_store(str(tiny_run.pipeline_root))
    examples = standard_artifacts.Examples()
    examples.uri = metadata.latest_artifact(store, "Examples", producer="Transform").uri
    examples.split_names = '["train", "eval"]'
    graph = standard_artifacts.TransformGraph()
    graph.uri = metadata.latest_artifact(store, "TransformGraph").uri
    best = standard_artifacts.HyperParameters()
    best.uri = str(tmp_path)
    base = configs.hyperparameters("tiny", {"epochs": 1})
    node = tuner.add_tuner(_FakeTransform(), base, budget_seconds=600, max_trials=2,
                           space={"rnn_units": [8, 12]})
    node.executor_spec.executor_class().Do(
        {"examples": [examples], "transform_graph": [graph]}, {"best_hyperparameters": [best]},
        dict(node.exec_properties))
    written = io_utils.get_only_uri_in_dir(str(tmp_path))  # as the Trainer's executor reads it
    chosen = json.loads(open(written).read())
    trials = json.loads(best.get_string_custom_property("trial_results"))
    assert len(trials) == best.get_int_custom_property("trials") == 2
    winner = min(trials, key=lambda t: t["eval_nats_per_char"])
    assert best.get_float_custom_property("best_eval_nats_per_char") == winner[
        "eval_nats_per_char"]
    assert chosen == dict(base, **winner["changes"])


class _FakeTransform:
    """Stands in for the Transform node: add_tuner only reads its output channels."""

    def __init__(self):
        from tfx.types import channel_utils, standard_artifacts

        self.outputs = {
            "transformed_examples": channel_utils.as_channel([standard_artifacts.Examples()]),
            "transform_graph": channel_utils.as_channel([standard_artifacts.TransformGraph()]),
        }
