"""Character-level data rules TFDV cannot express, and the gate that stops a run on anomalies."""


import dataclasses
import json
import os

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.types.standard_artifacts import ExampleAnomalies, Examples
from tfx.utils import io_utils

from components.example_gen.executor import read_split
from data import encoding
from pipeline import configs

ANOMALIES_FILE = "SchemaDiff.pb"  # what ExampleValidator writes per split
SPLITS = ("train", "eval")


class DataValidationError(RuntimeError):
    """The data has anomalies; the run stops before training."""


@dataclasses.dataclass
class Finding:
    rule: str
    description: str
    count: int
    examples: list[str]
    blocking: bool = True  # False: reported as a warning, the run goes on


def check_names(
    names_by_split: dict[str, list[str]],
    max_length: int = encoding.MAX_NAME_LENGTH,
    allowed_characters: str = "",
    min_names: dict[str, int] | None = None,
) -> dict[str, list[Finding]]:
    """Apply the name rules to each split; an empty list means the split is clean."""
    min_names = min_names or configs.VALIDATION["min_names"]
    train_chars = {c for name in names_by_split.get("train", []) for c in name}
    findings: dict[str, list[Finding]] = {}
    for split, names in names_by_split.items():
        found = []
        if len(names) < min_names.get(split, 1):
            found.append(Finding("too_few_names",
                                 f"{len(names)} names; at least {min_names.get(split, 1)} needed",
                                 len(names), names[:3]))
        too_long = [n for n in names if len(n) > max_length]
        if too_long:
            found.append(Finding("name_too_long", f"names longer than {max_length} characters",
                                 len(too_long), too_long[:3]))
        if allowed_characters:
            allowed = set(allowed_characters)
            bad = [n for n in names if not set(n) <= allowed]
            if bad:
                chars = sorted({c for n in bad for c in n} - allowed)
                found.append(Finding("character_not_allowed",
                                     f"names with characters outside the allowed set: "
                                     f"{''.join(chars[:20])!r}", len(bad), bad[:3]))
        if split != "train":
            unseen = [n for n in names if not set(n) <= train_chars]
            if unseen:
                chars = sorted({c for n in unseen for c in n} - train_chars)
                found.append(Finding("character_not_in_train",
                                     f"names with characters the train split never has "
                                     f"(scored as out-of-vocabulary): {''.join(chars[:20])!r}",
                                     len(unseen), unseen[:3], blocking=False))
        findings[split] = found
    return findings


def to_anomalies(findings: list[Finding]) -> anomalies_pb2.Anomalies:
    """Findings as a TFDV Anomalies proto, the format ExampleValidator writes."""
    anomalies = anomalies_pb2.Anomalies()
    for finding in findings:
        info = anomalies.anomaly_info[f"{encoding.NAME_FEATURE}:{finding.rule}"]
        info.severity = (anomalies_pb2.AnomalyInfo.ERROR if finding.blocking
                         else anomalies_pb2.AnomalyInfo.WARNING)
        info.short_description = finding.rule
        info.description = (f"{finding.description} ({finding.count} names, e.g. "
                            f"{', '.join(repr(e) for e in finding.examples)})")
        reason = info.reason.add()
        reason.type = anomalies_pb2.AnomalyInfo.CUSTOM_VALIDATION
        reason.short_description = finding.rule
        reason.description = info.description
    return anomalies


def read_anomalies(artifact) -> dict[str, anomalies_pb2.Anomalies]:
    """The anomalies of every split in an ExampleAnomalies artifact."""
    result = {}
    for split in json.loads(_split_names(artifact) or "null") or SPLITS:
        path = os.path.join(artifact.uri, f"Split-{split}", ANOMALIES_FILE)
        if os.path.exists(path):
            result[split] = _read_proto(path)
    return result


def _split_names(artifact) -> str | None:
    """The split names of a TFX artifact, or of an ML Metadata artifact proto."""
    if hasattr(artifact, "properties") and "split_names" in getattr(artifact, "properties", {}):
        value = artifact.properties["split_names"]
        return getattr(value, "string_value", None)
    return getattr(artifact, "split_names", None)


def _read_proto(path: str) -> anomalies_pb2.Anomalies:
    anomalies = anomalies_pb2.Anomalies()
    anomalies.ParseFromString(io_utils.read_bytes_file(path))
    return anomalies


def describe(source: str, by_split: dict[str, anomalies_pb2.Anomalies],
             blocking_only: bool = False) -> list[str]:
    """Plain words, one line per anomaly: which split, which rule, how many, examples."""
    lines = []
    for split, anomalies in sorted(by_split.items()):
        for key, info in sorted(anomalies.anomaly_info.items()):
            if blocking_only and info.severity == anomalies_pb2.AnomalyInfo.WARNING:
                continue
            rule = info.short_description or key
            lines.append(f"[{split}] {source}: {rule}: {info.description}")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            lines.append(f"[{split}] {source}: dataset: {info.description}")
    return lines


@tfx.dsl.components.component
def NameValidator(  # noqa: N802 (TFX component naming)
    examples: tfx.dsl.components.InputArtifact[Examples],
    anomalies: tfx.dsl.components.OutputArtifact[ExampleAnomalies],
    rules: tfx.dsl.components.Parameter[str],
) -> None:
    """Checks name length, allowed characters, split sizes and characters unseen in train."""
    config = json.loads(rules)
    names = {split: read_split(examples.uri, split) for split in SPLITS}
    findings = check_names(names, config["max_length"], config["allowed_characters"],
                           config["min_names"])
    anomalies.split_names = json.dumps(list(SPLITS))
    total = 0
    for split, found in findings.items():
        split_dir = os.path.join(anomalies.uri, f"Split-{split}")
        os.makedirs(split_dir, exist_ok=True)
        io_utils.write_bytes_file(os.path.join(split_dir, ANOMALIES_FILE),
                                  to_anomalies(found).SerializeToString())
        total += len(found)
    anomalies.set_int_custom_property("num_anomalies", total)


@tfx.dsl.components.component
def DataGate(  # noqa: N802 (TFX component naming)
    schema_anomalies: tfx.dsl.components.InputArtifact[ExampleAnomalies],
    name_anomalies: tfx.dsl.components.InputArtifact[ExampleAnomalies],
    drift_anomalies: tfx.dsl.components.InputArtifact[ExampleAnomalies],
) -> None:
    """Stops the run with every anomaly in plain words; passes when there are none."""
    lines = describe("ExampleValidator", read_anomalies(schema_anomalies), blocking_only=True)
    lines += describe("NameValidator", read_anomalies(name_anomalies), blocking_only=True)
    lines += describe("DriftCheck", read_anomalies(drift_anomalies), blocking_only=True)
    if lines:
        kept = os.path.dirname(os.path.dirname(schema_anomalies.uri))
        raise DataValidationError(
            "data validation failed; nothing was trained or pushed.\n  " + "\n  ".join(lines)
            + f"\n  statistics and anomalies are kept under {os.path.dirname(kept)}"
        )
