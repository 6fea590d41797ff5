"""The serving SavedModel: raw strings in, finished names out, the sampling loop in the graph."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from components.trainer.model import NameModel
from pipeline import configs

METADATA_FILE = "namegen.json"  # in assets.extra: vocabulary, tokens, lengths, preset, metrics

_GOLDEN = tf.constant(0x9E3779B97F4A7C15, tf.uint64)
_MIX1 = tf.constant(0xBF58476D1CE4E5B9, tf.uint64)
_MIX2 = tf.constant(0x94D049BB133111EB, tf.uint64)


def uniform_per_row(seed: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
    """A uniform in [0, 1) from (row seed, step) alone (splitmix64), so rows never interact."""
    x = tf.bitcast(seed, tf.uint64) * _GOLDEN + tf.cast(step + 1, tf.uint64) * _MIX1
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(30, tf.uint64))) * _MIX1
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(27, tf.uint64))) * _MIX2
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, tf.constant(31, tf.uint64)))
    top53 = tf.cast(tf.bitwise.right_shift(x, tf.constant(11, tf.uint64)), tf.float64)
    return tf.cast(top53 * (2.0**-53), tf.float32)


def _max_or_zero(values: tf.Tensor) -> tf.Tensor:
    return tf.reduce_max(tf.concat([values, tf.zeros([1], values.dtype)], axis=0))


class NameGenerator(tf.Module):
    """Holds the trained weights in a fused form and the Transform layer for raw strings."""

    def __init__(self, model: NameModel, tft_layer, vocabulary: list[str]):
        super().__init__()
        self.tft_layer = tft_layer  # an attribute, so its vocabulary tables are tracked and saved
        self.vocab_size = len(vocabulary) + configs.NUM_OOV_BUCKETS
        self.oov_id = len(vocabulary)
        display = [t if t not in configs.RESERVED_TOKENS else "" for t in vocabulary]
        self.id_to_char = tf.constant(display + [""] * configs.NUM_OOV_BUCKETS)
        embedding = model.embedding.embeddings
        kernels, recurrent_kernels, biases = [], [], []
        for gru in model.grus:
            kernel, recurrent_kernel, bias = gru.cell.weights
            kernels.append(kernel)
            recurrent_kernels.append(tf.Variable(recurrent_kernel))
            biases.append(bias)
        # The embedding and first input projection fold into one table: one gather per step.
        self.input_table = tf.Variable(tf.matmul(embedding, kernels[0]) + biases[0][0])
        self.kernels = [tf.Variable(k) for k in kernels[1:]]
        self.input_biases = [tf.Variable(b[0]) for b in biases[1:]]
        self.recurrent_kernels = recurrent_kernels
        self.recurrent_biases = [tf.Variable(b[1]) for b in biases]
        self.output_kernel = tf.Variable(model.dense.kernel)
        self.output_bias = tf.Variable(model.dense.bias)
        self.units = int(recurrent_kernels[0].shape[0])
        # Sampling never emits these: padding, and characters never seen in training.
        banned = [configs.PAD_ID] + list(range(self.oov_id, self.vocab_size))
        self.banned = tf.constant(
            [-1e9 if i in banned else 0.0 for i in range(self.vocab_size)], tf.float32
        )

    # --- the recurrent step shared by scoring and generation -----------------------------
    def _step(self, tokens: tf.Tensor, states: list[tf.Tensor]) -> tuple[tf.Tensor, list]:
        x = tf.gather(self.input_table, tokens)
        new_states = []
        for layer, state in enumerate(states):
            if layer:
                x = tf.matmul(x, self.kernels[layer - 1]) + self.input_biases[layer - 1]
            inner = tf.matmul(state, self.recurrent_kernels[layer]) + self.recurrent_biases[layer]
            x_z, x_r, x_h = tf.split(x, 3, axis=-1)
            h_z, h_r, h_h = tf.split(inner, 3, axis=-1)
            z = tf.sigmoid(x_z + h_z)
            r = tf.sigmoid(x_r + h_r)
            state = z * state + (1.0 - z) * tf.tanh(x_h + r * h_h)
            new_states.append(state)
            x = state
        return tf.matmul(x, self.output_kernel) + self.output_bias, new_states

    def _initial_states(self, batch: tf.Tensor) -> list[tf.Tensor]:
        return [tf.zeros([batch, self.units]) for _ in self.recurrent_kernels]

    def _encode(self, texts: tf.Tensor, what: str) -> tuple[tf.Tensor, tf.Tensor]:
        """Raw strings -> (ids with end-of-name, padded; lengths), via the Transform graph."""
        lengths = tf.strings.length(texts, unit="UTF8_CHAR")
        too_long = tf.boolean_mask(texts, lengths > configs.MAX_NAME_LENGTH)
        with tf.control_dependencies([
            tf.debugging.Assert(
                tf.size(too_long) == 0,
                [f"{what} longer than {configs.MAX_NAME_LENGTH} characters:", too_long[:3]],
            )
        ]):
            features = self.tft_layer({configs.NAME_FEATURE: tf.reshape(texts, [-1, 1])})
        ids = tf.cast(features[configs.IDS_FEATURE], tf.int32)
        chars = tf.strings.unicode_split(texts, "UTF-8").to_tensor(
            "", shape=[None, configs.SEQUENCE_LENGTH]
        )
        unknown = tf.boolean_mask(chars, ids >= self.oov_id)
        with tf.control_dependencies([
            tf.debugging.Assert(
                tf.size(unknown) == 0,
                [f"{what} has characters outside the vocabulary:", unknown[:10]],
                summarize=10,
            )
        ]):
            return tf.identity(ids), tf.identity(lengths)

    # --- signatures -----------------------------------------------------------------------
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="name")])
    def score(self, name: tf.Tensor) -> dict[str, tf.Tensor]:
        """Log-likelihood of each name (end-of-name included) under the model."""
        targets, lengths = self._encode(name, "name")
        batch = tf.shape(targets)[0]
        steps = _max_or_zero(lengths) + 1
        inputs = tf.concat([tf.fill([batch, 1], configs.EON_ID), targets[:, :-1]], axis=1)

        def body(t, states, total):
            logits, states = self._step(inputs[:, t], states)
            log_probs = tf.nn.log_softmax(logits)
            picked = tf.gather(log_probs, targets[:, t], batch_dims=1)
            return t + 1, states, total + tf.where(t <= lengths, picked, 0.0)

        _, _, total = tf.while_loop(
            lambda t, *_: t < steps, body, (0, self._initial_states(batch), tf.zeros([batch]))
        )
        count = lengths + 1
        return {
            "log_likelihood": total,
            "num_predictions": count,
            "nats_per_char": -total / tf.cast(count, tf.float32),
        }

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.string, name="prefix"),
            tf.TensorSpec([None], tf.float32, name="temperature"),
            tf.TensorSpec([None], tf.int64, name="seed"),
            tf.TensorSpec([None], tf.int32, name="max_length"),
        ]
    )
    def generate(self, prefix, temperature, seed, max_length) -> dict[str, tf.Tensor]:
        """Sample one name per row; the same (prefix, temperature, seed) gives the same name."""
        batch = tf.shape(prefix)[0]
        checks = [
            tf.debugging.assert_equal(tf.shape(temperature)[0], batch,
                                      message="temperature must have one value per prefix"),
            tf.debugging.assert_equal(tf.shape(seed)[0], batch,
                                      message="seed must have one value per prefix"),
            tf.debugging.assert_equal(tf.shape(max_length)[0], batch,
                                      message="max_length must have one value per prefix"),
            tf.debugging.Assert(
                tf.reduce_all(tf.math.is_finite(temperature) & (temperature >= 0.0)),
                ["temperature must be finite and >= 0, got", temperature], summarize=8),
            tf.debugging.Assert(tf.reduce_all(max_length >= 0),
                                ["max_length must be >= 0, got", max_length], summarize=8),
        ]
        with tf.control_dependencies(checks):
            prefix_ids, prefix_lengths = self._encode(prefix, "prefix")
        limit = tf.minimum(max_length, configs.MAX_NAME_LENGTH)
        with tf.control_dependencies([
            tf.debugging.Assert(tf.reduce_all(prefix_lengths <= limit),
                                ["prefix is longer than max_length"])
        ]):
            steps = _max_or_zero(limit) + 1
        greedy = tf.equal(temperature, 0.0)
        inverse_t = tf.where(greedy, 1.0, 1.0 / tf.where(greedy, 1.0, temperature))[:, None]

        def body(t, tokens, states, finished, length, log_prob, out):
            logits, states = self._step(tokens, states)
            log_probs = tf.nn.log_softmax(logits)
            scaled = tf.nn.softmax((log_probs + self.banned) * inverse_t)
            cumulative = tf.cumsum(scaled, axis=-1)
            u = uniform_per_row(seed, t)[:, None] * cumulative[:, -1:]
            sampled = tf.minimum(
                tf.reduce_sum(tf.cast(cumulative <= u, tf.int32), axis=-1), self.vocab_size - 1
            )
            best = tf.argmax(log_probs + self.banned, axis=-1, output_type=tf.int32)
            chosen = tf.where(greedy, best, sampled)
            forced = t < prefix_lengths
            chosen = tf.where(forced, prefix_ids[:, tf.minimum(t, configs.SEQUENCE_LENGTH - 1)],
                              chosen)
            chosen = tf.where(length >= limit, configs.EON_ID, chosen)  # at the cap: stop
            active = ~finished
            ends = tf.equal(chosen, configs.EON_ID)
            log_prob += tf.where(active & (length < limit),
                                 tf.gather(log_probs, chosen, batch_dims=1), 0.0)
            emitted = tf.where(active & ~ends, chosen, configs.PAD_ID)
            out = out.write(t, emitted)
            length += tf.cast(active & ~ends, tf.int32)
            return t + 1, chosen, states, finished | ends, length, log_prob, out

        def keep_going(t, tokens, states, finished, *_):
            return (t < steps) & ~tf.reduce_all(finished)

        _, _, _, _, length, log_prob, out = tf.while_loop(
            keep_going,
            body,
            (
                0,
                tf.fill([batch], configs.EON_ID),
                self._initial_states(batch),
                tf.zeros([batch], tf.bool),
                tf.zeros([batch], tf.int32),
                tf.zeros([batch]),
                tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None]),
            ),
        )
        ids = tf.transpose(out.stack())  # [batch, steps taken]
        ids = tf.reshape(ids, [batch, -1])
        names = tf.strings.reduce_join(tf.gather(self.id_to_char, ids), axis=1)
        return {"name": names, "log_prob": log_prob, "length": length}


def export(
    model: NameModel,
    tft_output,
    path: str,
    metadata: dict,
    extra_assets: dict[str, bytes] | None = None,
) -> NameGenerator:
    """Write the SavedModel with `serving_default` (generation) and `score` signatures."""
    vocabulary = [t.decode("utf-8") if isinstance(t, bytes) else t
                  for t in tft_output.vocabulary_by_name(configs.VOCAB_NAME)]
    generator = NameGenerator(model, tft_output.transform_features_layer(), vocabulary)
    signatures = {
        "serving_default": generator.generate.get_concrete_function(),
        "score": generator.score.get_concrete_function(),
    }
    tf.saved_model.save(generator, path, signatures=signatures)
    extra = os.path.join(path, "assets.extra")
    tf.io.gfile.makedirs(extra)
    described = dict(
        metadata,
        vocabulary=vocabulary,
        pad_token=configs.PAD_TOKEN,
        eon_token=configs.EON_TOKEN,
        pad_id=configs.PAD_ID,
        eon_id=configs.EON_ID,
        oov_ids=list(range(len(vocabulary), len(vocabulary) + configs.NUM_OOV_BUCKETS)),
        max_name_length=configs.MAX_NAME_LENGTH,
    )
    with tf.io.gfile.GFile(os.path.join(extra, METADATA_FILE), "w") as f:
        f.write(json.dumps(described, indent=2, ensure_ascii=False))
    for filename, content in (extra_assets or {}).items():
        with tf.io.gfile.GFile(os.path.join(extra, filename), "wb") as f:
            f.write(content)
    return generator
