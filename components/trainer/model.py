"""The model: Embedding -> GRU (1 or more layers) -> Dense over the Transform vocabulary."""

from __future__ import annotations

import tensorflow as tf
import tf_keras

from pipeline import configs


class NameModel(tf_keras.Model):
    """Character-level GRU language model; dropout is the only train/inference difference."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int,
        rnn_units: int,
        num_layers: int = 1,
        dropout: float = 0.0,
        embedding_dropout: float = 0.0,
        **_: object,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = tf_keras.layers.Embedding(vocab_size, embedding_dim)
        self.embedding_dropout = tf_keras.layers.Dropout(embedding_dropout)
        self.grus = [
            tf_keras.layers.GRU(rnn_units, return_sequences=True) for _ in range(num_layers)
        ]
        self.output_dropout = tf_keras.layers.Dropout(dropout)
        self.dense = tf_keras.layers.Dense(vocab_size)

    def call(self, token_ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = self.embedding_dropout(self.embedding(token_ids), training=training)
        for gru in self.grus:
            x = self.output_dropout(gru(x, training=training), training=training)
        return self.dense(x)


def build_model(vocab_size: int, hyperparameters: dict) -> NameModel:
    model = NameModel(vocab_size, **hyperparameters)
    model(tf.zeros([1, 1], tf.int64))  # create the weights
    return model


def shift_right(targets: tf.Tensor) -> tf.Tensor:
    """Model inputs: end-of-name as the start token, then the targets shifted right by one."""
    start = tf.fill([tf.shape(targets)[0], 1], tf.constant(configs.EON_ID, targets.dtype))
    return tf.concat([start, targets[:, :-1]], axis=1)


def sequence_loss(
    logits: tf.Tensor,
    targets: tf.Tensor,
    mask_padding: bool = True,
    label_smoothing: float = 0.0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean cross-entropy per predicted token and the number of tokens it averages over.

    With mask_padding, positions after end-of-name (target PAD) do not count: the loss is
    nats per character, end-of-name included. Without it, padding counts too (the tutorial).
    """
    if label_smoothing:
        labels = tf.one_hot(targets, tf.shape(logits)[-1])
        losses = tf_keras.losses.categorical_crossentropy(
            labels, logits, from_logits=True, label_smoothing=label_smoothing
        )
    else:
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    if mask_padding:
        weights = tf.cast(tf.not_equal(targets, configs.PAD_ID), losses.dtype)
    else:
        weights = tf.ones_like(losses)
    count = tf.reduce_sum(weights)
    return tf.reduce_sum(losses * weights) / tf.maximum(count, 1.0), count
