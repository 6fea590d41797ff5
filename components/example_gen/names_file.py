"""Names files without TFX or Beam: the line rules ExampleGen applies, and reading a split."""

from __future__ import annotations

import os
from collections.abc import Iterator

from data import encoding

BOM = "\ufeff"
KEPT, BLANK, TOO_LONG = "kept", "blank", "too_long"


class IngestError(ValueError):
    """The input file cannot be read as UTF-8 names."""


def clean_line(raw: bytes) -> str:
    """Decode one line and strip a BOM, CR/LF and surrounding whitespace (UnicodeDecodeError)."""
    return raw.decode("utf-8").replace(BOM, "").strip()


def classify(name: str, max_length: int = encoding.MAX_NAME_LENGTH) -> str:
    if not name:
        return BLANK
    if len(name) > max_length:
        return TOO_LONG
    return KEPT


def raw_lines(path: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The file's lines as Beam's ReadFromText splits them: at b"\\n" only, any "\\r" kept.

    (Iterating a tf.io.gfile.GFile would drop every "\\r", so a line of just "\\r" vanished.)
    """
    import tensorflow as tf  # only here, as in read_split

    pending: list[bytes] = []  # the unfinished line's pieces (a list: no quadratic copying)
    with tf.io.gfile.GFile(path, "rb") as f:
        while chunk := f.read(chunk_size):
            first, *rest = chunk.split(b"\n")
            pending.append(first)
            if rest:
                yield b"".join(pending) + b"\n"
                for line in rest[:-1]:
                    yield line + b"\n"
                pending = [rest[-1]]
    if tail := b"".join(pending):
        yield tail


def read_split(examples_uri: str, split: str) -> list[str]:
    """The names in one split of an ExampleGen output artifact."""
    import tensorflow as tf  # only here: the line rules above are imported by cheap commands

    files = sorted(tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*")))
    names = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        example = tf.train.Example.FromString(record.numpy())
        names.append(example.features.feature[encoding.NAME_FEATURE].bytes_list.value[0]
                     .decode("utf-8"))
    return names
