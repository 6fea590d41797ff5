"""Span patterns: split a data path into folder and pattern, resolve spans, find the previous one.

A pattern may hold TFX's `{SPAN}` (and `{VERSION}`) placeholders, e.g.
`/data/names/{SPAN}/*.txt`: each run ingests the latest span (TFX's input config rules).
"""

from __future__ import annotations

import os
import re

import tensorflow as tf
from tfx.components.example_gen import utils
from tfx.proto import example_gen_pb2

from data.resolve import SPAN, VERSION

GLOB_CHARS = "*?[{"


def split_data_path(data_path: str) -> tuple[str, str]:
    """(input base, pattern): the base is the longest leading folder with no glob or placeholder.

    `/d/dinos.txt` -> (`/d`, `dinos.txt`); `/d/names/{SPAN}/*.txt` -> (`/d/names`, `{SPAN}/*.txt`).
    """
    parts = str(data_path).rstrip("/").split("/")
    fixed = next((i for i, part in enumerate(parts) if any(c in part for c in GLOB_CHARS)),
                 len(parts) - 1)
    fixed = min(fixed, len(parts) - 1)
    base = "/".join(parts[:fixed]) or ("/" if str(data_path).startswith("/") else ".")
    return base, "/".join(parts[fixed:])


def one_split_config(pattern: str) -> example_gen_pb2.Input:
    """One input split: the pattern under the input base (may hold {SPAN} and {VERSION})."""
    return example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern=pattern)])


def has_span(pattern: str) -> bool:
    return SPAN in pattern


def resolve_latest(input_base: str, input_config: example_gen_pb2.Input) -> tuple[int, int | None]:
    """Fill in the latest span and version in every split pattern (as TFX's driver does)."""
    _, span, version = utils.calculate_splits_fingerprint_span_and_version(
        input_base, input_config.splits)
    return span, version


def _span_regex(pattern: str) -> re.Pattern:
    regex = ""
    for token in re.split(r"(\{SPAN\}|\{VERSION\}|\*|\?)", pattern):
        regex += {"{SPAN}": r"(?P<span>\d+)", "{VERSION}": r"(?P<version>\d+)", "*": r"[^/]*",
                  "?": r"[^/]"}.get(token, re.escape(token))
    return re.compile(regex + "$")


def files_by_span(input_base: str, pattern: str) -> dict[int, list[str]]:
    """The files of each span matching the pattern (the newest {VERSION} of each span)."""
    glob = pattern.replace(SPAN, "*").replace(VERSION, "*")
    regex = _span_regex(pattern)
    found: dict[int, dict[int, list[str]]] = {}
    for path in tf.io.gfile.glob(os.path.join(input_base, glob)):
        match = regex.search(os.path.relpath(path, input_base))
        if match:
            version = int(match.groupdict().get("version") or 0)
            found.setdefault(int(match["span"]), {}).setdefault(version, []).append(path)
    return {span: sorted(by_version[max(by_version)]) for span, by_version in found.items()}


def previous_span(input_base: str, pattern: str, span: int) -> tuple[int, list[str]] | None:
    """The newest span older than `span`, with its files; None when there is none."""
    older = {s: files for s, files in files_by_span(input_base, pattern).items() if s < span}
    if not older:
        return None
    newest = max(older)
    return newest, older[newest]
