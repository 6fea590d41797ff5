"""NameTuner as a component on a pipeline run: it writes the Trainer's input and records trials."""

from __future__ import annotations

import json

from components.tuner import component as tuner
from pipeline import configs


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
