"""The exported SavedModel, loaded in a fresh process that never imports tft or the project."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from components.trainer.export import NameGenerator
from components.trainer.model import build_model
from data import encoding
from pipeline import configs, metadata
from serving import contract

PROBE = r"""
import json, math, sys
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
generate, score = model.signatures["serving_default"], model.signatures["score"]
info = json.load(open(sys.argv[1] + "/assets.extra/namegen.json"))

def call(prefixes, temperature=1.0, seeds=None, max_length=32, **controls):
    n = len(prefixes)
    request = dict(
        prefix=tf.constant(prefixes), temperature=tf.constant([temperature] * n, tf.float32),
        seed=tf.constant(seeds if seeds is not None else list(range(n)), tf.int64),
        max_length=tf.constant([max_length] * n, tf.int32),
        top_k=tf.constant([controls.get("top_k", 0)] * n, tf.int32),
        top_p=tf.constant([controls.get("top_p", 1.0)] * n, tf.float32),
        min_length=tf.constant([controls.get("min_length", 0)] * n, tf.int32),
        no_copy=tf.constant([controls.get("no_copy", False)] * n))
    out = generate(**request)
    return [n.decode() for n in out["name"].numpy()], out["log_prob"].numpy().tolist(), \
        out["length"].numpy().tolist()

def error(**kwargs):
    try:
        call(**kwargs)
    except tf.errors.InvalidArgumentError as e:
        return e.message
    return None

