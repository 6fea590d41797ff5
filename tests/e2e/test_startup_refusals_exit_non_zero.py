"""A startup config that TF Serving would refuse makes `namegen serve` exit non-zero
(tests/serving/conformance/reload_cases.py: server_core.cc's checks), so an orchestrator restarts
or alerts. Each case starts a server process, hence the slow tier."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.serving.conformance import half_plus_two
from tests.serving.conformance.reload_cases import STARTUP_FAILURES

CAP = 180.0  # seconds a server may take to start and refuse: generous


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """A good model (half_plus_two) and a version that is not a SavedModel."""
    root = tmp_path_factory.mktemp("startup")
    half_plus_two.build(root / "a" / "1")
    (root / "corrupt" / "1").mkdir(parents=True)
    (root / "corrupt" / "1" / "saved_model.pb").write_bytes(b"not a SavedModel")
    return root


@pytest.mark.slow  # a `namegen serve` process per case
@pytest.mark.parametrize("source, config, phrase", STARTUP_FAILURES,
                         ids=[c[0] for c in STARTUP_FAILURES])
def test_a_startup_config_that_cannot_be_served_exits_non_zero(trees, tmp_path, source, config,
                                                                phrase):
    path = tmp_path / "models.config"
    path.write_text(config.replace("{good}", str(trees / "a"))
                    .replace("{corrupt}", str(trees / "corrupt")))
    process = subprocess.Popen(
        [sys.executable, "-m", "namegen.cli", "serve", "--model-config-file", str(path),
         "--port", "0", "--rest-api-port", "0", "--no-ui"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    try:
        output, _ = process.communicate(timeout=CAP)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode not in (0, None), output[-2000:]
    assert phrase in output, output[-2000:]
