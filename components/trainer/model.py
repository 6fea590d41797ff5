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
        recurrent_dropout: float = 0.0,
        **_: object,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = tf_keras.layers.Embedding(vocab_size, embedding_dim)
        self.embedding_dropout = tf_keras.layers.Dropout(embedding_dropout)
        self.grus = [
            tf_keras.layers.GRU(rnn_units, return_sequences=True,
                                recurrent_dropout=recurrent_dropout)  # one mask per sequence
            for _ in range(num_layers)
        ]
        self.output_dropout = tf_keras.layers.Dropout(dropout)
        self.dense = tf_keras.layers.Dense(vocab_size)

    def call(self, token_ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = self.embedding_dropout(self.embedding(token_ids), training=training)
        for gru in self.grus:
            if training and gru.recurrent_dropout:
                x = gru(x, training=training)  # Keras' loop applies the recurrent mask
            else:
                if not gru.built:
                    gru.build(x.shape)
                x = gru_sequence(x, *gru.cell.weights)  # the same weights, faster (issue 7)
            x = self.output_dropout(x, training=training)
        return self.dense(x)


def gru_sequence(inputs: tf.Tensor, kernel: tf.Tensor, recurrent_kernel: tf.Tensor,
                 bias: tf.Tensor) -> tf.Tensor:
    """tf_keras GRU (reset_after, zero initial state) over [batch, time, features].

    Same weights and outputs as the Keras layer, but the input projection of every step is one
    matmul before the loop, and the backward pass (custom gradient) keeps only the recurrent
    matmul in its loop: the recurrent kernel's gradient is one matmul over all steps after it.
    """
    projected = tf.einsum("btd,dk->tbk", inputs, kernel) + bias[0]  # all steps in one matmul
    return tf.transpose(_recurrence(projected, recurrent_kernel, bias[1]), [1, 0, 2])


@tf.custom_gradient
def _recurrence(projected: tf.Tensor, recurrent_kernel: tf.Tensor, recurrent_bias: tf.Tensor):
    """Time-major projected inputs [time, batch, 3 units] -> hidden states [time, batch, units]."""
    steps = tf.shape(projected)[0]
    batch = tf.shape(projected)[1]
    units = tf.shape(recurrent_kernel)[0]
    saved = [tf.TensorArray(projected.dtype, size=steps) for _ in range(5)]

    def body(t, state, z_a, r_a, c_a, hin_a, prev_a):
        inner = tf.matmul(state, recurrent_kernel) + recurrent_bias
        x_z, x_r, x_h = tf.split(projected[t], 3, axis=-1)
        h_z, h_r, h_h = tf.split(inner, 3, axis=-1)
        z = tf.sigmoid(x_z + h_z)
        r = tf.sigmoid(x_r + h_r)
        candidate = tf.tanh(x_h + r * h_h)
        new = z * state + (1.0 - z) * candidate
        return (t + 1, new, z_a.write(t, z), r_a.write(t, r), c_a.write(t, candidate),
                hin_a.write(t, h_h), prev_a.write(t, state))

    _, _, z_a, r_a, c_a, hin_a, prev_a = tf.while_loop(
        lambda t, *_: t < steps, body,
        (0, tf.zeros([batch, units], projected.dtype), *saved))
    z_all, r_all, c_all, hin_all, prev_all = (a.stack() for a in (z_a, r_a, c_a, hin_a, prev_a))
    outputs = z_all * prev_all + (1.0 - z_all) * c_all

    def grad(d_outputs):
        recurrent_t = tf.transpose(recurrent_kernel)

        def back(i, d_state, d_proj_a, d_inner_a):
            t = steps - 1 - i
            d_h = d_state + d_outputs[t]
            z, r, c, h_h = z_all[t], r_all[t], c_all[t], hin_all[t]
            d_a_h = d_h * (1.0 - z) * (1.0 - c * c)
            d_r = d_a_h * h_h
            d_a_z = d_h * (prev_all[t] - c) * z * (1.0 - z)
            d_a_r = d_r * r * (1.0 - r)
            d_inner = tf.concat([d_a_z, d_a_r, d_a_h * r], axis=-1)
            d_proj = tf.concat([d_a_z, d_a_r, d_a_h], axis=-1)
            d_prev = d_h * z + tf.matmul(d_inner, recurrent_t)
            return i + 1, d_prev, d_proj_a.write(t, d_proj), d_inner_a.write(t, d_inner)

        _, _, d_proj_a, d_inner_a = tf.while_loop(
            lambda i, *_: i < steps, back,
            (0, tf.zeros([batch, units], projected.dtype),
             tf.TensorArray(projected.dtype, size=steps),
             tf.TensorArray(projected.dtype, size=steps)))
        d_inner = tf.reshape(d_inner_a.stack(), [-1, 3 * units])
        d_kernel = tf.matmul(tf.reshape(prev_all, [-1, units]), d_inner, transpose_a=True)
        return d_proj_a.stack(), d_kernel, tf.reduce_sum(d_inner, axis=0)

    return outputs, grad


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
