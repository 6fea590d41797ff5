"""Fuzzing ingestion (ExampleGen and validation) with random files.

Each file either ingests correctly (Beam produces exactly the names the scan counted) or fails
with a message naming the file and line; the validation rules and their messages hold for any
names; and `namegen run` explains a bad file in one line, with no traceback.

More examples: NAMEGEN_FUZZ_EXAMPLES=2000 pytest tests/components/test_fuzz_ingest.py
"""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from components.example_gen import executor
from components.validation import component as validation
from data import encoding
from pipeline import configs
from tests.support.fuzzing import fuzz

FUZZ = fuzz(200)
BEAM_FUZZ = fuzz(200, divisor=50)  # a Beam pipeline each
SEPARATORS = [b"\n", b"\r\n", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\xc2\x85", b"\xe2\x80\xa8",
              b"\n\n", b" \n", b"\t\n"]


@st.composite
def files(draw):
    """Raw bytes, or UTF-8 lines with odd separators, a BOM, controls, long lines, bad bytes."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=400))
    lines = draw(st.lists(st.one_of(
        st.text(max_size=12), st.text(alphabet="abcdefghijklmnop", min_size=1, max_size=10),
        st.sampled_from(["", " ", "\ufeff", "e\u0301", "\U0001F995", "x" * 33, "y" * 32]),
    ), max_size=30))
    parts = [line.encode("utf-8") + draw(st.sampled_from(SEPARATORS)) for line in lines]
    data = b"".join(parts)
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if data and draw(st.integers(0, 4)) == 0:  # one invalid byte somewhere
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    return data


def expected_lines(data: bytes) -> dict[str, list[str]]:
    """The documented ingestion contract, written without ExampleGen's code (the oracle).

    Lines end at "\n" only (as binary file iteration splits them); each line loses every BOM
    (U+FEFF) and its surrounding whitespace; empty lines are blank, lines over 32 characters
    too long, the rest are names. The file must be valid UTF-8.
    """
    segments = data.decode("utf-8").split("\n")  # "\n" is never inside a multi-byte character
    if segments[-1] == "":
        segments.pop()  # the text after the last newline is a line only if non-empty
    kinds: dict[str, list[str]] = {"kept": [], "blank": [], "too_long": []}
    for segment in segments:
        name = re.sub(r"^\s+|\s+$", "", segment.replace("\ufeff", ""))
        characters = len(name.encode("utf-32-le")) // 4
        kind = "blank" if not name else "too_long" if characters > 32 else "kept"
        kinds[kind].append(name)
    return kinds


def first_bad_line(data: bytes) -> int | None:
    for number, raw in enumerate(re.split(b"(?<=\n)", data), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return number
    return None


def test_scan_counts_every_line_or_names_the_bad_one(tmp_path):
    path = tmp_path / "names.txt"

    @FUZZ
    @given(data=files())
    @example(data=b"\r")  # found by CI: GFile iteration drops "\r", so this line vanished
    @example(data=b"a\rb\n\r\n")
    def check(data):
        path.write_bytes(data)
        bad = first_bad_line(data)
        try:
            counts = executor.scan_file(str(path))
        except executor.IngestError as error:
            assert bad is not None
            assert str(error).startswith(f"{path}, line {bad}: not valid UTF-8")
            assert "\n" not in str(error)
            return
        assert bad is None
        expected = expected_lines(data)
        assert encoding.MAX_NAME_LENGTH == 32  # the oracle's documented cap
        assert {kind: counts[kind] for kind in expected} == \
            {kind: len(lines) for kind, lines in expected.items()}
        assert counts["distinct"] == len(set(expected["kept"]))
        assert counts["lines"] == sum(len(lines) for lines in expected.values())

    check()


def test_validation_rules_hold_and_explain_any_names():
    @FUZZ
    @given(train=st.lists(st.text(max_size=40), max_size=15),
           evaluation=st.lists(st.text(max_size=40), max_size=5),
           allowed=st.sampled_from(["", "abc", "abcdefghijklmnopqrstuvwxyz"]))
    def check(train, evaluation, allowed):
        findings = validation.check_names({"train": train, "eval": evaluation},
                                          encoding.MAX_NAME_LENGTH, allowed,
                                          configs.VALIDATION["min_names"])
        by_split = {split: validation.to_anomalies(found) for split, found in findings.items()}
        lines = validation.describe("NameValidator", by_split)
        assert len(lines) == sum(len(found) for found in findings.values())
        for line in lines:
            assert "\n" not in line and "\r" not in line  # one line each, whatever the names
        rules = {f.rule for found in findings.values() for f in found}
        assert ("name_too_long" in rules) == any(len(n) > encoding.MAX_NAME_LENGTH
                                                 for n in train + evaluation)
        assert ("too_few_names" in rules) == (len(train) < 10 or len(evaluation) < 1)
        unseen = any(not set(n) <= set("".join(train)) for n in evaluation)
        assert ("character_not_in_train" in rules) == unseen

    check()


def test_beam_ingests_exactly_the_names_the_scan_counted(tmp_path):
    """ExampleGen's Beam transform emits exactly the names the scan counted (num_kept), for
    several random files per pipeline (one Beam pipeline per example keeps this quick)."""
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    @BEAM_FUZZ
    @given(batch=st.lists(files().filter(lambda d: first_bad_line(d) is None), min_size=6,
                          max_size=6))
    def check(batch):
        folder = tmp_path / f"batch{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        with beam.Pipeline(argv=configs.BEAM_ARGS_TEST) as pipeline:
            for index, data in enumerate(batch):
                path = folder / f"names{index}.txt"
                path.write_bytes(data)
                expected = expected_lines(data)["kept"]
                assert executor.scan_file(str(path))[executor.KEPT] == len(expected)
                names = (pipeline
                         | f"Ingest{index}" >> executor._NamesToExample(
                             {"input_base": str(folder)}, path.name)
                         | f"Name{index}" >> beam.Map(
                             lambda e: e.features.feature[encoding.NAME_FEATURE]
                             .bytes_list.value[0].decode("utf-8")))
                assert_that(names, equal_to(expected), label=f"Check{index}")

    check()
