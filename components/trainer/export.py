"""The serving SavedModel: raw strings in, finished names out, the sampling loop in the graph."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from components.trainer import calibration, warmup
from components.trainer.generator import NameGenerator
from components.trainer.model import NameModel
from data import encoding
from serving import contract


def export(
    model: NameModel,
    tft_output,
    path: str,
    metadata: dict,
    training_names: list[str],
) -> NameGenerator:
    """Write the SavedModel: `serving_default` and `sample` (generation), and `score`.

    Before saving, the length calibration is fitted on the training names' lengths (the case
    transitions are counted when the generator is built).
    """
    vocabulary = [t.decode("utf-8") if isinstance(t, bytes) else t
                  for t in tft_output.vocabulary_by_name(encoding.VOCAB_NAME)]
    generator = NameGenerator(model, tft_output.transform_features_layer(), vocabulary,
                              training_names)
    calibration_rounds = generator.calibrate_lengths(training_names) if training_names else []
    signatures = {
        contract.GENERATE_SIGNATURE: generator.generate.get_concrete_function(),
        contract.SAMPLE_SIGNATURE: generator.sample.get_concrete_function(),
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
        sampler={**contract.SAMPLER, "serving_default": contract.SERVING_DEFAULT_CONTROLS},
        length_calibration={"end_of_name_bias": [round(float(b), 4) for b in
                                                 generator.end_bias.numpy()],
                            "rounds": calibration_rounds,
                            "case_transitions": _case_transitions(generator)},
        training_name_set={"names": len(set(training_names)),
                           "bytes": int(generator.training_fingerprints.numpy().nbytes)},
    )
    with tf.io.gfile.GFile(os.path.join(extra, contract.METADATA_FILE_NAME), "w") as f:
        f.write(json.dumps(described, indent=2, ensure_ascii=False))
    # TF Serving replays these before a version takes traffic
    with tf.io.gfile.GFile(os.path.join(extra, contract.WARMUP_FILE_NAME), "wb") as f:
        f.write(warmup.warmup_requests())
    return generator


def _case_transitions(generator: NameGenerator) -> list[str]:
    """The allowed case transitions, readable: "boundary->upper", "lower->lower", ..."""
    names, allowed = calibration.CASE_NAMES, generator.case_allowed.numpy()
    return [f"{names[a]}->{names[b]}" for a in range(len(names)) for b in range(1, len(names))
            if allowed[a, b]]
