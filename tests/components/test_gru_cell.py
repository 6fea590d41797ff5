"""One GRU cell: the fused training path and the exported sampler against tf_keras' GRU layer.

The reference is tf_keras.layers.GRU itself (also what training runs with recurrent dropout),
differentiated by tf.GradientTape; our side is `gru_sequence` with its hand-written gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from components.trainer.export import NameGenerator
from components.trainer.model import build_model, gru_cell, gru_sequence
from data import encoding
from pipeline import configs

TOLERANCE = 1e-5  # relative to 1 + |Keras' value|


def _keras_gru(features: int, units: int, seed: int) -> tf_keras.layers.GRU:
    """A Keras GRU with random (not initializer-shaped) weights, biases included."""
    layer = tf_keras.layers.GRU(units, return_sequences=True)
    layer(tf.zeros([1, 1, features]))  # creates the weights
    for i, weight in enumerate(layer.weights):
        weight.assign(tf.random.stateless_normal(weight.shape, [seed, i]) * 0.6)
    return layer


NAMES = ("outputs", "inputs", "kernel", "recurrent_kernel", "bias")


def errors_against_keras(forward, batch: int, steps: int, features: int, units: int,
                         seed: int) -> dict[str, float]:
    """Largest |ours - Keras'| of the outputs and of each gradient, for a loss over ragged names.

    `forward(inputs, kernel, recurrent_kernel, bias)` is ours; the reference is the Keras layer
    with the same weights, differentiated by tf.GradientTape.
    """
    layer = _keras_gru(features, units, seed)
    inputs = tf.random.stateless_normal([batch, steps, features], [seed, 100])
    # Ragged lengths: a loss over each name's own steps only, as training masks padding.
    lengths = tf.random.stateless_uniform([batch], [seed, 101], 1, steps + 1, tf.int32)
    mask = tf.sequence_mask(lengths, steps, tf.float32)[:, :, None]
    upstream = tf.random.stateless_normal([batch, steps, units], [seed, 102])

    def loss_and_grads(run):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = run(inputs)
            loss = tf.reduce_sum(outputs * upstream * mask)
        return [outputs * mask, *tape.gradient(loss, [inputs, *layer.weights])]

    kernel, recurrent_kernel, bias = layer.cell.weights
    expected = loss_and_grads(layer)
    ours = loss_and_grads(lambda x: forward(x, kernel, recurrent_kernel, bias))
    return {name: float(np.max(np.abs(a - b) / (1.0 + np.abs(b))))
            for name, a, b in zip(NAMES, ours, expected)}


def with_a_wrong_gradient(name: str, factor: float):
    """gru_sequence with the same forward and its own gradient, one part scaled by factor."""
    def forward(inputs, kernel, recurrent_kernel, bias):
        @tf.custom_gradient
        def run(x, k, rk, b):
            with tf.GradientTape() as tape:
                tape.watch([x, k, rk, b])
                outputs = gru_sequence(x, k, rk, b)

            def grad(upstream):
                grads = tape.gradient(outputs, [x, k, rk, b], output_gradients=upstream)
                return [g * factor if part == name else g
                        for part, g in zip(NAMES[1:], grads)]
            return outputs, grad
        # identities: the custom gradient flows on to the Keras layer's variables
        return run(inputs, tf.identity(kernel), tf.identity(recurrent_kernel), tf.identity(bias))
    return forward


@pytest.mark.parametrize("batch,steps,features,units,seed", [
    (5, 9, 4, 6, 1), (3, 1, 2, 3, 2), (7, 16, 8, 5, 3),
])
def test_fused_forward_and_gradient_equal_the_keras_layer(batch, steps, features, units, seed):
    errors = errors_against_keras(gru_sequence, batch, steps, features, units, seed)
    assert all(error < TOLERANCE for error in errors.values()), errors


@pytest.mark.parametrize("part", NAMES[1:])
def test_a_wrong_custom_gradient_would_be_caught(part):
    """The check can fail: the hand-written gradient, off by 1e-3 in one part, is caught."""
    unchanged = errors_against_keras(with_a_wrong_gradient(part, 1.0), 5, 9, 4, 6, 1)
    assert all(error < TOLERANCE for error in unchanged.values()), unchanged  # the wrapper is exact
    errors = errors_against_keras(with_a_wrong_gradient(part, 1.001), 5, 9, 4, 6, 1)
    assert errors["outputs"] < TOLERANCE and errors[part] > TOLERANCE, errors


def test_one_cell_step_equals_the_keras_cell():
    layer = _keras_gru(3, 4, 11)
    kernel, recurrent_kernel, bias = layer.cell.weights
    x = tf.random.stateless_normal([6, 3], [11, 1])
    state = tf.random.stateless_normal([6, 4], [11, 2])
    expected, _ = layer.cell(x, [state])
    ours = gru_cell(tf.matmul(x, kernel) + bias[0], state, recurrent_kernel, bias[1]).state
    np.testing.assert_allclose(ours, expected, rtol=TOLERANCE, atol=TOLERANCE)


@pytest.mark.parametrize("levers", [{}, {"num_layers": 2, "rnn_units": 12},
                                    {"tie_embeddings": True, "case_sharing": True}])
def test_the_samplers_step_gives_the_training_models_logits(levers):
    """NameGenerator._step, fed a name token by token, matches the model's batched forward."""
    vocabulary = list(encoding.RESERVED_TOKENS) + list("abcAB")
    model = build_model(len(vocabulary) + encoding.NUM_OOV_BUCKETS,
                        configs.resolve("tiny", levers), vocabulary)
    for i, weight in enumerate(model.trainable_weights):
        weight.assign(tf.random.stateless_normal(weight.shape, [5, i]) * 0.5)
    generator = NameGenerator(model, tft_layer=None, vocabulary=vocabulary, training_names=[])
    tokens = tf.constant([[1, 2, 3, 5, 4, 6], [1, 6, 6, 2, 7, 3]], tf.int32)
    expected = model(tokens)
    states = generator._initial_states(tf.shape(tokens)[0])
    for t in range(tokens.shape[1]):
        logits, states = generator._step(tokens[:, t], states)
        np.testing.assert_allclose(logits, expected[:, t], rtol=TOLERANCE, atol=TOLERANCE)
