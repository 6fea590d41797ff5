"""Trainer: masked loss, learning, parameter counts, case pairing, dropout, batches, streaming.
Resume after a kill: tests/e2e/test_trainer_resumes_after_a_kill.py."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from components.trainer import data, loop
from components.trainer.model import (
    build_model,
    case_partners,
    case_smoothing_prior,
    sequence_loss,
    shift_right,
)
from data import encoding
from pipeline import configs


def encode(names: list[str], alphabet: str) -> np.ndarray:
    """Names as padded id rows with end-of-name, ids as Transform would assign them."""
    ids = np.zeros([len(names), encoding.SEQUENCE_LENGTH], np.int64)
    for row, name in enumerate(names):
        codes = [alphabet.index(c) + len(encoding.RESERVED_TOKENS) for c in name]
        ids[row, : len(codes) + 1] = codes + [encoding.EON_ID]
    return ids


def test_padding_does_not_change_the_masked_loss():
    hp = configs.resolve("tiny")
    model = build_model(10, hp)
    model.dense.bias.assign(tf.one_hot(encoding.PAD_ID, 10) * 5.0)  # padding: cheap to predict
    targets = tf.constant(encode(["abc", "ba"], "abc")[:, :6])
    wider = tf.pad(targets, [[0, 0], [0, 9]])  # nine more PAD columns
    short, _ = sequence_loss(model(shift_right(targets)), targets)
    long, _ = sequence_loss(model(shift_right(wider)), wider)
    np.testing.assert_allclose(short.numpy(), long.numpy(), rtol=1e-6)
    unmasked, _ = sequence_loss(model(shift_right(wider)), wider, mask_padding=False)
    assert unmasked.numpy() < long.numpy() - 0.5  # the tutorial's loss is diluted by padding


def test_loss_decreases_within_a_few_steps(tmp_path):
    hp = configs.resolve("tiny", {"learning_rate": 0.05})
    model = build_model(8, hp)
    trainer = loop.TrainingLoop(model, hp, steps_per_epoch=1, run_dir=str(tmp_path))
    batch = encode(["abc", "cab", "bca", "abcab"], "abc")
    losses = [float(trainer.step(batch)[0]) for _ in range(30)]
    assert losses[-1] < 0.7 * losses[0]


def test_tutorial_preset_has_the_tutorials_parameter_count():
    model = build_model(53, configs.resolve("tutorial"))
    assert model.count_params() == 4_006_197


def test_case_partners_pair_upper_with_lower_case_characters():
    vocabulary = ["<pad>", "<eon>", "a", "A", "\u00c9", "\u00e9", "B", "-"]
    base, shifted = case_partners(vocabulary, len(vocabulary) + 1)
    assert base == [0, 1, 2, 2, 5, 5, 6, 7, 8]  # "B" has no "b"; the OOV id stays itself
    assert shifted == [0, 0, 0, 1, 1, 0, 0, 0, 0]


def test_within_case_smoothing_never_teaches_upper_case_after_lower_case():
    vocabulary = ["<pad>", "<eon>", "a", "b", "A", "B"]
    prior = case_smoothing_prior(vocabulary, len(vocabulary) + 1).numpy()
    np.testing.assert_allclose(prior.sum(axis=1), 1.0, rtol=1e-6)
    assert (prior[:, encoding.PAD_ID] == 0).all()
    np.testing.assert_allclose(prior[4], [0, 0, 0, 0, 0.5, 0.5, 0])  # "A": only upper case
    assert (prior[2, 4:6] == 0).all() and prior[2, 6] > 0  # "a": lower case, <eon>, OOV
    logits = tf.random.stateless_normal([1, 2, 7], [0, 1])
    targets = tf.constant([[2, encoding.EON_ID]], tf.int64)
    loss, _ = sequence_loss(logits, targets, label_smoothing=0.1, smoothing_prior=prior)
    labels = 0.9 * np.eye(7)[[2, 1]] + 0.1 * prior[[2, 1]]
    log_probs = tf.nn.log_softmax(logits).numpy()[0]
    assert float(loss) == pytest.approx(-(labels * log_probs).sum(axis=1).mean(), rel=1e-5)


def test_locked_dropout_keeps_one_mask_per_name_and_weight_drop_only_trains():
    hp = configs.resolve("tiny", {"embedding_dropout": 0.5, "locked_dropout": True,
                                          "weight_drop": 0.5})
    model = build_model(8, hp)
    dropped = model.embedding_dropout(tf.ones([4, 6, 8]), training=True).numpy()
    assert (dropped == dropped[:, :1, :]).all() and (dropped == 0).any()
    tokens = tf.constant(encode(["abcab", "cab"], "abc"))
    np.testing.assert_array_equal(model(tokens).numpy(), model(tokens).numpy())
    assert not np.allclose(model(tokens, training=True).numpy(), model(tokens).numpy())


def test_bucketed_batches_cover_every_name_once():
    ids = encode(["a" * n for n in range(1, 20)], "a")
    batches = list(data.ArraySplit(ids).batches(4, shuffle_seed=0, bucket=True))
    rows = sorted(int((b != encoding.PAD_ID).sum(axis=1)[i])
                  for b in batches for i in range(len(b)))
    assert rows == sorted(int((r != encoding.PAD_ID).sum()) for r in ids)
    assert all(b.shape[1] == (b != encoding.PAD_ID).sum(axis=1).max() for b in batches)


def test_decode_names_inverts_the_encoding():
    class Vocabulary:
        def vocabulary_by_name(self, name):
            return [t.encode() for t in [*encoding.RESERVED_TOKENS, "a", "b", "c"]]

    ids = encode(["abc", "cab", ""], "abc")
    assert data.decode_names(ids, Vocabulary()) == ["abc", "cab", ""]


def write_split(ids: np.ndarray, path) -> list[str]:
    """Id rows as the transformed examples Transform writes (GZIP TFRecords of `ids`)."""
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
        for row in ids:
            feature = tf.train.Feature(int64_list=tf.train.Int64List(value=row.tolist()))
            example = tf.train.Example(features=tf.train.Features(
                feature={encoding.IDS_FEATURE: feature}))
            writer.write(example.SerializeToString())
    return [str(path)]


IDS_SPEC = {encoding.IDS_FEATURE: tf.io.FixedLenFeature([encoding.SEQUENCE_LENGTH], tf.int64)}


def test_a_streamed_split_yields_every_name_once_per_epoch_in_a_replayable_order(tmp_path):
    names = ["a" * (n % 7 + 1) + "b" * (n % 3) for n in range(203)]
    ids = encode(names, "ab")
    vocabulary = [*encoding.RESERVED_TOKENS, "a", "b"]
    split = data.StreamedSplit(write_split(ids, tmp_path / "train.gz"), IDS_SPEC, vocabulary)
    assert (len(split), split.names) == (203, names)
    assert split.characters == int((ids != encoding.PAD_ID).sum())

    def epoch(seed):
        return [batch.tolist() for batch in split.batches(8, seed, bucket=True)]

    first = epoch(5)
    rows = sorted(tuple(r + [0] * (encoding.SEQUENCE_LENGTH - len(r))) for b in first for r in b)
    assert rows == sorted(map(tuple, ids.tolist()))
    assert all(max(sum(t != encoding.PAD_ID for t in r) for r in b) == len(b[0]) for b in first)
    assert epoch(5) == first  # a resumed epoch skips exactly the batches it did before
    assert epoch(6) != first
    unbucketed = list(split.batches(8, 5, bucket=False))
    assert {b.shape[1] for b in unbucketed} == {split.longest}


def test_keras_standard_gru_the_cudnn_kernels_cpu_twin_equals_the_fused_loop():
    """cuDNN's GRU (gpu_gru) and Keras' standard_gru take one argument layout; on CPU the
    standard one (cudnn=False) must match the fused loop with the same kernel, recurrent kernel
    and bias. The cuDNN kernel itself: the next test, on a machine with a GPU."""
    from components.trainer.cudnn import keras_gru_sequence
    from components.trainer.model import gru_sequence

    model = build_model(12, configs.resolve("tiny"))
    kernel, recurrent_kernel, bias = model.grus[0].cell.weights
    bias.assign(tf.random.stateless_normal(bias.shape, [3, 4]))
    inputs = tf.random.stateless_normal([5, 9, kernel.shape[0]], [1, 2])
    np.testing.assert_allclose(
        keras_gru_sequence(inputs, kernel, recurrent_kernel, bias, cudnn=False).numpy(),
        gru_sequence(inputs, kernel, recurrent_kernel, bias).numpy(), atol=1e-5)


@pytest.mark.skipif(not tf.config.list_physical_devices("GPU"), reason="cuDNN needs a GPU")
def test_the_cudnn_kernel_takes_the_fused_loops_weights_as_they_are():
    from components.trainer.cudnn import keras_gru_sequence
    from components.trainer.model import gru_sequence

    model = build_model(12, configs.resolve("tiny"))
    kernel, recurrent_kernel, bias = model.grus[0].cell.weights
    bias.assign(tf.random.stateless_normal(bias.shape, [3, 4]))
    inputs = tf.random.stateless_normal([5, 9, kernel.shape[0]], [1, 2])
    with tf.device("/GPU:0"):
        cudnn = keras_gru_sequence(inputs, kernel, recurrent_kernel, bias, cudnn=True)
    with tf.device("/CPU:0"):
        fused = gru_sequence(inputs, kernel, recurrent_kernel, bias)
    np.testing.assert_allclose(cudnn.numpy(), fused.numpy(), atol=1e-4)
