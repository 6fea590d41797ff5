"""The model: Embedding -> GRU (1 or more layers) -> Dense over the Transform vocabulary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import tensorflow as tf
import tf_keras

from components.trainer.cudnn import gpu_visible, keras_gru_sequence
from data import encoding
from pipeline.configs import Hyperparameters


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
        weight_drop: float = 0.0,
        locked_dropout: bool = False,
        tie_embeddings: bool = False,
        case_sharing: bool = False,
        vocabulary: Sequence[str] = (),
        **_: object,
    ):
        super().__init__()
        self.vocab_size = vocab_size
        self.vocabulary = list(vocabulary)
        self.weight_drop = weight_drop
        self.embedding = tf_keras.layers.Embedding(vocab_size, embedding_dim)
        # Case sharing: "A" is "a" plus one learned case vector, at the input and the output.
        self.case_sharing = case_sharing
        if case_sharing:
            if not vocabulary:
                raise ValueError("case_sharing needs the vocabulary: build_model(..., vocabulary)")
            base, shifted = case_partners(vocabulary, vocab_size)
            self.case_base = tf.constant(base, tf.int64)
            self.case_shifted = tf.constant(shifted, tf.float32)
            self.case_input = self.add_weight("case_input", [embedding_dim], initializer="zeros")
            self.case_output = self.add_weight("case_output", [rnn_units], initializer="zeros")
        # Locked (variational) dropout: one mask per name, shared by all its steps.
        noise_shape = (None, 1, None) if locked_dropout else None
        self.embedding_dropout = tf_keras.layers.Dropout(embedding_dropout, noise_shape)
        self.grus = [
            tf_keras.layers.GRU(rnn_units, return_sequences=True,
                                recurrent_dropout=recurrent_dropout)  # one mask per sequence
            for _ in range(num_layers)
        ]
        self.output_dropout = tf_keras.layers.Dropout(dropout, noise_shape)
        # Tied embeddings: the output layer scores characters against their input embeddings.
        if tie_embeddings:
            self.tied_projection = tf_keras.layers.Dense(embedding_dim, use_bias=False)
            self.tied_bias = self.add_weight("tied_bias", [vocab_size], initializer="zeros")
        else:
            self.tied_projection = None
            self.dense = tf_keras.layers.Dense(vocab_size)

    def call(self, token_ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        embedded = (tf.gather(self.input_embeddings(), token_ids) if self.case_sharing
                    else self.embedding(token_ids))
        x = self.embedding_dropout(embedded, training=training)
        for gru in self.grus:
            if training and gru.recurrent_dropout:
                x = gru(x, training=training)  # Keras' loop applies the recurrent mask
            else:
                if not gru.built:
                    gru.build(x.shape)
                # Tensors, not variables: a strategy's mirrored variables must be read here.
                kernel, recurrent_kernel, bias = map(tf.convert_to_tensor, gru.cell.weights)
                if training and self.weight_drop:  # DropConnect on the recurrent weights
                    recurrent_kernel = tf.nn.dropout(recurrent_kernel, self.weight_drop)
                if gpu_visible():  # cuDNN's kernel, same weights (cudnn.py)
                    x = keras_gru_sequence(x, kernel, recurrent_kernel, bias)
                else:
                    x = gru_sequence(x, kernel, recurrent_kernel, bias)  # fused: faster
            x = self.output_dropout(x, training=training)
        if self.tied_projection is None and not self.case_sharing:
            return self.dense(x)
        return tf.einsum("btu,uv->btv", x, self.output_kernel()) + self.output_bias()

    def input_embeddings(self) -> tf.Tensor:
        """The [vocab, embedding_dim] table the model looks characters up in."""
        if not self.embedding.built:
            self.embedding.build([None, None])
        table = self.embedding.embeddings
        if not self.case_sharing:
            return table
        return tf.gather(table, self.case_base) + self.case_shifted[:, None] * self.case_input

    def output_kernel(self) -> tf.Tensor:
        """The [units, vocab] matrix from the last GRU's states to the logits."""
        if self.tied_projection is not None:
            if not self.tied_projection.built:
                self.tied_projection.build([None, self.grus[-1].units])
            return tf.matmul(self.tied_projection.kernel, self.input_embeddings(),
                             transpose_b=True)
        if not self.dense.built:
            self.dense.build([None, self.grus[-1].units])
        if not self.case_sharing:
            return self.dense.kernel
        return (tf.gather(self.dense.kernel, self.case_base, axis=1)
                + self.case_output[:, None] * self.case_shifted)

    def output_bias(self) -> tf.Tensor:
        return self.dense.bias if self.tied_projection is None else self.tied_bias


def decode_tokens(vocabulary: Sequence[str | bytes]) -> list[str]:
    """Vocabulary entries as text (tft returns bytes)."""
    return [t.decode("utf-8") if isinstance(t, bytes) else t for t in vocabulary]


def decode_ids(ids: np.ndarray, vocabulary: Sequence[str | bytes]) -> list[str]:
    """Id sequences back to the names they encode (special tokens and OOV dropped)."""
    reserved = len(encoding.RESERVED_TOKENS)
    table = np.array(["" if i < reserved else t for i, t in enumerate(decode_tokens(vocabulary))]
                     + [""] * encoding.NUM_OOV_BUCKETS, dtype=object)
    return ["".join(table[row]) for row in ids]


