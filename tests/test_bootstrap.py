"""scripts/bootstrap.sh: the one place the environment is made."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_bootstrap_stops_before_installing_when_the_disk_is_too_full(tmp_path):
    (tmp_path / "scripts").mkdir()
    for name in ("scripts/bootstrap.sh", "requirements.lock", "pyproject.toml"):
        shutil.copy(PROJECT / name, tmp_path / name)
    env = {**os.environ, "BOOTSTRAP_MIN_FREE_MIB": str(10**9)}
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "bootstrap.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert " MiB free on " in done.stderr
    assert "needs about 1000000000 MiB. Free some space and rerun." in done.stderr
    assert not (tmp_path / ".venv").exists()