names, log_probs, lengths = call([""] * 64, seeds=list(range(100, 164)))
alone = [call([""], seeds=[100 + i])[0][0] for i in (0, 17, 63)]
mixed = call(["", "Ty", ""], temperature=1.0, seeds=[117, 5, 163])[0]
greedy = call([""] * 4, temperature=0.0)[0]
cold = call([""] * 4, temperature=1e-7)[0]
prefixed = call(["Ty"] * 8)[0]
scored = score(name=tf.constant(names))
result = dict(
    imported=sorted(m for m in sys.modules if m.split(".")[0] in
                    ("tensorflow_transform", "components", "pipeline", "tfx")),
    names=names, log_probs=log_probs, lengths=lengths, alone=alone, mixed=mixed,
    greedy=greedy, cold=cold, prefixed=prefixed, vocabulary=info["vocabulary"],
    score_ll=scored["log_likelihood"].numpy().tolist(),
    score_n=scored["num_predictions"].numpy().tolist(),
    score_positions=scored["position_log_probs"].numpy().tolist(),
    score_keys=sorted(scored),
    position_shape=[d for d in score.structured_outputs["position_log_probs"].shape],
    short=call([""] * 16, max_length=3)[2],
    min_long=call([""] * 16, min_length=12)[2],
    errors=dict(
        negative=error(prefixes=[""], temperature=-1.0),
        nan=error(prefixes=[""], temperature=float("nan")),
        oov=error(prefixes=["T\u00e9"]),
        top_p=error(prefixes=[""], top_p=0.0),
        too_long=error(prefixes=["abcd"], max_length=2),
    ),
)
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def probe(tiny_model):
    done = subprocess.run([sys.executable, "-c", PROBE, str(tiny_model)], capture_output=True,
                          text=True, timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "3",
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loads_without_transform_or_project_code(probe):
    assert probe["imported"] == []


def test_generation_is_deterministic_per_seed_whatever_the_batch(probe):
    assert probe["alone"] == [probe["names"][0], probe["names"][17], probe["names"][63]]
    assert probe["mixed"][0] == probe["names"][17] and probe["mixed"][2] == probe["names"][63]


def test_temperature_near_zero_equals_greedy(probe):
    assert probe["cold"] == probe["greedy"] and len(set(probe["greedy"])) == 1


def test_names_are_well_formed(probe):
    characters = set(probe["vocabulary"]) - set(encoding.RESERVED_TOKENS)
    for name, length in zip(probe["names"], probe["lengths"]):
        assert set(name) <= characters and len(name) == length <= encoding.MAX_NAME_LENGTH
    assert all(name.startswith("Ty") for name in probe["prefixed"])
    assert max(probe["short"]) <= 3 and min(probe["min_long"]) >= 12


def test_log_prob_matches_score_for_finished_names(probe):
    for name, lp, ll in zip(probe["names"], probe["log_probs"], probe["score_ll"]):
        if 0 < len(name) < encoding.MAX_NAME_LENGTH:
            assert lp == pytest.approx(ll, abs=1e-3)
    assert probe["score_n"] == [len(n) + 1 for n in probe["names"]]


def test_score_returns_per_position_log_probs_beside_the_old_outputs(probe):
    assert probe["score_keys"] == sorted(contract.SCORE_OUTPUTS)
    assert "position_log_probs" in contract.SCORE_OUTPUTS
    assert probe["position_shape"] == [None, encoding.SEQUENCE_LENGTH]
    for positions, ll, count in zip(probe["score_positions"], probe["score_ll"],
                                    probe["score_n"]):
        assert len(positions) == encoding.SEQUENCE_LENGTH
        assert all(p <= 0 for p in positions[:count]) and set(positions[count:]) <= {0.0}
        assert sum(positions[:count]) == pytest.approx(ll, abs=1e-3)


def test_bad_inputs_are_invalid_argument_with_a_message(probe):
    errors = probe["errors"]
    assert "temperature must be finite and >= 0" in errors["negative"]
    assert "temperature must be finite and >= 0" in errors["nan"]
    assert "outside the vocabulary" in errors["oov"] and "\u00e9" in errors["oov"]
    assert "top_p" in errors["top_p"]
    assert "longer than max_length" in errors["too_long"]


@pytest.mark.parametrize("levers", [
    {"num_layers": 2, "rnn_units": 12},
    {"case_sharing": True},
    {"tie_embeddings": True},
    {"case_sharing": True, "tie_embeddings": True, "weight_drop": 0.5, "locked_dropout": True},
])
def test_score_equals_a_numpy_recomputation_from_the_keras_model(tiny_run, levers):
    """The fused export must give the training model's step-by-step probabilities."""
    store = metadata.open_store(str(tiny_run.pipeline_root))
    output = tft.TFTransformOutput(metadata.latest_artifact(store, "TransformGraph").uri)
    vocabulary = [t.decode() for t in output.vocabulary_by_name(encoding.VOCAB_NAME)]
    hp = configs.resolve("tiny", levers)
    model = build_model(len(vocabulary) + 1, hp, vocabulary)
    for weight in model.trainable_weights:  # case vectors and biases start at zero
        weight.assign(tf.random.stateless_normal(weight.shape, [1, len(weight.name)]) * 0.3)
    generator = NameGenerator(model, output.transform_features_layer(), vocabulary, ["Abc"])
    names = ["Tyrannosaurus", "Ab", "Zuul"]
    scored = generator.score(tf.constant(names))
    for name, ll, positions in zip(names, scored["log_likelihood"].numpy(),
                                   scored["position_log_probs"].numpy()):
        targets = [vocabulary.index(c) for c in name] + [encoding.EON_ID]
        inputs = [encoding.EON_ID] + targets[:-1]
        logits = model(tf.constant([inputs])).numpy()[0].astype(np.float64)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        expected = [log_probs[t, target] for t, target in enumerate(targets)]
        assert ll == pytest.approx(sum(expected), abs=1e-4)
        assert positions[:len(targets)] == pytest.approx(expected, abs=1e-4)
        assert not positions[len(targets):].any()


def test_signatures_keep_todays_inputs_and_add_sample(tiny_model):
    """serving_default takes exactly the contract's inputs of today (a client that sends them
    keeps working); `sample` takes every control; the length bias is in the SavedModel."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel.FromString((tiny_model / "saved_model.pb").read_bytes())
    signatures = saved.meta_graphs[0].signature_def
    for name, inputs in contract.SIGNATURE_INPUTS.items():
        assert {k: tf.as_dtype(v.dtype).name for k, v in signatures[name].inputs.items()} \
            == {k: dtype for k, (dtype, _) in inputs.items()}, name
    info = json.loads((tiny_model / contract.ASSETS_EXTRA / contract.METADATA_FILE_NAME)
                      .read_text())
    rounds = info["length_calibration"]["rounds"]
    assert len(info["length_calibration"]["end_of_name_bias"]) == encoding.SEQUENCE_LENGTH
    assert rounds[-1]["length_tv"] < rounds[0]["length_tv"]  # the fit moved toward the data
    assert info["sampler"]["eta"] == contract.SAMPLER["eta"]
