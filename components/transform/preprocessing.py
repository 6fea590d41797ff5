"""Transform: the character vocabulary (tft on Beam) and fixed-length id sequences."""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from data import encoding


def preprocessing_fn(
    inputs: dict[str, tf.Tensor], custom_config: dict | None = None
) -> dict[str, tf.Tensor]:
    """name -> ids: character ids, then end-of-name, padded to SEQUENCE_LENGTH."""
    names = tf.reshape(inputs[encoding.NAME_FEATURE], [-1])
    chars = tf.strings.unicode_split(names, "UTF-8")
    char_ids = tft.compute_and_apply_vocabulary(
        chars,
        reserved_tokens=list(encoding.RESERVED_TOKENS),
        num_oov_buckets=encoding.NUM_OOV_BUCKETS,
        vocab_filename=encoding.VOCAB_NAME,
    )
    end = tf.fill([tf.shape(names)[0], 1], tf.constant(encoding.EON_ID, tf.int64))
    ids = tf.concat([char_ids, end], axis=1).to_tensor(
        default_value=encoding.PAD_ID, shape=[None, encoding.SEQUENCE_LENGTH]
    )
    lengths = tf.cast(chars.row_lengths(), tf.int64)
    longest = tf.cast(tft.max(lengths, reduce_instance_dims=True), tf.int64)
    return {
        encoding.IDS_FEATURE: ids,
        encoding.LENGTH_FEATURE: lengths,
        encoding.LONGEST_FEATURE: tf.fill(tf.shape(lengths), longest),
    }
