"""The n-gram teacher (`ngram_teacher`): cross-fitted soft targets and their place in the loss."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from components.baselines.ngram import CharVocabulary, KneserNey
from components.trainer import data, loop, teacher
from components.trainer.model import build_model, sequence_loss, shift_right
from data import encoding
from pipeline import configs
from tests.components.test_trainer import encode

ALPHABET = "abcdeklmnorstu"
NAMES = [a + b + c for a in ("ka", "lo", "mu", "tse") for b in ("ra", "do", "bec", "nt")
         for c in ("s", "us", "on", "a")][:50]


def test_each_name_is_taught_by_kneser_ney_fitted_on_the_other_folds_only():
    ids = encode(NAMES, ALPHABET)
    vocabulary = list(encoding.RESERVED_TOKENS) + list(ALPHABET)
    vocab_size = len(vocabulary) + encoding.NUM_OOV_BUCKETS
    folds = data.fold_of(ids, teacher.FOLDS, seed=3)
    taught = teacher.NgramTeacher(NAMES, folds, vocabulary, vocab_size, seed=3)
    soft, info = taught.targets(ids), taught.info

    width = max(map(len, NAMES)) + 1
    soft = soft[:, :width]
    assert not soft[:, width:].any()
    real = ids[:, :width] != encoding.PAD_ID
    np.testing.assert_allclose(soft.sum(axis=-1)[real], 1.0, atol=1e-5)
    assert not soft[~real].any()
    assert not soft[..., encoding.PAD_ID].any()

    chars = CharVocabulary(NAMES)
    total, count = 0.0, 0
    for row, name in enumerate(NAMES):
        others = [n for n, f in zip(NAMES, folds) if f != folds[row]]
        kn = KneserNey(info["order"], info["discount"]).fit(others, chars)
        expected, predictions = kn.log_likelihood(name)
        taught = np.log(soft[row, np.arange(predictions), ids[row, :predictions]]).sum()
        assert math.isclose(taught, expected, rel_tol=1e-5)
        total, count = total - expected, count + predictions
    assert math.isclose(info["train_nats_per_char"], total / count, rel_tol=1e-6)


def test_soft_targets_take_their_weight_of_the_labels():
    model = build_model(10, configs.resolve("tiny"))
    targets = tf.constant(encode(["abc", "ba"], "abcdefg")[:, :5])
    logits = model(shift_right(targets))
    soft = tf.nn.softmax(tf.random.stateless_normal(logits.shape, seed=[1, 2]))
    loss, count = sequence_loss(logits, targets, soft_targets=soft, soft_weight=0.3)

    log_probs = tf.nn.log_softmax(logits).numpy()
    labels = 0.7 * tf.one_hot(targets, 10).numpy() + 0.3 * soft.numpy()
    mask = targets.numpy() != encoding.PAD_ID
    expected = -(labels * log_probs).sum(axis=-1)[mask].mean()
    assert count.numpy() == mask.sum() == 7
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)


def test_the_teachers_targets_change_the_trainers_loss(tmp_path):
    """The loss a training step minimises is the teacher-mixed one, not the labels' alone."""
    weight = 0.5
    hp = configs.resolve("tiny", {"ngram_teacher": weight})  # tiny: no dropout, no smoothing
    vocabulary = list(encoding.RESERVED_TOKENS) + list(ALPHABET)
    model = build_model(len(vocabulary) + 1, hp, vocabulary)
    # Away from uniform scores, where every target distribution has the same cross-entropy.
    model.dense.bias.assign(tf.random.stateless_normal(model.dense.bias.shape, [5, 6]) * 2.0)
    ids = encode(NAMES, ALPHABET)
    trainer = loop.TrainingLoop(model, hp, steps_per_epoch=4, run_dir=str(tmp_path))
    taught = trainer.fit_teacher(data.ArraySplit(ids[:40], vocabulary))
    batch = ids[:16]
    logits = model(shift_right(tf.constant(batch)), training=True)
    soft = tf.constant(taught.targets(batch))
    with_teacher, _ = sequence_loss(logits, batch, soft_targets=soft, soft_weight=weight)
    labels_only, _ = sequence_loss(logits, batch)
    assert abs(float(with_teacher) - float(labels_only)) > 1e-2  # 200x the tolerance below
    loss_sum, count = trainer.step(batch)  # the loss before this step's update
    assert math.isclose(float(loss_sum) / float(count), float(with_teacher), rel_tol=1e-5)


