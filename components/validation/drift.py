"""DriftCheck: TFDV's drift (previous span vs today) and skew (train vs eval) comparators.

The compared features are derived from the names: `characters` (every character of every name,
L-infinity distance of their frequencies), `name_length` (Jensen-Shannon divergence of the length
distributions, lengths as categories) and the number of names (TFDV's num-examples drift
comparator).
"""


import collections
import json
import math
import os

import pandas as pd
import tensorflow_data_validation as tfdv
from scipy.stats import chi2
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2
from tfx import v1 as tfx
from tfx.types.standard_artifacts import ExampleAnomalies, Examples
from tfx.utils import io_utils

from components.example_gen import executor as example_gen
from components.example_gen import spans
from components.validation.component import ANOMALIES_FILE

CHARACTERS, LENGTH = "characters", "name_length"
PLAIN = {CHARACTERS: "the character distribution", LENGTH: "the name-length distribution"}
COMPARISON_FILE = "comparison.json"
DRIFT, SKEW = "drift", "skew"


def statistics(names: list[str]) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV statistics of the derived features of a list of names."""
    frame = pd.DataFrame({CHARACTERS: [list(name) for name in names],
                          LENGTH: [[str(len(name))] for name in names]})
    return tfdv.generate_statistics_from_dataframe(frame)


# Sampling noise: two samples of the same names differ by chance, more so when small. Each
# threshold is raised to a noise floor that same-source samples exceed with probability about
# 0.1% for the lengths (8 n ln2 JS is about chi-square with k-1 degrees of freedom for k lengths;
# the lengths are categorical so TFDV's divergence is exact) and at most ~0.4% for the
# characters (4 standard errors, Bonferroni over ~60 characters).
LENGTH_QUANTILE = 0.999
CHAR_Z = 4.0


def noise_floor(a: list[str], b: list[str]) -> tuple[float, float]:
    """(characters L-infinity, lengths Jensen-Shannon in bits) that chance alone rarely exceeds."""
    chars_a, chars_b = max(sum(map(len, a)), 1), max(sum(map(len, b)), 1)
    char_floor = CHAR_Z * math.sqrt(0.25 * (1 / chars_a + 1 / chars_b))
    n_eff = max(len(a) * len(b) / max(len(a) + len(b), 1), 1e-9)
    lengths = max(len({len(name) for name in a + b}), 2)
    return char_floor, chi2.ppf(LENGTH_QUANTILE, lengths - 1) / (8 * n_eff * math.log(2))


def comparison_schema(kind: str, char_threshold: float, length_threshold: float,
                      size_ratios: tuple[float, float] | None = None) -> schema_pb2.Schema:
    """Both features with a TFDV drift or skew comparator; no value domain to violate."""
    schema = schema_pb2.Schema()
    characters = schema.feature.add(name=CHARACTERS, type=schema_pb2.BYTES)
    length = schema.feature.add(name=LENGTH, type=schema_pb2.BYTES)  # categorical: exact JS
    getattr(characters, f"{kind}_comparator").infinity_norm.threshold = char_threshold
    getattr(length, f"{kind}_comparator").jensen_shannon_divergence.threshold = length_threshold
    if size_ratios:
        sizes = schema.dataset_constraints.num_examples_drift_comparator
        sizes.min_fraction_threshold, sizes.max_fraction_threshold = size_ratios
    return schema


def plain_words(anomalies: anomalies_pb2.Anomalies, what: str) -> anomalies_pb2.Anomalies:
    """Name the feature and what was compared in each anomaly's short description."""
    for key, info in anomalies.anomaly_info.items():
        info.short_description = f"{what}: {PLAIN.get(key, key)}: {info.short_description}"
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        info.description = f"{what}: the number of names: {info.description}"
    return anomalies


def measurements(anomalies: anomalies_pb2.Anomalies) -> dict[str, dict]:
    """Feature -> {measure: (value, threshold)} from TFDV's drift_skew_info."""
    found: dict[str, dict] = {}
    for info in anomalies.drift_skew_info:
        feature = "/".join(info.path.step)
        for m in list(info.drift_measurements) + list(info.skew_measurements):
            kind = type(m).Type.Name(m.type)
            found.setdefault(feature, {})[kind] = [m.value, m.threshold]
    return found


