"""ExampleGen executor for newline-delimited text: one tf.Example with a `name` per line."""

from __future__ import annotations

import collections
import json
import os
from typing import Any

import apache_beam as beam
import tensorflow as tf
from absl import logging
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components.example_gen import spans

# The line rules live without TFX or Beam, for the CLI; re-exported here for the executor's users.
from components.example_gen.names_file import (  # noqa: F401
    BLANK,
    BOM,
    KEPT,
    TOO_LONG,
    IngestError,
    classify,
    clean_line,
    raw_lines,
    read_split,
)
from data import encoding
from pipeline.failpoints import failpoint

SPAN_PROPERTY = "namegen_span"  # also in the artifact's `span` property


def scan_file(path: str, max_length: int = encoding.MAX_NAME_LENGTH) -> collections.Counter:
    """Count kept and dropped lines; raise IngestError naming the file and line on bad UTF-8."""
    counts: collections.Counter = collections.Counter()
    distinct: set[str] = set()
    for number, raw in enumerate(raw_lines(path), start=1):
        try:
            name = clean_line(raw)
        except UnicodeDecodeError as error:
            raise IngestError(
                f"{path}, line {number}: not valid UTF-8 ({error.reason} at byte "
                f"{error.start} of the line: {raw[max(0, error.start - 8):error.end + 8]!r})"
            ) from None
        kind = classify(name, max_length)
        counts[kind] += 1
        if kind == KEPT:
            distinct.add(name)
    counts["lines"] = sum(counts[k] for k in (KEPT, BLANK, TOO_LONG))
    counts["distinct"] = len(distinct)
    return counts


def _to_example(name: str) -> tf.train.Example:
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode("utf-8")]))
    return tf.train.Example(features=tf.train.Features(feature={encoding.NAME_FEATURE: feature}))


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _NamesToExample(  # noqa: N802 (Beam transform naming)
    pipeline: beam.Pipeline, exec_properties: dict[str, Any], split_pattern: str
) -> beam.pvalue.PCollection:
    """Read lines as bytes, clean them, keep non-blank names within the cap."""
    pattern = os.path.join(exec_properties[standard_component_specs.INPUT_BASE_KEY], split_pattern)
    return (
        pipeline
        | "ReadLines" >> beam.io.ReadFromText(pattern, coder=beam.coders.BytesCoder())
        | "Clean" >> beam.Map(clean_line)
        | "KeepNames" >> beam.Filter(lambda name: classify(name) == KEPT)
        | "ToExample" >> beam.Map(_to_example)
    )


def parse_input_config(value: str) -> example_gen_pb2.Input:
    """The input config JSON, or a plain file pattern (Kubeflow's data_pattern parameter)."""
    try:
        json.loads(value)
    except ValueError:
        return spans.one_split_config(value)
    config = example_gen_pb2.Input()
    proto_utils.json_to_proto(value, config)
    return config


def resolve_spans(exec_properties: dict[str, Any]) -> int:
    """The span this run ingests, with {SPAN}/{VERSION} filled in the exec properties.

    TFX's driver does this before the executor on local runners; open-source KFP v2 does not
    run the driver (its preCacheCheck hook), so the executor resolves what is left.
    """
    config = parse_input_config(exec_properties[standard_component_specs.INPUT_CONFIG_KEY])
    span = int(exec_properties.get(example_gen_utils.SPAN_PROPERTY_NAME) or 0)
    if any(spans.has_span(split.pattern) for split in config.splits):
        span, version = spans.resolve_latest(
            exec_properties[standard_component_specs.INPUT_BASE_KEY], config)
        exec_properties[example_gen_utils.SPAN_PROPERTY_NAME] = span
        exec_properties[example_gen_utils.VERSION_PROPERTY_NAME] = version
        logging.info("ExampleGen: latest span %d (version %s)", span, version)
    exec_properties[standard_component_specs.INPUT_CONFIG_KEY] = proto_utils.proto_to_json(config)
    return span


class Executor(BaseExampleGenExecutor):
    """FileBasedExampleGen executor for one-name-per-line text files."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:  # noqa: N802
        return _NamesToExample

    def Do(self, input_dict, output_dict, exec_properties) -> None:  # noqa: N802
        failpoint("example-gen")
        span = resolve_spans(exec_properties)
        counts = self._scan_inputs(exec_properties)
        logging.info(
            "ExampleGen: %d lines, %d names kept (%d distinct), dropped %d blank and %d longer "
            "than %d characters",
            counts["lines"], counts[KEPT], counts["distinct"], counts[BLANK], counts[TOO_LONG],
            encoding.MAX_NAME_LENGTH,
        )
        if counts[KEPT] == 0:
            raise IngestError(
                f"no names found: {counts['lines']} lines, {counts[BLANK]} blank, "
                f"{counts[TOO_LONG]} longer than {encoding.MAX_NAME_LENGTH} characters"
            )
        super().Do(input_dict, output_dict, exec_properties)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]
        )
        for key in ("lines", KEPT, "distinct", BLANK, TOO_LONG):
            examples.set_int_custom_property(f"num_{key}", int(counts[key]))
        examples.span = span
        examples.set_int_custom_property(SPAN_PROPERTY, span)

    @staticmethod
    def _scan_inputs(exec_properties: dict[str, Any]) -> collections.Counter:
        input_config = parse_input_config(
            exec_properties[standard_component_specs.INPUT_CONFIG_KEY])
        base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
        total: collections.Counter = collections.Counter()
        for split in input_config.splits:
            paths = sorted(tf.io.gfile.glob(os.path.join(base, split.pattern)))
            if not paths:
                raise IngestError(f"no input file matches {os.path.join(base, split.pattern)}")
            for path in paths:
                total.update(scan_file(path))
        return total
