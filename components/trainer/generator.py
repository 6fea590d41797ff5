"""NameGenerator: the trained weights in a fused form, and the in-graph samplers and scorer.

`serving_default` and `sample` run the whole sampling loop in the graph; `score` is the honest
likelihood (no sampler control ever touches it). Token policies are small functions in
sampling.py; this module runs the loop and the per-request rounds (no-copy, unique).
"""

from __future__ import annotations

import tensorflow as tf

from components.trainer import calibration, sampling
from components.trainer.model import NameModel, gru_cell
from data import encoding
from serving import contract

MAX_RETRIES = 10  # no_copy and unique: resampling rounds before giving up
_RETRY_STRIDE = 0x5DEECE66D  # seed offset per retry


def _max_or_zero(values: tf.Tensor) -> tf.Tensor:
    return tf.reduce_max(tf.concat([values, tf.zeros([1], values.dtype)], axis=0))


def _specs(inputs: dict[str, tuple[str, object]]) -> list[tf.TensorSpec]:
    return [tf.TensorSpec([None], dtype, name=key) for key, (dtype, _) in inputs.items()]


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
        # One end-of-name logit per name length so far, fitted at export (calibration.py);
        # applied by the generation signatures when length_calibration is on, never by score.
        self.end_bias = tf.Variable(tf.zeros([encoding.SEQUENCE_LENGTH]), trainable=False)
        # The case transitions the training names make (calibration.case_transitions), applied
        # with the end-of-name bias: each token's case class, and which class may follow which.
        self.token_case = tf.constant(
            [calibration.BOUNDARY if t in encoding.RESERVED_TOKENS else calibration.case_class(t)
             for t in vocabulary] + [calibration.BOUNDARY] * encoding.NUM_OOV_BUCKETS, tf.int32)
        self.case_allowed = tf.constant(calibration.case_transitions(training_names))

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

    @tf.function(input_signature=_specs(contract.GENERATION_INPUTS))
    def generate(self, prefix, temperature, seed, max_length, top_k, top_p, min_length, no_copy):
        """serving_default: one name per row, with the served sampler's fixed controls.

        The controls it does not take are contract.SERVING_DEFAULT_CONTROLS (length
        calibration and tail cut as served, no de-duplication).
        """
        batch = tf.shape(prefix)[0]
        fixed = contract.SERVING_DEFAULT_CONTROLS
        return self._generate(prefix, temperature, seed, max_length, top_k, top_p, min_length,
                              no_copy, tf.fill([batch], float(fixed["eta"])),
                              tf.fill([batch], bool(fixed["length_calibration"])),
                              tf.fill([batch], int(fixed["unique"])))

    @tf.function(input_signature=_specs(contract.SAMPLE_INPUTS))
    def sample(self, prefix, temperature, seed, max_length, top_k, top_p, min_length, no_copy,
               eta, length_calibration, unique):
        """`sample`: every control; all neutral is the raw model's own distribution."""
        return self._generate(prefix, temperature, seed, max_length, top_k, top_p, min_length,
                              no_copy, eta, length_calibration, unique)

    def _generate(self, prefix, temperature, seed, max_length, top_k, top_p, min_length, no_copy,
                  eta, length_calibration, unique):
        """Sample one name per row; the same inputs in a row give the same name in any batch.

        Neutral values switch a control off: top_k 0, top_p 1, eta 0, min_length 0, no_copy
        false, length_calibration false, unique 0. With no_copy, a name that matches a training
        name is resampled; with unique, a name that an earlier row of its request holds
        (first occurrences are kept). Both in bounded rounds, row seed + round * stride.
        """
        batch = tf.shape(prefix)[0]
        per_row = [("temperature", temperature), ("seed", seed), ("max_length", max_length),
                   ("top_k", top_k), ("top_p", top_p), ("min_length", min_length),
                   ("no_copy", no_copy), ("eta", eta), ("length_calibration", length_calibration),
                   ("unique", unique)]
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
            _check((eta >= 0.0) & (eta < 1.0), "eta must be in [0, 1) (0 = off), got", eta),
            _check(min_length >= 0, "min_length must be >= 0, got", min_length),
            _check(unique >= 0, "unique must be >= 0 (0 = off), got", unique),
        ]
        with tf.control_dependencies(checks):
            group, well_formed = sampling.request_groups(unique)
        with tf.control_dependencies([_check(
                well_formed, "unique must be 0, or n in each of the n consecutive rows of a "
                "request; got", unique)]):
            prefix_ids, prefix_lengths = self._encode(prefix, "prefix")
        limit = tf.minimum(max_length, encoding.MAX_NAME_LENGTH)
        with tf.control_dependencies([
            _check(prefix_lengths <= limit, "prefix is longer than max_length:", prefix)
        ]):
            limit = tf.identity(limit)
        controls = (temperature, top_k, top_p, min_length, limit, eta, length_calibration)
        deduplicate = unique > 0

        def rejected(names):
            return no_copy & self._is_training_name(names)

        first = self._sample(prefix_ids, prefix_lengths, seed, *controls)
        keys = sampling.name_keys(first["name"])
        kept = ~rejected(first["name"]) & ~(
            deduplicate & sampling.repeats_earlier_row(keys, group))

        def attempt(retry, result, keys, kept):
            rows = self._sample(prefix_ids, prefix_lengths, seed + retry * _RETRY_STRIDE,
                                *controls)
            new_keys = sampling.name_keys(rows["name"])
            take = ~kept & ~rejected(rows["name"]) & ~(deduplicate & (
                sampling.taken_in_group(new_keys, keys, kept, group)
                | sampling.repeats_earlier_row(new_keys, group, ~kept)))
            merged = {k: tf.where(take, rows[k], v) for k, v in result.items()}
            return retry + 1, merged, tf.where(take, new_keys, keys), kept | take

        def left_to_redo(retry, result, keys, kept):
            return (retry <= MAX_RETRIES) & ~tf.reduce_all(kept)

        _, result, _, _ = tf.while_loop(
            left_to_redo, attempt, (tf.constant(1, tf.int64), first, keys, kept))
        return result

    def calibrate_lengths(self, training_names: list[str],
                          rounds: int = calibration.ROUNDS) -> list[dict]:
        """Fits end_bias so the served sampler's lengths match training_names'; the rounds."""
        n, served = calibration.SAMPLES, contract.SAMPLER

        @tf.function
        def lengths(seeds):
            def fill(key, dtype):
                return tf.fill([n], tf.constant(served[key], dtype))

            return self._sample(
                tf.zeros([n, encoding.SEQUENCE_LENGTH], tf.int32), tf.zeros([n], tf.int32), seeds,
                fill("temperature", tf.float32), fill("top_k", tf.int32),
                fill("top_p", tf.float32), fill("min_length", tf.int32),
                tf.fill([n], encoding.MAX_NAME_LENGTH), fill("eta", tf.float32),
                tf.fill([n], True))["length"]

        def sample_lengths(bias, round_):
            self.end_bias.assign(tf.constant(bias, tf.float32))
            start = calibration.SEED_BASE + round_ * n
            return lengths(tf.range(start, start + n, dtype=tf.int64)).numpy()

        bias, history = calibration.fit(sample_lengths, [len(name) for name in training_names],
                                        rounds)
        self.end_bias.assign(tf.constant(bias, tf.float32))
        return history

    def _is_training_name(self, names: tf.Tensor) -> tf.Tensor:
        return sampling.is_in_set(self.training_fingerprints, names)

    def _sample(self, prefix_ids, prefix_lengths, seed, temperature, top_k, top_p, min_length,
                limit, eta=None, length_calibration=None):
        """One sampled name per row: the loop; each step's policy is sampling.py's functions."""
        batch = tf.shape(prefix_ids)[0]
        eta = tf.zeros([batch]) if eta is None else eta
        calibrated = (tf.zeros([batch], tf.bool) if length_calibration is None
                      else length_calibration)
        steps = _max_or_zero(limit) + 1
        is_greedy = tf.equal(temperature, 0.0)
        # Loop invariants, out of the loop: every step's uniforms, and whether any row
        # truncates at all (else the two sorts of top-k/top-p are skipped).
        uniforms = sampling.uniform_per_row(seed[None, :], tf.range(steps)[:, None])
        truncating = (tf.reduce_any(top_k > 0) | tf.reduce_any(top_p < 1.0)
                      | tf.reduce_any(eta > 0.0))

        def body(t, tokens, states, finished, length, log_prob, out):
            logits, states = self._step_rows(tokens, states, ~finished)
            log_probs = tf.nn.log_softmax(logits)
            served = sampling.calibrate_end_of_name(log_probs, length, self.end_bias, calibrated)
            banned = (self.banned + sampling.min_length_ban(length, min_length, self.vocab_size)
                      + sampling.case_ban(tokens, self.token_case, self.case_allowed, calibrated))
            # bans stay absolute at any temperature
            scaled = sampling.apply_temperature(served, temperature) + banned
            sampled = sampling.draw(
                sampling.next_token_probs(scaled, top_k, top_p, truncating, eta), uniforms[t])
            chosen = tf.where(is_greedy, sampling.greedy(served + banned), sampled)
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


