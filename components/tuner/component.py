"""NameTuner: random search over hyperparameters on the train/eval split, within a time budget.

TFX's `Tuner` drives KerasTuner, which wants `model.fit`; our model trains in its own
GradientTape loop, so this is a custom component with the Tuner's contract: transformed examples
and the transform graph in, a `HyperParameters` artifact out (the Trainer's `hyperparameters`
input, read by `run_fn` through `fn_args.hyperparameters`). Every trial and the best one are
recorded in ML Metadata as custom properties of that artifact.
"""


import json
import math
import os
import random
import tempfile
import time
from collections.abc import Sequence

from tfx import v1 as tfx
from tfx.types.standard_artifacts import Examples, HyperParameters, TransformGraph

from data import encoding
from pipeline import configs

HYPERPARAMETERS_FILE = "hyperparameters.json"  # the one file the Trainer reads

# Levers that measured as mattering on the dinosaur list (docs/QUALITY.md), with their ranges.
SEARCH_SPACE: dict[str, list] = {
    "rnn_units": [256, 384, 512],
    "embedding_dim": [64, 128, 256],
    "dropout": [0.2, 0.3, 0.4],
    "embedding_dropout": [0.1, 0.2, 0.3],
    "weight_drop": [0.3, 0.4, 0.5, 0.6, 0.7],
    "locked_dropout": [False, True],
    "label_smoothing": [0.0, 0.05, 0.1],
    "learning_rate": [2e-3, 3e-3, 5e-3],
    "weight_decay": [0.0, 1e-2, 5e-2],
    "batch_size": [16, 32, 64],
    "ngram_teacher": [0.0, 0.3, 0.5, 0.7],
}
DEFAULT_BUDGET_SECONDS = 900


def sample_trials(base: dict, space: dict[str, list], count: int, seed: int) -> list[dict]:
    """Trial 0 is the base itself; the rest draw every key of the space uniformly, no repeats."""
    rng = random.Random(seed)
    trials, seen = [dict(base)], {json.dumps(base, sort_keys=True)}
    attempts = 0
    while len(trials) < count and attempts < 100 * count:
        attempts += 1
        trial = dict(base, **{key: rng.choice(values) for key, values in sorted(space.items())})
        key = json.dumps(trial, sort_keys=True)
        if key not in seen:
            seen.add(key)
            trials.append(trial)
    return trials


def train_trial(trial: dict, train_ids, eval_ids, vocab_size: int,
                vocabulary: Sequence[str] = ()) -> dict:
    """Train one configuration with the Trainer's loop (no export); its eval loss.

    That is the best epoch's, or the last one's when the preset keeps the last weights
    (restore_best=False, as the tutorial does).
    """
    import tensorflow as tf
    import tf_keras

    from components.trainer.loop import TrainingLoop
    from components.trainer.model import build_model

    hp = configs.Hyperparameters.from_dict(trial)
    tf_keras.utils.set_random_seed(hp.seed)
    model = build_model(vocab_size, hp, vocabulary)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as run_dir:
        trainer = TrainingLoop(model, hp, math.ceil(len(train_ids) / hp.batch_size), run_dir)
        history = trainer.fit(train_ids, eval_ids, tf.summary.create_noop_writer())
    best = min(history, key=lambda r: r["eval_loss"])
    kept = best if hp.restore_best else history[-1]
    return {"eval_nats_per_char": kept["eval_loss"], "best_epoch": best["epoch"],
            "epochs_trained": len(history), "seconds": time.perf_counter() - started,
            "parameters": int(model.count_params())}


def search(base: dict, space: dict[str, list], train_ids, eval_ids, vocab_size: int,
           budget_seconds: float, max_trials: int, seed: int,
           vocabulary: Sequence[str] = ()) -> list[dict]:
    """Run trials until max_trials, or until the next one would likely overrun the budget."""
    started, results, longest = time.perf_counter(), [], 0.0
    for index, hp in enumerate(sample_trials(base, space, max_trials, seed)):
        elapsed = time.perf_counter() - started
        if results and elapsed + longest > budget_seconds:
            break
        outcome = train_trial(hp, train_ids, eval_ids, vocab_size, vocabulary)
        longest = max(longest, outcome["seconds"])
        results.append({"trial": index, "hyperparameters": hp, **outcome})
        print(f"[tuner] trial {index}: eval {outcome['eval_nats_per_char']:.4f} nats/char "
              f"({outcome['seconds']:.0f}s) {_changes(base, hp)}", flush=True)
    return results