def compare(today: list[str], train: list[str], evaluation: list[str],
            previous: list[str] | None, thresholds: dict,
            ) -> tuple[dict[str, anomalies_pb2.Anomalies], dict]:
    """Drift anomalies (None previous: not checked), skew anomalies and a summary."""
    char_floor, length_floor = noise_floor(train, evaluation)
    applied = {"char_skew": max(thresholds["char_skew"], char_floor),
               "length_skew": max(thresholds["length_skew"], length_floor)}
    schema = comparison_schema("skew", applied["char_skew"], applied["length_skew"])
    skew = tfdv.validate_statistics(statistics(train), schema,
                                    serving_statistics=statistics(evaluation))
    result = {SKEW: plain_words(skew, "train vs eval split")}
    summary = {"thresholds": thresholds, "applied_thresholds": applied,
               "skew": measurements(skew), "today": describe(today)}
    if previous is not None:
        char_floor, length_floor = noise_floor(previous, today)
        applied.update(char_drift=max(thresholds["char_drift"], char_floor),
                       length_drift=max(thresholds["length_drift"], length_floor))
        schema = comparison_schema("drift", applied["char_drift"], applied["length_drift"],
                                   (thresholds["min_size_ratio"], thresholds["max_size_ratio"]))
        drift = tfdv.validate_statistics(statistics(today), schema,
                                         previous_statistics=statistics(previous))
        result[DRIFT] = plain_words(drift, "compared with the previous span")
        summary.update(drift=measurements(drift), previous=describe(previous),
                       character_changes=character_changes(previous, today))
    return result, summary


def describe(names: list[str]) -> dict:
    lengths = [len(n) for n in names]
    return {"names": len(names), "mean_length": sum(lengths) / max(len(lengths), 1),
            "characters": len({c for n in names for c in n})}


def character_changes(before: list[str], after: list[str], top: int = 5) -> list[list]:
    """The characters whose share changed most: [character, share before, share after]."""
    a = collections.Counter(c for n in before for c in n)
    b = collections.Counter(c for n in after for c in n)
    total_a, total_b = max(sum(a.values()), 1), max(sum(b.values()), 1)
    rows = [[c, a[c] / total_a, b[c] / total_b] for c in set(a) | set(b)]
    return sorted(rows, key=lambda r: -abs(r[1] - r[2]))[:top]


def read_names(paths: list[str]) -> list[str]:
    """The names ExampleGen would keep from these files."""
    names = []
    for path in paths:
        for raw in example_gen.raw_lines(path):
            name = example_gen.clean_line(raw)
            if example_gen.classify(name) == example_gen.KEPT:
                names.append(name)
    return names


@tfx.dsl.components.component
def DriftCheck(  # noqa: N802 (TFX component naming)
    examples: tfx.dsl.components.InputArtifact[Examples],
    anomalies: tfx.dsl.components.OutputArtifact[ExampleAnomalies],
    data_root: tfx.dsl.components.Parameter[str],
    data_pattern: tfx.dsl.components.Parameter[str],
    char_drift: tfx.dsl.components.Parameter[float],
    length_drift: tfx.dsl.components.Parameter[float],
    min_size_ratio: tfx.dsl.components.Parameter[float],
    max_size_ratio: tfx.dsl.components.Parameter[float],
    char_skew: tfx.dsl.components.Parameter[float],
    length_skew: tfx.dsl.components.Parameter[float],
) -> None:
    """Today's span vs the previous span's files (drift) and train vs eval (skew)."""
    thresholds = dict(char_drift=char_drift, length_drift=length_drift,
                      min_size_ratio=min_size_ratio, max_size_ratio=max_size_ratio,
                      char_skew=char_skew, length_skew=length_skew)
    train = example_gen.read_split(examples.uri, "train")
    evaluation = example_gen.read_split(examples.uri, "eval")
    pattern = example_gen.parse_input_config(data_pattern).splits[0].pattern
    span = int(examples.get_int_custom_property(example_gen.SPAN_PROPERTY) or examples.span or 0)
    before = spans.previous_span(data_root, pattern, span) if spans.has_span(pattern) else None
    previous = read_names(before[1]) if before else None
    found, summary = compare(train + evaluation, train, evaluation, previous, thresholds)
    summary.update(span=span, previous_span=before[0] if before else None,
                   note=None if before else (
                       "no {SPAN} in the data pattern: drift is not checked"
                       if not spans.has_span(pattern) else f"span {span} is the first: "
                       "no previous span to compare with"))
    anomalies.split_names = json.dumps(sorted(found))
    for split, found_anomalies in found.items():
        split_dir = os.path.join(anomalies.uri, f"Split-{split}")
        os.makedirs(split_dir, exist_ok=True)
        io_utils.write_bytes_file(os.path.join(split_dir, ANOMALIES_FILE),
                                  found_anomalies.SerializeToString())
    with open(os.path.join(anomalies.uri, COMPARISON_FILE), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
    anomalies.set_int_custom_property(
        "num_anomalies", sum(len(a.anomaly_info) + a.HasField("dataset_anomaly_info")
                             for a in found.values()))