def case_partners(vocabulary: Sequence[str], vocab_size: int) -> tuple[list[int], list[float]]:
    """For each id: the id of its lower-case partner (itself if none), and 1.0 if it has one."""
    tokens = decode_tokens(vocabulary)
    index = {token: i for i, token in enumerate(tokens)}
    base, shifted = list(range(vocab_size)), [0.0] * vocab_size
    for i, token in enumerate(tokens):
        lower = token.lower()
        if len(token) == 1 and lower != token and lower in index:
            base[i], shifted[i] = index[lower], 1.0
    return base, shifted


class GruStep(NamedTuple):
    """One GRU step's new state and the activations its backward pass needs."""

    state: tf.Tensor  # the new hidden state [batch, units]
    update: tf.Tensor  # z: how much of the old state is kept
    reset: tf.Tensor  # r: how much of the recurrent candidate term is let through
    candidate: tf.Tensor  # tanh(x_h + r * h_h)
    recurrent_candidate: tf.Tensor  # h_h: the candidate's third of state @ kernel + bias


def gru_cell(projected: tf.Tensor, state: tf.Tensor, recurrent_kernel: tf.Tensor,
             recurrent_bias: tf.Tensor) -> GruStep:
    """One step of tf_keras' GRU cell (reset_after=True, gates in z, r, h order).

    projected is the step's input already multiplied by the kernel plus the input bias; the
    training loop (`gru_sequence`) and the exported sampler both step through this function.
    """
    inner = tf.matmul(state, recurrent_kernel) + recurrent_bias
    x_z, x_r, x_h = tf.split(projected, 3, axis=-1)
    h_z, h_r, h_h = tf.split(inner, 3, axis=-1)
    z = tf.sigmoid(x_z + h_z)
    r = tf.sigmoid(x_r + h_r)
    candidate = tf.tanh(x_h + r * h_h)
    return GruStep(z * state + (1.0 - z) * candidate, z, r, candidate, h_h)


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
    initial = tf.zeros([batch, units], projected.dtype)
    saved = [tf.TensorArray(projected.dtype, size=steps) for _ in GruStep._fields]

    def body(t, state, *arrays):
        step = gru_cell(projected[t], state, recurrent_kernel, recurrent_bias)
        return (t + 1, step.state, *(a.write(t, v) for a, v in zip(arrays, step)))

    _, _, *arrays = tf.while_loop(lambda t, *_: t < steps, body, (0, initial, *saved))
    outputs, z_all, r_all, c_all, hin_all = (a.stack() for a in arrays)
    prev_all = tf.concat([initial[None], outputs], axis=0)[:steps]  # each step's old state

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


def build_model(vocab_size: int, hp: Hyperparameters,
                vocabulary: Sequence[str] = ()) -> NameModel:
    """The model for a Transform vocabulary (needed by case_sharing) of vocab_size ids."""
    model = NameModel(vocab_size, **hp.as_dict(), vocabulary=vocabulary)
    model(tf.zeros([1, 1], tf.int64))  # create the weights
    return model


def shift_right(targets: tf.Tensor) -> tf.Tensor:
    """Model inputs: end-of-name as the start token, then the targets shifted right by one."""
    start = tf.fill([tf.shape(targets)[0], 1], tf.constant(encoding.EON_ID, targets.dtype))
    return tf.concat([start, targets[:, :-1]], axis=1)


def sequence_loss(
    logits: tf.Tensor,
    targets: tf.Tensor,
    mask_padding: bool = True,
    label_smoothing: float = 0.0,
    smoothing_prior: tf.Tensor | None = None,
    soft_targets: tf.Tensor | None = None,
    soft_weight: float = 0.0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean cross-entropy per predicted token and the number of tokens it averages over.

    With mask_padding, positions after end-of-name (target PAD) do not count: the loss is
    nats per character, end-of-name included. Without it, padding counts too (the tutorial).
    Label smoothing spreads its share uniformly, or by smoothing_prior[target] if given.
    soft_targets (a teacher's distributions, like logits) then take soft_weight of the labels.
    """
    teacher = soft_targets is not None and (  # a weight tensor (a schedule's) is always on
        not isinstance(soft_weight, (int, float)) or soft_weight != 0)
    if label_smoothing or teacher:
        labels = tf.one_hot(targets, tf.shape(logits)[-1])
        if label_smoothing:
            spread = (tf.gather(smoothing_prior, targets) if smoothing_prior is not None
                      else tf.ones_like(labels) / tf.cast(tf.shape(logits)[-1], labels.dtype))
            labels = (1.0 - label_smoothing) * labels + label_smoothing * spread
        if teacher:
            labels = (1.0 - soft_weight) * labels + soft_weight * soft_targets
        losses = tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    else:
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)
    if mask_padding:
        weights = tf.cast(tf.not_equal(targets, encoding.PAD_ID), losses.dtype)
    else:
        weights = tf.ones_like(losses)
    count = tf.reduce_sum(weights)
    return tf.reduce_sum(losses * weights) / tf.maximum(count, 1.0), count


def case_smoothing_prior(vocabulary: Sequence[str], vocab_size: int) -> tf.Tensor:
    """Row t: label smoothing's share for target t, spread over the ids of t's case only.

    Upper-case letters smooth among upper-case letters, everything else (lower case, other
    characters, end-of-name) among everything else; padding gets none. Uniform smoothing
    instead teaches the model a little upper case after the first letter.
    """
    tokens = decode_tokens(vocabulary)
    upper = [len(t) == 1 and t.isupper() for t in tokens]
    upper += [False] * (vocab_size - len(tokens))
    same = tf.constant([[a == b and j != encoding.PAD_ID for j, b in enumerate(upper)]
                        for a in upper], tf.float32)
    return same / tf.reduce_sum(same, axis=1, keepdims=True)
