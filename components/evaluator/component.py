"""The evaluation gate: held-out nats/char, validity and sample fidelity; blesses or rejects.

TFX's Evaluator (TFMA) computes metrics from one forward pass per example; novelty, validity
and length fit need sampled names, so this is a custom component with the same contract: the
candidate model and the examples in; ModelEvaluation and ModelBlessing (custom properties
`blessed` and `current_model_id`, as Pusher expects) out. The baseline is the model actually
served: the newest complete version under the push destination, scored on the same eval split.
"""


import collections
import json
import os
import time

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types.standard_artifacts import Examples, Model, ModelBlessing, ModelEvaluation
from tfx.utils import path_utils

from components.evaluator import fidelity
from components.example_gen.executor import read_split
from components.pusher import versions
from data import encoding
from serving import contract

METRICS_FILE = "metrics.json"
REPORT_TEMPERATURES = (0.2, 0.7, 1.0)
DEFAULT_SAMPLER = "default sampler"  # the report's first column: what `generate` serves


def sample(signature, n: int, temperature: float, seed: int) -> list[str]:
    """n names from serving_default: the served sampler (its length calibration and tail cut)."""
    request = contract.generation_request(n, seeds=list(range(seed, seed + n)),
                                          temperature=temperature)
    return [name.decode("utf-8") for name in signature(**request)["name"].numpy()]


def sample_default(loaded, n: int, seed: int) -> list[str]:
    """n names with contract.SAMPLER, as `namegen generate` and the playground ask for them
    (serving_default's controls only, for a model without the `sample` signature)."""
    name = contract.SAMPLE_SIGNATURE
    controls = dict(contract.SAMPLER)
    if name not in loaded.signatures:
        name = contract.GENERATE_SIGNATURE
        controls = {k: v for k, v in controls.items() if k in contract.GENERATION_INPUTS}
    request = contract.generation_request(n, seeds=list(range(seed, seed + n)), signature=name,
                                          **controls)
    signature = loaded.signatures[name]
    return [name.decode("utf-8") for name in signature(**request)["name"].numpy()]


def nats_per_char(score_signature, names: list[str], batch_size: int = 512) -> float:
    return contract.summarize_scores(
        score_signature(**{contract.SCORE_INPUT: tf.constant(names[start:start + batch_size])})
        for start in range(0, len(names), batch_size))["nats_per_char"]


def case_shape(name: str) -> str:
    """Capitalisation with runs collapsed: U upper, l lower, _ other ("Ul" for "Tyrannosaurus")."""
    marks = ["U" if c.isupper() else "l" if c.islower() else "_" for c in name]
    return "".join(m for i, m in enumerate(marks) if i == 0 or m != marks[i - 1])


def casing_fit(samples: list[str], train: list[str], min_share: float = 0.01) -> float:
    """Share of samples capitalised like at least min_share of the training names.

    The share keeps a stray training name (dinos has "AetonyxAfromimus") from making its shape
    look normal.
    """
    counts = collections.Counter(case_shape(name) for name in train)
    common = {shape for shape, n in counts.items() if n >= min_share * len(train)}
    return sum(case_shape(s) in common for s in samples) / max(len(samples), 1)


