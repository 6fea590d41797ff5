"""The GRU on a GPU: tf_keras' cuDNN kernel over the same weights as the fused CPU loop.

`model.gru_sequence` (a fused while-loop with a custom gradient) is fastest on CPU. On a GPU,
cuDNN's GRU runs the whole sequence in one kernel; tf_keras' `gpu_gru` takes the Keras layer's
kernel, recurrent kernel and [2, 3 units] bias as they are, so checkpoints and export are
unchanged. `standard_gru` is its CPU twin with the same arguments (what the unit test checks).
"""

from __future__ import annotations

import functools

import tensorflow as tf
from tf_keras.src.layers.rnn import gru as keras_gru


@functools.lru_cache(maxsize=1)
def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU (then training uses the cuDNN kernel)."""
    return bool(tf.config.list_logical_devices("GPU"))


def keras_gru_sequence(inputs: tf.Tensor, kernel: tf.Tensor, recurrent_kernel: tf.Tensor,
                       bias: tf.Tensor, cudnn: bool = True) -> tf.Tensor:
    """tf_keras GRU (reset_after, zero initial state) over [batch, time, features].

    cudnn=True runs cuDNN (needs a GPU); False runs Keras' standard loop with the same weights.
    """
    initial = tf.zeros([tf.shape(inputs)[0], tf.shape(recurrent_kernel)[0]], inputs.dtype)
    common = dict(inputs=inputs, init_h=initial, kernel=kernel, recurrent_kernel=recurrent_kernel,
                  bias=bias, mask=None, time_major=False, go_backwards=False,
                  sequence_lengths=None, return_sequences=True)
    if cudnn:
        _, outputs, _, _ = keras_gru.gpu_gru(**common)
    else:
        _, outputs, _, _ = keras_gru.standard_gru(zero_output_for_mask=False, **common)
    return outputs
