"""Issue 26's levers: last-epochs weight averaging, the teacher's weight schedule, and an
ensemble of GRUs distilled into the student (components/trainer/averaging.py, ensemble.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from components.trainer import data, ensemble, loop
from components.trainer.model import build_model, sequence_loss, shift_right
from data import encoding
from pipeline import configs
from tests.components.test_teacher import ALPHABET, NAMES
from tests.components.test_trainer import encode

VOCABULARY = list(encoding.RESERVED_TOKENS) + list(ALPHABET)
VOCAB_SIZE = len(VOCABULARY) + encoding.NUM_OOV_BUCKETS
IDS = encode(NAMES, ALPHABET)


def trained_weights(tmp_path, name: str, **overrides) -> tuple[list[np.ndarray], loop.TrainingLoop]:
    """Tiny preset (no dropout: deterministic) on 40 names, seeded the same every time."""
    hp = configs.resolve("tiny", {"restore_best": False, **overrides}, seed=7)
    tf_keras.utils.set_random_seed(hp.seed)
    model = build_model(VOCAB_SIZE, hp, VOCABULARY)
    trainer = loop.TrainingLoop(model, hp, steps_per_epoch=3, run_dir=str(tmp_path / name))
    trainer.fit(IDS[:40], IDS[40:], tf.summary.create_noop_writer())
    return [w.numpy() for w in model.trainable_variables], trainer


def test_the_export_is_the_mean_of_the_last_epochs_weights(tmp_path):
    after_two, _ = trained_weights(tmp_path, "two", epochs=2)
    after_three, _ = trained_weights(tmp_path, "three", epochs=3)
    averaged, trainer = trained_weights(tmp_path, "avg", epochs=3, average_last_epochs=2)
    assert any(not np.allclose(a, b, atol=1e-4) for a, b in zip(after_two, after_three))
    for got, two, three in zip(averaged, after_two, after_three):
        np.testing.assert_allclose(got, (two + three) / 2, rtol=1e-4, atol=1e-6)
    # what was evaluated each epoch is what is exported
    assert trainer.history[-1]["eval_loss"] == pytest.approx(trainer.evaluate(IDS[40:]), 1e-6)


def test_average_and_ema_are_exclusive():
    with pytest.raises(ValueError, match="average_last_epochs"):
        configs.resolve("default", {"ema_decay": 0.99, "average_last_epochs": 3})


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_teacher_weight_follows_its_schedule_in_the_loss(tmp_path, schedule):
    hp = configs.resolve("tiny", {"ngram_teacher": 0.8, "teacher_schedule": schedule,
                                  "ngram_teacher_final": 0.1, "epochs": 2})
    total = 8  # 2 epochs of 4 steps
    weights = [ensemble.teacher_weight(hp, s, total) for s in range(total)]
    assert weights[0] == pytest.approx(0.8) and weights[-1] == pytest.approx(0.1)
    middle = 0.8 - 0.7 * (3.5 / 7 if schedule == "linear" else 0.5)
    assert (weights[3] + weights[4]) / 2 == pytest.approx(middle, abs=0.02)
    assert all(a > b for a, b in zip(weights, weights[1:]))

    model = build_model(VOCAB_SIZE, hp, VOCABULARY)
    model.dense.bias.assign(tf.random.stateless_normal(model.dense.bias.shape, [5, 6]) * 2.0)
    trainer = loop.TrainingLoop(model, hp, steps_per_epoch=4, run_dir=str(tmp_path))
    taught = trainer.fit_teacher(data.ArraySplit(IDS[:40], VOCABULARY))
    batch = IDS[:16]
    soft = tf.constant(taught.targets(batch))
    for step, weight in enumerate(weights):
        logits = model(shift_right(tf.constant(batch)), training=True)
        expected, _ = sequence_loss(logits, batch, soft_targets=soft, soft_weight=weight)
        labels_only, _ = sequence_loss(logits, batch)
        assert abs(float(expected) - float(labels_only)) > 1e-3  # 25x the tolerance below
        loss_sum, count = trainer.step(batch)  # the loss before this step's update
        assert math.isclose(float(loss_sum) / float(count), float(expected), rel_tol=1e-5), step


def members(count: int) -> list:
    """Untrained tiny GRUs with their own seeds: distinct distributions, cheap."""
    hp = configs.resolve("tiny")
    built = []
    for m in range(count):
        tf_keras.utils.set_random_seed(100 + m)
        model = build_model(VOCAB_SIZE, hp, VOCABULARY)
        model.dense.bias.assign(tf.random.stateless_normal(model.dense.bias.shape, [m, 9]) * 2.0)
        built.append(model)
    return built


@pytest.mark.parametrize("folds", [0, 2])
def test_ensemble_targets_are_the_mean_of_the_members_allowed_to_teach(folds):
    grus = members(4)
    teacher = ensemble.EnsembleTeacher(grus, folds, seed=3)
    batch = IDS[:12, :10]
    soft = teacher.targets(batch)
    probabilities = [tf.nn.softmax(m(shift_right(tf.constant(batch)))).numpy() for m in grus]
    row_folds = data.fold_of(batch, folds, 3) if folds else np.zeros(len(batch), int)
    real = batch != encoding.PAD_ID
    for row, fold in enumerate(row_folds):
        chosen = [p[row] for m, p in enumerate(probabilities) if not folds or m % folds == fold]
        assert len(chosen) == (4 if not folds else 2)
        expected = np.mean(chosen, axis=0) * real[row][:, None]
        np.testing.assert_allclose(soft[row], expected, rtol=1e-5, atol=1e-7)
    assert len(set(row_folds)) == (2 if folds else 1)  # both folds are in the batch


def test_each_member_skips_the_fold_it_teaches():
    hp = configs.resolve("tiny", {"ensemble_teacher": 0.3, "ensemble_members": 4,
                                  "ensemble_folds": 2})
    folds = data.fold_of(IDS, 2, hp.seed)
    for m, rows in enumerate(ensemble.member_folds(IDS, hp)):
        assert len(rows) == (folds != m % 2).sum() and len(rows) < len(IDS)
        assert not (data.fold_of(rows, 2, hp.seed) == m % 2).any()
    every = configs.resolve("tiny", {"ensemble_teacher": 0.3, "ensemble_folds": 0})
    assert all(len(rows) == len(IDS) for rows in ensemble.member_folds(IDS, every))


def test_the_ensembles_targets_reach_the_students_loss(tmp_path):
    hp = configs.resolve("tiny", {"ensemble_teacher": 0.5, "ngram_teacher": 0.2,
                                  "ensemble_members": 2, "ensemble_folds": 2})
    model = build_model(VOCAB_SIZE, hp, VOCABULARY)
    # Away from uniform scores, where every target distribution has the same cross-entropy.
    model.dense.bias.assign(tf.random.stateless_normal(model.dense.bias.shape, [5, 6]) * 2.0)
    trainer = loop.TrainingLoop(model, hp, steps_per_epoch=4, run_dir=str(tmp_path))
    ngram = trainer.fit_teacher(data.ArraySplit(IDS[:40], VOCABULARY))
    trainer.ensemble = ensemble.EnsembleTeacher(members(2), 2, seed=hp.seed)
    batch = IDS[:16]
    logits = model(shift_right(tf.constant(batch)), training=True)
    mixed = (0.2 * ngram.targets(batch) + 0.5 * trainer.ensemble.targets(batch)) / 0.7
    expected, _ = sequence_loss(logits, batch, soft_targets=mixed, soft_weight=0.7)
    without, _ = sequence_loss(logits, batch, soft_targets=ngram.targets(batch),
                               soft_weight=0.2)
    assert abs(float(expected) - float(without)) > 1e-2
    loss_sum, count = trainer.step(batch)
    assert math.isclose(float(loss_sum) / float(count), float(expected), rel_tol=1e-5)


def test_fit_trains_the_members_then_the_student(tmp_path):
    hp = configs.resolve("tiny", {"ensemble_teacher": 0.5, "ensemble_members": 2,
                                  "ensemble_folds": 2, "epochs": 1})
    model = build_model(VOCAB_SIZE, hp, VOCABULARY)
    trainer = loop.TrainingLoop(model, hp, steps_per_epoch=3, run_dir=str(tmp_path))
    history = trainer.fit(IDS[:40], IDS[40:], tf.summary.create_noop_writer())
    assert len(history) == 1 and len(trainer.ensemble.members) == 2
    assert (tmp_path / "ensemble" / "member-1").is_dir() and trainer.ensemble_seconds > 0
    first = trainer.ensemble.members[0].trainable_variables[0].numpy()
    assert not np.allclose(first, model.trainable_variables[0].numpy())
