"""ExampleGen: line cleaning, counting, UTF-8 errors and the Beam transform."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to
from tfx.types import standard_component_specs

from components.example_gen import executor
from data import encoding


def write(tmp_path, content: bytes, name: str = "names.txt") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


MESSY = (
    "\ufeffAlpha\r\n"  # BOM and CRLF
    "  Beta  \n"  # surrounding whitespace
    "\n"
    "   \t \n"  # blank after stripping
    "Alpha\n"  # duplicate, kept
    + "X" * (encoding.MAX_NAME_LENGTH + 1) + "\n"  # too long, dropped
    + "Gamma"  # no trailing newline
).encode("utf-8")


def test_scan_counts_kept_and_dropped_lines(tmp_path):
    counts = executor.scan_file(write(tmp_path, MESSY))
    assert counts["lines"] == 7
    assert counts[executor.KEPT] == 4
    assert counts["distinct"] == 3
    assert counts[executor.BLANK] == 2
    assert counts[executor.TOO_LONG] == 1


def test_invalid_utf8_names_file_and_line(tmp_path):
    path = write(tmp_path, b"Alpha\nBeta\nGam\xffma\n")
    with pytest.raises(executor.IngestError, match=r"names\.txt, line 3: not valid UTF-8"):
        executor.scan_file(path)


def test_clean_line_strips_bom_crlf_and_whitespace():
    assert executor.clean_line("\ufeff  Tyrannosaurus \r\n".encode()) == "Tyrannosaurus"
    assert executor.classify("") == executor.BLANK
    assert executor.classify("x" * encoding.MAX_NAME_LENGTH) == executor.KEPT
    assert executor.classify("x" * (encoding.MAX_NAME_LENGTH + 1)) == executor.TOO_LONG


def assert_examples(folder, expected: list[str]) -> None:
    """Run the ExampleGen Beam transform on folder/names.txt and check the names it emits."""
    exec_properties = {standard_component_specs.INPUT_BASE_KEY: str(folder)}
    with beam.Pipeline() as pipeline:
        names = (
            pipeline
            | executor._NamesToExample(exec_properties, "names.txt")
            | beam.Map(lambda e: e.features.feature["name"].bytes_list.value[0].decode())
        )
        assert_that(names, equal_to(expected))


def test_beam_transform_emits_one_example_per_kept_line(tmp_path):
    write(tmp_path, MESSY)
    assert_examples(tmp_path, ["Alpha", "Beta", "Alpha", "Gamma"])


def test_unicode_names_round_trip(tmp_path):
    write(tmp_path, "Ærøskøbing\nПётр\n🦖saurus\n".encode())
    assert_examples(tmp_path, ["Ærøskøbing", "Пётр", "🦖saurus"])
