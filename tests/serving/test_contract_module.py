"""The serving contract module: names from TF and TFX's own definitions, cheap import, the sum."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from serving import contract


def test_importing_the_contract_loads_no_tensorflow_and_no_model_code():
    probe = ("import sys, serving.contract; print(sorted(m for m in sys.modules if "
             "m.split('.')[0] in ('tensorflow', 'tf_keras', 'components', 'namegen')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=300, check=True)
    assert done.stdout.strip() == "[]"


def test_generate_signature_is_tensorflows_default_serving_key():
    import tensorflow as tf

    assert contract.GENERATE_SIGNATURE == tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY


def test_warmup_file_is_where_tfx_and_tf_serving_look_for_it():
    import os

    from tfx.utils import path_utils

    assert (os.path.join("m", contract.ASSETS_EXTRA, contract.WARMUP_FILE_NAME)
            == path_utils.warmup_file_path("m"))
    assert os.path.join("m", contract.WARMUP_FILE) == path_utils.warmup_file_path("m")


def test_every_input_dtype_is_a_tensorflow_dtype():
    import tensorflow as tf

    for name, dtype in contract.INPUT_DTYPES.items():
        assert tf.as_dtype(dtype).name == dtype, name


def test_generation_columns_repeat_scalars_and_fill_neutral_values():
    columns = contract.generation_columns(3, seeds=[7, 8, 9], temperature=0.5, top_k=[1, 2, 3])
    assert columns == {"prefix": ["", "", ""], "temperature": [0.5] * 3, "seed": [7, 8, 9],
                       "max_length": [32] * 3, "top_k": [1, 2, 3], "top_p": [1.0] * 3,
                       "min_length": [0] * 3, "no_copy": [False] * 3}


def test_unknown_generation_input_is_named():
    with pytest.raises(ValueError, match="temprature"):
        contract.generation_columns(1, temprature=0.5)


def test_generation_request_has_the_declared_dtypes():
    import tensorflow as tf

    request = contract.generation_request(2, seeds=[1, 2], prefix="Ty")
    for key, (dtype, _) in contract.GENERATION_INPUTS.items():
        assert tf.constant(request[key]).dtype == tf.as_dtype(dtype), key
    assert tf.constant(request["prefix"]).numpy().tolist() == [b"Ty", b"Ty"]


def test_summarize_scores_is_total_nats_over_total_predictions():
    batches = [{"log_likelihood": [-2.0, -4.0], "num_predictions": [2, 3]},
               {"log_likelihood": np.array([-1.0], np.float32), "num_predictions": [1]}]
    result = contract.summarize_scores(batches)
    assert result["names"] == 3 and result["predictions"] == 6
    assert result["nats_per_char"] == pytest.approx(7.0 / 6.0, abs=1e-12)
    assert result["bits_per_char"] == pytest.approx(7.0 / 6.0 / math.log(2), abs=1e-12)
    assert contract.summarize_scores(reversed(batches)) == result


def test_summarize_scores_of_nothing_is_zero_not_a_division_error():
    assert contract.summarize_scores([]) == {"names": 0, "predictions": 0, "nats_per_char": 0.0,
                                             "bits_per_char": 0.0}


# --- issue 26: new sampler controls without breaking today's clients -------------------------
# serving_default's inputs as clients send them today (before the `sample` signature). TF
# Serving's REST API requires every input of a signature ("Missing named input: <name> in
# 'inputs' object", tensorflow_serving/util/json_tensor.cc), so this set may never grow.
TODAYS_INPUTS = {"prefix": "string", "temperature": "float32", "seed": "int64",
                 "max_length": "int32", "top_k": "int32", "top_p": "float32",
                 "min_length": "int32", "no_copy": "bool"}


def test_serving_default_keeps_exactly_todays_inputs():
    assert {k: dtype for k, (dtype, _) in contract.GENERATION_INPUTS.items()} == TODAYS_INPUTS


def test_sample_takes_every_serving_default_input_plus_neutral_new_controls():
    sample = contract.SAMPLE_INPUTS
    assert {k: sample[k] for k in contract.GENERATION_INPUTS} == contract.GENERATION_INPUTS
    new = {k: v for k, v in sample.items() if k not in contract.GENERATION_INPUTS}
    assert new == {"eta": ("float32", 0.0), "length_calibration": ("bool", False),
                   "unique": ("int32", 0)}
    # what serving_default does with the controls it does not take is written down, and it
    # never de-duplicates (raw clients see the model)
    assert set(contract.SERVING_DEFAULT_CONTROLS) == set(new)
    assert contract.SERVING_DEFAULT_CONTROLS["unique"] == 0
    assert contract.SIGNATURE_INPUTS[contract.SAMPLE_SIGNATURE] is sample


def test_a_request_goes_to_serving_default_unless_it_names_a_new_control():
    assert contract.generation_signature(temperature=0.5, no_copy=True) == "serving_default"
    assert contract.generation_signature(eta=0.01) == contract.SAMPLE_SIGNATURE
    columns = contract.generation_columns(3, seeds=[1, 2, 3], unique=True)
    assert columns["unique"] == [3, 3, 3] and columns["eta"] == [0.0] * 3
    assert contract.generation_columns(2, unique=False)["unique"] == [0, 0]
    with pytest.raises(ValueError, match="serving_default"):
        contract.generation_columns(1, signature="serving_default", eta=0.1)


def test_the_default_sampler_is_made_of_sample_inputs():

    assert set(contract.SAMPLER) <= set(contract.SAMPLE_INPUTS)
    assert contract.SERVING_DEFAULT_CONTROLS["eta"] == contract.SAMPLER["eta"]