def evaluate_model(model_dir: str, train: list[str], evaluation: list[str], gate: dict) -> dict:
    """Every gate metric for one SavedModel."""
    loaded = tf.saved_model.load(model_dir)
    generate = loaded.signatures[contract.GENERATE_SIGNATURE]
    sample(generate, 8, 1.0, 0)  # warm up before timing
    started = time.perf_counter()
    samples = sample(generate, gate["num_samples"], gate["sample_temperature"], gate["sample_seed"])
    seconds = time.perf_counter() - started
    train_set = set(train)
    valid = [s for s in samples if 0 < len(s) < encoding.MAX_NAME_LENGTH]

    def sample_prefix(prefix: str, n: int, seed: int) -> list[str]:
        request = contract.generation_request(n, seeds=list(range(seed, seed + n)),
                                              prefix=prefix,
                                              temperature=gate["sample_temperature"])
        return [name.decode("utf-8") for name in generate(**request)["name"].numpy()]

    measured = fidelity.fidelity(samples, train, evaluation, gate["sample_seed"], sample_prefix)
    measured["length_tv_noise"] = fidelity.length_tv_noise(
        train, evaluation, len(samples), gate["sample_seed"])
    measured.update(fidelity.reference_copy_rate(train, len(samples), gate["sample_seed"]))
    return {
        "eval_nats_per_char": nats_per_char(loaded.signatures[contract.SCORE_SIGNATURE],
                                            evaluation),
        "novelty": sum(s not in train_set for s in samples) / len(samples),
        "validity": len(valid) / len(samples),
        **measured,
        "casing": casing_fit(samples, train),
        "samples_per_second": len(samples) / seconds,
        "num_eval_names": len(evaluation),
        "generated_lengths": [len(s) for s in samples],
        "samples": {DEFAULT_SAMPLER: sample_default(loaded, 10, gate["sample_seed"]),
                    **{f"T = {t}": sample(generate, 10, t, gate["sample_seed"])
                       for t in REPORT_TEMPERATURES}},
    }


def decide(candidate: dict, baseline: dict | None, gate: dict) -> tuple[bool, str]:
    """Bless when under the ceiling, not worse than the baseline, valid, and faithful.

    Faithful: the limits of `fidelity_failures`, each derived from this data.
    """
    nats = candidate["eval_nats_per_char"]
    reasons = []
    if not nats < gate["max_nats_per_char"]:
        reasons.append(f"eval {nats:.4f} nats/char is not under the ceiling "
                       f"{gate['max_nats_per_char']:.4f}")
    if baseline is not None:
        allowed = baseline["eval_nats_per_char"] + gate["max_regression"]
        if nats > allowed:
            reasons.append(f"eval {nats:.4f} nats/char is worse than {_served(baseline)}'s "
                           f"{baseline['eval_nats_per_char']:.4f} by more than "
                           f"{gate['max_regression']:.4f}")
    if candidate["validity"] < gate["min_validity"]:
        reasons.append(f"validity {candidate['validity']:.1%} is under "
                       f"{gate['min_validity']:.0%}")
    reasons += fidelity_failures(candidate, gate)
    if reasons:
        return False, "; ".join(reasons)
    against = (f" vs {_served(baseline)}'s {baseline['eval_nats_per_char']:.4f}" if baseline
               else " (no served model to compare with)")
    return True, (f"eval {nats:.4f} nats/char{against}, validity {candidate['validity']:.1%}, "
                  f"novelty {candidate['novelty']:.1%}, length TV "
                  f"{candidate['length_tv_distance']:.3f} (floor "
                  f"{candidate['length_tv_distance_floor']:.3f}), copies "
                  f"{candidate['copy_rate']:.1%}")


def length_tv_limit(candidate: dict, gate: dict) -> float:
    """The real-vs-real length TV's 99th percentile on this split, plus the gate's margin."""
    return candidate["length_tv_noise"] + gate["max_length_tv_over_noise"]


def copy_rate_limit(candidate: dict, gate: dict) -> float:
    """What the reference n-gram copies on this list, plus `copy_rate_sigmas` standard errors
    of the difference of two such shares."""
    spread = (2.0 ** 0.5) * max(candidate["copy_rate_reference_stderr"],
                                1.0 / gate["num_samples"])
    return candidate["copy_rate_reference"] + gate["copy_rate_sigmas"] * spread


