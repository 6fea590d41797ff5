"""Fuzzing ingestion end to end: `namegen run` explains a random bad file in one line, with no
traceback (the scan, rules and Beam transform: tests/components/test_fuzz_ingest.py).

More examples: NAMEGEN_FUZZ_EXAMPLES=2000 pytest tests/e2e/test_fuzz_ingest_through_namegen_run.py
"""

from __future__ import annotations

import random
import re

import pytest

from data import encoding


@pytest.mark.slow
def test_namegen_run_explains_random_files_in_one_line(tmp_path, capsys):
    """`namegen run` on random files: exit 2 and one `namegen: error:` line, no traceback."""
    from namegen import cli

    rng = random.Random(8)
    binary = tmp_path / "random.bin"
    binary.write_bytes(bytes(rng.randrange(256) for _ in range(4096)))
    few = tmp_path / "few.txt"
    alphabet = "abcdefgh\u00e9\U0001F995\x01\u0301 "
    few.write_text("\n".join("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
                             for _ in range(6)) + "\n", encoding="utf-8")
    expected = {binary: r"namegen: error: .*random\.bin, line \d+: not valid UTF-8",
                few: r"namegen: error: data validation failed; nothing was trained or pushed"}
    for path, pattern in expected.items():
        root = tmp_path / path.stem
        rc = cli.main(["run", "--preset", "tiny", "--data", str(path), "--pipeline-root",
                       str(root / "pipeline"), "--serving-dir", str(root / "serving"),
                       "--beam-arg=--direct_running_mode=in_memory",
                       "--beam-arg=--direct_num_workers=1"])
        err = capsys.readouterr().err
        assert rc == 2, err[-2000:]
        assert re.search(pattern, err), err[-2000:]
        assert "Traceback" not in err
        assert not (root / "serving" / encoding.MODEL_NAME).exists() or not any(
            p.name.isdigit() for p in (root / "serving" / encoding.MODEL_NAME).iterdir())