def _changes(base: dict, hp: dict) -> dict:
    return {k: v for k, v in hp.items() if base.get(k) != v}


@tfx.dsl.components.component
def NameTuner(  # noqa: N802 (TFX component naming)
    examples: tfx.dsl.components.InputArtifact[Examples],
    transform_graph: tfx.dsl.components.InputArtifact[TransformGraph],
    best_hyperparameters: tfx.dsl.components.OutputArtifact[HyperParameters],
    base_hyperparameters: tfx.dsl.components.Parameter[str],
    search_space: tfx.dsl.components.Parameter[str],
    budget_seconds: tfx.dsl.components.Parameter[int] = DEFAULT_BUDGET_SECONDS,
    max_trials: tfx.dsl.components.Parameter[int] = 20,
    seed: tfx.dsl.components.Parameter[int] = configs.DEFAULT_SEED,
) -> None:
    """Search the space on the transformed train/eval split; write the best hyperparameters."""
    import tensorflow_transform as tft

    from components.trainer.data import load_split

    output = tft.TFTransformOutput(transform_graph.uri)
    train_ids = load_split([os.path.join(examples.uri, "Split-train", "*")], output)
    eval_ids = load_split([os.path.join(examples.uri, "Split-eval", "*")], output)
    vocab_size = output.vocabulary_size_by_name(encoding.VOCAB_NAME) + encoding.NUM_OOV_BUCKETS
    base = json.loads(base_hyperparameters)
    trials = search(base, json.loads(search_space), train_ids, eval_ids, vocab_size,
                    budget_seconds, max_trials, seed,
                    output.vocabulary_by_name(encoding.VOCAB_NAME))
    best = min(trials, key=lambda t: t["eval_nats_per_char"])
    with tfx.dsl.io.fileio.open(os.path.join(best_hyperparameters.uri, HYPERPARAMETERS_FILE),
                                "w") as f:
        json.dump(best["hyperparameters"], f, sort_keys=True)
    best_hyperparameters.set_float_custom_property("best_eval_nats_per_char",
                                                   best["eval_nats_per_char"])
    best_hyperparameters.set_float_custom_property("base_eval_nats_per_char",
                                                   trials[0]["eval_nats_per_char"])
    best_hyperparameters.set_int_custom_property("best_trial", best["trial"])
    best_hyperparameters.set_int_custom_property("trials", len(trials))
    best_hyperparameters.set_string_custom_property("trial_results", json.dumps(
        [{k: t[k] for k in ("trial", "eval_nats_per_char", "best_epoch", "seconds")}
         | {"changes": _changes(base, t["hyperparameters"])} for t in trials], sort_keys=True))
    best_hyperparameters.set_int_custom_property("budget_seconds", budget_seconds)
    best_hyperparameters.set_float_custom_property(
        "search_seconds", sum(t["seconds"] for t in trials))
    best_hyperparameters.set_string_custom_property(
        "best_changes", json.dumps(_changes(base, best["hyperparameters"]), sort_keys=True))


def add_tuner(transform, hyperparameters: dict, budget_seconds: int = DEFAULT_BUDGET_SECONDS,
              max_trials: int = 20, space: dict[str, list] | None = None) -> NameTuner:
    """The tuner node for create_pipeline; wire its output into the Trainer's `hyperparameters`.

    The Trainer's run_fn prefers that input over custom_config, so the best trial is trained.
    """
    return NameTuner(
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        base_hyperparameters=json.dumps(hyperparameters, sort_keys=True),
        search_space=json.dumps(space or SEARCH_SPACE, sort_keys=True),
        budget_seconds=int(budget_seconds),
        max_trials=int(max_trials),
        seed=int(hyperparameters["seed"]),
    )