def fidelity_failures(candidate: dict, gate: dict) -> list[str]:
    """Why the candidate's samples are too far from real names (empty when they are not).

    Length TV: at most the real-vs-real noise of this split plus a margin. Reverse score: at
    most `max_reverse_score_over_floor` above its floor. Copies: at most what a reference
    Kneser-Ney of the same list copies, within sampling noise (short, common names are copied
    by any faithful model of them).
    """
    reasons = []
    limit = length_tv_limit(candidate, gate)
    if candidate["length_tv_distance"] > limit:
        reasons.append(f"length TV {candidate['length_tv_distance']:.3f} is above "
                       f"{limit:.3f}: the real-vs-real noise of this split "
                       f"{candidate['length_tv_noise']:.3f} (floor "
                       f"{candidate['length_tv_distance_floor']:.3f}) + "
                       f"{gate['max_length_tv_over_noise']:.3f}")
    excess = candidate["reverse_score"] - candidate["reverse_score_floor"]
    if excess > gate["max_reverse_score_over_floor"]:
        reasons.append(f"reverse score {candidate['reverse_score']:.3f} is {excess:.3f} above "
                       f"the real-names floor {candidate['reverse_score_floor']:.3f} "
                       f"(allowed {gate['max_reverse_score_over_floor']:.3f}): the samples "
                       "miss part of the data's variety")
    limit = copy_rate_limit(candidate, gate)
    if candidate["copy_rate"] > limit:
        reasons.append(f"{candidate['copy_rate']:.1%} of the samples copy a training name "
                       f"(allowed {limit:.1%}: the reference "
                       f"{candidate['copy_rate_reference_model']} copies "
                       f"{candidate['copy_rate_reference']:.1%})")
    return reasons


def _served(baseline: dict) -> str:
    version = baseline.get("version")
    return f"served version {version}" if version is not None else "the served model"


def served_baseline(model_base: str, train: list[str], evaluation: list[str],
                    gate: dict) -> tuple[dict | None, str]:
    """The served version's metrics on today's eval split, or None and why there is none."""
    try:
        version = versions.served_version(model_base)
    except (OSError, tf.errors.OpError) as error:
        return None, f"push destination {model_base} is unreadable ({error}); judged on the " \
            "absolute gate only"
    if version is None:
        return None, f"no served version under {model_base}; judged on the absolute gate only"
    try:
        baseline = evaluate_model(os.path.join(model_base, str(version)), train, evaluation, gate)
    except (OSError, ValueError, tf.errors.OpError) as error:
        return None, (f"served version {version} under {model_base} cannot be loaded "
                      f"({type(error).__name__}); judged on the absolute gate only")
    return dict(baseline, version=version), f"served version {version} under {model_base}"


@tfx.dsl.components.component
def NameEvaluator(  # noqa: N802 (TFX component naming)
    model: tfx.dsl.components.InputArtifact[Model],
    examples: tfx.dsl.components.InputArtifact[Examples],
    evaluation: tfx.dsl.components.OutputArtifact[ModelEvaluation],
    blessing: tfx.dsl.components.OutputArtifact[ModelBlessing],
    gate: tfx.dsl.components.Parameter[str],
    model_base: tfx.dsl.components.Parameter[str],
) -> None:
    """Scores the candidate and the served model on today's eval split and gates it."""
    thresholds = json.loads(gate)
    train, held_out = read_split(examples.uri, "train"), read_split(examples.uri, "eval")
    candidate = evaluate_model(path_utils.serving_model_path(model.uri), train, held_out,
                               thresholds)
    baseline, baseline_note = served_baseline(model_base, train, held_out, thresholds)
    blessed, reason = decide(candidate, baseline, thresholds)
    if baseline is None:
        reason = f"{reason}; {baseline_note}"
    report = {"candidate": candidate, "baseline": baseline, "gate": thresholds,
              "blessed": blessed, "reason": reason, "candidate_model_id": model.id,
              "baseline_version": baseline["version"] if baseline else None,
              "baseline_note": baseline_note}
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    for key in ("eval_nats_per_char", "novelty", "validity", "casing", "samples_per_second",
                *fidelity.MEASURES, *(m + "_floor" for m in fidelity.MEASURES)):
        evaluation.set_float_custom_property(key, float(candidate[key]))
        blessing.set_float_custom_property(key, float(candidate[key]))  # the Pusher records them
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_string_custom_property("reason", reason)
    with tf.io.gfile.GFile(os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"),
                           "w") as f:
        f.write(reason)
