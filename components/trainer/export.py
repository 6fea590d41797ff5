"""The serving SavedModel: raw strings in, finished names out, the sampling loop in the graph."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from components.trainer import sampling, warmup
from components.trainer.model import NameModel, gru_cell
from data import encoding
from serving import contract

MAX_RETRIES = 10  # no_copy: resampling attempts per row before giving up
_RETRY_STRIDE = 0x5DEECE66D  # seed offset per retry


def _max_or_zero(values: tf.Tensor) -> tf.Tensor:
    return tf.reduce_max(tf.concat([values, tf.zeros([1], values.dtype)], axis=0))


class NameGenerator(tf.Module):
    """Holds the trained weights in a fused form and the Transform layer for raw strings."""

    def __init__(self, model: NameModel, tft_layer, vocabulary: list[str],
                 training_names: list[str]):
        super().__init__()
        self.training_fingerprints = tf.Variable(sampling.fingerprints(training_names),
                                                 trainable=False)
        self.tft_layer = tft_layer  # an attribute, so its vocabulary tables are tracked and saved
        self.vocab_size = len(vocabulary) + encoding.NUM_OOV_BUCKETS
        self.oov_id = len(vocabulary)
        display = [t if t not in encoding.RESERVED_TOKENS else "" for t in vocabulary]
        self.id_to_char = tf.constant(display + [""] * encoding.NUM_OOV_BUCKETS)
        embedding = model.input_embeddings()
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
        self.output_kernel = tf.Variable(model.output_kernel())
        self.output_bias = tf.Variable(model.output_bias())
        self.units = int(recurrent_kernels[0].shape[0])
        # Sampling never emits these: padding, and characters never seen in training.
        self.banned = sampling.banned_ids(
            self.vocab_size, [encoding.PAD_ID] + list(range(self.oov_id, self.vocab_size)))

    # --- the recurrent step shared by scoring and generation -----------------------------
    def _step(self, tokens: tf.Tensor, states: list[tf.Tensor]) -> tuple[tf.Tensor, list]:
        x = tf.gather(self.input_table, tokens)
        new_states = []
        for layer, state in enumerate(states):
            if layer:
                x = tf.matmul(x, self.kernels[layer - 1]) + self.input_biases[layer - 1]
            x = gru_cell(x, state, self.recurrent_kernels[layer],
                         self.recurrent_biases[layer]).state
            new_states.append(x)
        return tf.matmul(x, self.output_kernel) + self.output_bias, new_states

    def _step_rows(self, tokens: tf.Tensor, states: list[tf.Tensor],
                   active: tf.Tensor) -> tuple[tf.Tensor, list]:
        """_step on the active rows only (compacted), so finished rows cost no matmul.

        Inactive rows keep their states and get zero logits, which callers ignore.
        """
        rows = tf.where(active)
        logits, new_states = self._step(tf.gather_nd(tokens, rows),
                                        [tf.gather_nd(state, rows) for state in states])
        full_logits = tf.scatter_nd(rows, logits, [tf.shape(tokens)[0], self.vocab_size])
        return full_logits, [tf.tensor_scatter_nd_update(state, rows, new)
                             for state, new in zip(states, new_states)]

    def _initial_states(self, batch: tf.Tensor) -> list[tf.Tensor]:
        return [tf.zeros([batch, self.units]) for _ in self.recurrent_kernels]

    def _encode(self, texts: tf.Tensor, what: str, allow_unknown: bool = False
                ) -> tuple[tf.Tensor, tf.Tensor]:
        """Raw strings -> (ids with end-of-name, padded; lengths), via the Transform graph.

        Scoring keeps unseen characters as the OOV id (as the Trainer's eval loss does);
        generation refuses a prefix with them, naming the characters.
        """
        printable = tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace")
        invalid = tf.boolean_mask(printable, tf.not_equal(printable, texts))
        with tf.control_dependencies([
            tf.debugging.Assert(tf.size(invalid) == 0,
                                [f"{what} is not valid UTF-8:", invalid[:3]])
        ]):
            lengths = tf.strings.length(texts, unit="UTF8_CHAR")
        too_long = tf.boolean_mask(printable, lengths > encoding.MAX_NAME_LENGTH)
        with tf.control_dependencies([
            tf.debugging.Assert(
                tf.size(too_long) == 0,
                [f"{what} longer than {encoding.MAX_NAME_LENGTH} characters:", too_long[:3]],
            )
        ]):
            features = self.tft_layer({encoding.NAME_FEATURE: tf.reshape(texts, [-1, 1])})
        ids = tf.cast(features[encoding.IDS_FEATURE], tf.int32)
        chars = tf.strings.unicode_split(texts, "UTF-8").to_tensor(
            "", shape=[None, encoding.SEQUENCE_LENGTH]
        )
        unknown = tf.boolean_mask(chars, ids >= self.oov_id)
        with tf.control_dependencies([] if allow_unknown else [
            tf.debugging.Assert(
                tf.size(unknown) == 0,
                [f"{what} has characters outside the vocabulary:", unknown[:10]],
                summarize=10,
            )
        ]):
            return tf.identity(ids), tf.identity(lengths)

    # --- signatures -----------------------------------------------------------------------
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.SCORE_INPUT)])
    def score(self, name: tf.Tensor) -> dict[str, tf.Tensor]:
        """Log-likelihood of each name (end-of-name included) under the model.

        position_log_probs[i, t] is log p(character t | the characters before it) for t below
        the name's length, then the end-of-name's at t = length; later positions are 0.
        """
        targets, lengths = self._encode(name, "name", allow_unknown=True)
        batch = tf.shape(targets)[0]
        steps = _max_or_zero(lengths) + 1
        inputs = tf.concat([tf.fill([batch, 1], encoding.EON_ID), targets[:, :-1]], axis=1)

        def body(t, states, total, positions):
            logits, states = self._step_rows(inputs[:, t], states, t <= lengths)
            log_probs = tf.nn.log_softmax(logits)
            picked = tf.where(t <= lengths, tf.gather(log_probs, targets[:, t], batch_dims=1), 0.0)
            column = tf.one_hot(t, encoding.SEQUENCE_LENGTH)[None, :]
            return t + 1, states, total + picked, positions + picked[:, None] * column

        _, _, total, positions = tf.while_loop(
            lambda t, *_: t < steps, body,
            (0, self._initial_states(batch), tf.zeros([batch]),
             tf.zeros([batch, encoding.SEQUENCE_LENGTH])),
        )
        count = lengths + 1
        return {
            "log_likelihood": total,
            "num_predictions": count,
            "nats_per_char": -total / tf.cast(count, tf.float32),
            "position_log_probs": positions,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], dtype, name=key)
                                  for key, (dtype, _) in contract.GENERATION_INPUTS.items()])
    def generate(self, prefix, temperature, seed, max_length, top_k, top_p, min_length, no_copy):
        """Sample one name per row; the same inputs in a row give the same name in any batch.

        Neutral values switch a control off: top_k 0, top_p 1, min_length 0, no_copy false.
        With no_copy, a name that exactly matches a training name is resampled (bounded).
        """
        batch = tf.shape(prefix)[0]
        per_row = [("temperature", temperature), ("seed", seed), ("max_length", max_length),
                   ("top_k", top_k), ("top_p", top_p), ("min_length", min_length),
                   ("no_copy", no_copy)]
        checks = [
            tf.debugging.assert_equal(tf.shape(value)[0], batch,
                                      message=f"{key} must have one value per prefix")
            for key, value in per_row
        ] + [
            _check(tf.math.is_finite(temperature) & (temperature >= 0.0),
                   "temperature must be finite and >= 0, got", temperature),
            _check(max_length >= 0, "max_length must be >= 0, got", max_length),
            _check(top_k >= 0, "top_k must be >= 0 (0 = off), got", top_k),
            _check((top_p > 0.0) & (top_p <= 1.0), "top_p must be in (0, 1] (1 = off), got",
                   top_p),
            _check(min_length >= 0, "min_length must be >= 0, got", min_length),
        ]
        with tf.control_dependencies(checks):
            prefix_ids, prefix_lengths = self._encode(prefix, "prefix")
        limit = tf.minimum(max_length, encoding.MAX_NAME_LENGTH)
        with tf.control_dependencies([
            _check(prefix_lengths <= limit, "prefix is longer than max_length:", prefix)
        ]):
            limit = tf.identity(limit)
        controls = (temperature, top_k, top_p, min_length, limit)

        def attempt(retry, result):
            rows = self._sample(prefix_ids, prefix_lengths, seed + retry * _RETRY_STRIDE,
                                *controls)
            redo = no_copy & self._is_training_name(result["name"])
            merged = {k: tf.where(redo, rows[k], v) for k, v in result.items()}
            return retry + 1, merged

        first = self._sample(prefix_ids, prefix_lengths, seed, *controls)

        def copies_left(retry, result):
            return (retry <= MAX_RETRIES) & tf.reduce_any(
                no_copy & self._is_training_name(result["name"]))

        _, result = tf.while_loop(copies_left, attempt, (tf.constant(1, tf.int64), first))
        return result

    def _is_training_name(self, names: tf.Tensor) -> tf.Tensor:
        return sampling.is_in_set(self.training_fingerprints, names)

    def _sample(self, prefix_ids, prefix_lengths, seed, temperature, top_k, top_p, min_length,
                limit):
        batch = tf.shape(prefix_ids)[0]
        steps = _max_or_zero(limit) + 1
        is_greedy = tf.equal(temperature, 0.0)
        # Loop invariants, out of the loop: every step's uniforms, and whether any row
        # truncates at all (else the two sorts of top-k/top-p are skipped).
        uniforms = sampling.uniform_per_row(seed[None, :], tf.range(steps)[:, None])
        truncating = tf.reduce_any(top_k > 0) | tf.reduce_any(top_p < 1.0)

        def body(t, tokens, states, finished, length, log_prob, out):
            logits, states = self._step_rows(tokens, states, ~finished)
            log_probs = tf.nn.log_softmax(logits)
            banned = self.banned + sampling.min_length_ban(length, min_length, self.vocab_size)
            # bans stay absolute at any temperature
            scaled = sampling.apply_temperature(log_probs, temperature) + banned
            sampled = sampling.draw(
                sampling.next_token_probs(scaled, top_k, top_p, truncating), uniforms[t])
            chosen = tf.where(is_greedy, sampling.greedy(log_probs + banned), sampled)
            forced = t < prefix_lengths
            chosen = tf.where(
                forced, prefix_ids[:, tf.minimum(t, encoding.SEQUENCE_LENGTH - 1)], chosen
            )
            chosen = tf.where(length >= limit, encoding.EON_ID, chosen)  # at the cap: stop
            active = ~finished
            ends = tf.equal(chosen, encoding.EON_ID)
            log_prob += tf.where(active & (length < limit),
                                 tf.gather(log_probs, chosen, batch_dims=1), 0.0)
            out = out.write(t, tf.where(active & ~ends, chosen, encoding.PAD_ID))
            length += tf.cast(active & ~ends, tf.int32)
            return t + 1, chosen, states, finished | ends, length, log_prob, out

        def keep_going(t, tokens, states, finished, *_):
            return (t < steps) & ~tf.reduce_all(finished)

        _, _, _, _, length, log_prob, out = tf.while_loop(
            keep_going,
            body,
            (
                0,
                tf.fill([batch], encoding.EON_ID),
                self._initial_states(batch),
                tf.zeros([batch], tf.bool),
                tf.zeros([batch], tf.int32),
                tf.zeros([batch]),
                tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[None]),
            ),
        )
        ids = tf.reshape(tf.transpose(out.stack()), [batch, -1])
        names = tf.strings.reduce_join(tf.gather(self.id_to_char, ids), axis=1)
        return {"name": names, "log_prob": log_prob, "length": length}


def _check(condition: tf.Tensor, message: str, values: tf.Tensor) -> tf.Operation:
    return tf.debugging.Assert(tf.reduce_all(condition), [message, values], summarize=8)


def export(
    model: NameModel,
    tft_output,
    path: str,
    metadata: dict,
    training_names: list[str],
) -> NameGenerator:
    """Write the SavedModel with `serving_default` (generation) and `score` signatures."""
    vocabulary = [t.decode("utf-8") if isinstance(t, bytes) else t
                  for t in tft_output.vocabulary_by_name(encoding.VOCAB_NAME)]
    generator = NameGenerator(model, tft_output.transform_features_layer(), vocabulary,
                              training_names)
    signatures = {
        contract.GENERATE_SIGNATURE: generator.generate.get_concrete_function(),
        contract.SCORE_SIGNATURE: generator.score.get_concrete_function(),
    }
    tf.saved_model.save(generator, path, signatures=signatures)
    extra = os.path.join(path, contract.ASSETS_EXTRA)
    tf.io.gfile.makedirs(extra)
    described = dict(
        metadata,
        vocabulary=vocabulary,
        pad_token=encoding.PAD_TOKEN,
        eon_token=encoding.EON_TOKEN,
        pad_id=encoding.PAD_ID,
        eon_id=encoding.EON_ID,
        oov_ids=list(range(len(vocabulary), len(vocabulary) + encoding.NUM_OOV_BUCKETS)),
        max_name_length=encoding.MAX_NAME_LENGTH,
        training_name_set={"names": len(set(training_names)),
                           "bytes": int(generator.training_fingerprints.numpy().nbytes)},
    )
    with tf.io.gfile.GFile(os.path.join(extra, contract.METADATA_FILE_NAME), "w") as f:
        f.write(json.dumps(described, indent=2, ensure_ascii=False))
    # TF Serving replays these before a version takes traffic
    with tf.io.gfile.GFile(os.path.join(extra, contract.WARMUP_FILE_NAME), "wb") as f:
        f.write(warmup.warmup_requests())
    return generator
