"""preprocessing_fn through tft_beam: vocabulary, reserved ids, encoding, padding, OOV."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.transform.preprocessing import preprocessing_fn
from data import encoding

NAMES = ["Abba", "Bob", "Ada", "Élan"]


@pytest.fixture(scope="module")
def transform_output(tmp_path_factory):
    """Analyse and transform a handful of names; keep the transform graph."""
    out = tmp_path_factory.mktemp("tft")
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(
        {encoding.NAME_FEATURE: tf.io.FixedLenFeature([1], tf.string)}))
    rows = [{encoding.NAME_FEATURE: [n.encode()]} for n in NAMES]
    with tft_beam.Context(temp_dir=str(out / "tmp"), force_tf_compat_v1=False):
        (transformed, _), transform_fn = (rows, metadata) | tft_beam.AnalyzeAndTransformDataset(
            preprocessing_fn)
        _ = transform_fn | tft_beam.WriteTransformFn(str(out / "graph"))
    return tft.TFTransformOutput(str(out / "graph")), transformed


def test_vocabulary_has_reserved_tokens_first_then_characters(transform_output):
    output, _ = transform_output
    vocabulary = [t.decode() for t in output.vocabulary_by_name(encoding.VOCAB_NAME)]
    assert vocabulary[: len(encoding.RESERVED_TOKENS)] == list(encoding.RESERVED_TOKENS)
    assert vocabulary.index(encoding.PAD_TOKEN) == encoding.PAD_ID
    assert vocabulary.index(encoding.EON_TOKEN) == encoding.EON_ID
    assert set(vocabulary[2:]) == set("".join(NAMES))
    assert vocabulary[2] in ("a", "b")  # most frequent characters first


def test_known_name_is_encoded_with_end_and_padding(transform_output):
    output, transformed = transform_output
    vocabulary = [t.decode() for t in output.vocabulary_by_name(encoding.VOCAB_NAME)]
    row = next(r for r in transformed if r[encoding.LENGTH_FEATURE] == 3 and
               vocabulary[r[encoding.IDS_FEATURE][0]] == "B")
    ids = list(row[encoding.IDS_FEATURE])
    assert len(ids) == encoding.SEQUENCE_LENGTH
    assert [vocabulary[i] for i in ids[:3]] == ["B", "o", "b"]
    assert ids[3] == encoding.EON_ID
    assert set(ids[4:]) == {encoding.PAD_ID}
    assert all(r[encoding.LONGEST_FEATURE] == 4 for r in transformed)


def test_unseen_character_maps_to_the_oov_bucket(transform_output):
    output, _ = transform_output
    layer = output.transform_features_layer()
    ids = layer({encoding.NAME_FEATURE: tf.constant([["Abz"]])})[encoding.IDS_FEATURE].numpy()[0]
    oov = output.vocabulary_size_by_name(encoding.VOCAB_NAME)
    assert ids[2] == oov and ids[3] == encoding.EON_ID
    assert np.all(ids[4:] == encoding.PAD_ID)