def test_fit_builds_the_teacher_and_trains_with_it(tmp_path):
    hp = configs.resolve("tiny", {"ngram_teacher": 0.5, "epochs": 2})
    vocabulary = list(encoding.RESERVED_TOKENS) + list(ALPHABET)
    model = build_model(len(vocabulary) + 1, hp, vocabulary)
    ids = encode(NAMES, ALPHABET)
    trainer = loop.TrainingLoop(model, hp, steps_per_epoch=4, run_dir=str(tmp_path))
    history = trainer.fit(ids[:40], ids[40:], tf.summary.create_noop_writer())
    assert trainer.teacher is not None and trainer.teacher.describe().startswith("Kneser-Ney")
    assert len(history) == 2 and history[-1]["train_loss"] < history[0]["train_loss"]


def test_the_teacher_stays_within_the_targets_case_with_smooth_within_case():
    names = [name.capitalize() for name in NAMES]
    alphabet = "KLMT" + ALPHABET
    vocabulary = list(encoding.RESERVED_TOKENS) + list(alphabet)
    ids = encode(names, alphabet)
    upper = [vocabulary.index(c) for c in "KLMT"]
    mid_name = (ids != encoding.PAD_ID) & (np.arange(ids.shape[1]) > 0)

    def upper_case_mass_mid_name(within_case: bool) -> float:
        soft = teacher.NgramTeacher(names, data.fold_of(ids, teacher.FOLDS, 0), vocabulary,
                                    len(vocabulary) + 1, seed=0, within_case=within_case
                                    ).targets(ids)
        np.testing.assert_allclose(soft.sum(axis=-1)[ids != encoding.PAD_ID], 1.0, atol=1e-5)
        return float(soft[..., upper].sum(axis=-1)[mid_name].max())

    assert upper_case_mass_mid_name(False) > 0.01
    assert upper_case_mass_mid_name(True) == 0.0


def test_a_batchs_targets_are_its_rows_of_the_whole_splits_targets():
    """Targets are built per batch: any subset, order or cropping of rows gets the same ones."""
    ids = encode(NAMES, ALPHABET)
    vocabulary = list(encoding.RESERVED_TOKENS) + list(ALPHABET)
    taught = teacher.NgramTeacher(NAMES, data.fold_of(ids, teacher.FOLDS, 7), vocabulary,
                                  len(vocabulary) + 1, seed=7)
    whole = taught.targets(ids)
    rows = np.random.default_rng(0).permutation(len(NAMES))[:9]
    width = int((ids[rows] != encoding.PAD_ID).sum(axis=1).max())
    np.testing.assert_array_equal(taught.targets(ids[rows, :width]), whole[rows, :width])


def test_folds_follow_the_name_not_its_padding_or_position():
    ids = encode(NAMES + NAMES[:5], ALPHABET)
    folds = data.fold_of(ids, teacher.FOLDS, seed=1)
    np.testing.assert_array_equal(folds[-5:], folds[:5])  # a duplicate never teaches itself
    np.testing.assert_array_equal(data.fold_of(ids[:, :8], teacher.FOLDS, 1)[:3], folds[:3])
    assert set(folds) == set(range(teacher.FOLDS))
    assert not np.array_equal(folds, data.fold_of(ids, teacher.FOLDS, seed=2))


def test_without_teacher_end_of_name_the_stop_comes_from_the_label_only():
    vocabulary = list(encoding.RESERVED_TOKENS) + list(ALPHABET)
    ids = encode(NAMES, ALPHABET)
    real = ids != encoding.PAD_ID

    def targets(end_of_name: bool) -> np.ndarray:
        return teacher.NgramTeacher(
            NAMES, data.fold_of(ids, teacher.FOLDS, 7), vocabulary, len(vocabulary) + 1,
            seed=7, end_of_name=end_of_name).targets(ids)

    with_stop, without = targets(True), targets(False)
    stops = ids[:, :without.shape[1]] == encoding.EON_ID
    mid_name = real[:, :without.shape[1]] & ~stops
    assert with_stop[..., encoding.EON_ID][mid_name].max() > 0.01  # back-off mass mid-name
    assert without[..., encoding.EON_ID][mid_name].max() == 0.0
    np.testing.assert_array_equal(without[..., encoding.EON_ID][stops], 1.0)
    np.testing.assert_allclose(without.sum(axis=-1)[real[:, :without.shape[1]]], 1.0, atol=1e-5)
