"""Serving faults not covered by tests/e2e/test_serving_version_lifecycle.py: truncated and
incomplete versions, a removed version, pushes under sustained load (a short soak)."""

from __future__ import annotations

import shutil
import threading
import time

from tests.support.serving_helpers import (
    SCORE_REQUEST,
    copy_version,
    http,
    serve_first_version,
    version_states,
    version_status,
    wait_for,
)


def _state(local, version: str) -> str | None:
    return version_states(local).get(version)


def test_truncated_model_and_missing_variables_are_skipped(tiny_model, tmp_path):
    base = tmp_path / "names"
    local = serve_first_version(tiny_model, base)
    try:
        truncated = base / "2"
        shutil.copytree(tiny_model, truncated)
        graph = (truncated / "saved_model.pb").read_bytes()
        (truncated / "saved_model.pb").write_bytes(graph[: len(graph) // 2])
        assert wait_for(lambda: _state(local, "2") == "END")
        no_variables = base / "3"
        shutil.copytree(tiny_model, no_variables)
        for data in (no_variables / "variables").glob("variables.data-*"):
            data.unlink()
        assert wait_for(lambda: _state(local, "3") == "END")
        states = version_status(local)
        assert states["1"]["state"] == "AVAILABLE"
        for version in ("2", "3"):
            assert states[version]["status"]["error_code"] != "OK"
            assert states[version]["status"]["error_message"]
        status, _ = http("POST", local.rest + "/v1/models/names:predict", SCORE_REQUEST)
        assert status == 200
    finally:
        local.stop()



def test_removed_version_is_unloaded_and_the_previous_one_serves_again(tiny_model, tmp_path):
    """Remove the serving version while a client loops: it is unloaded, the version before it
    loads again (as in TF Serving), and no request fails."""
    base = tmp_path / "names"
    local = serve_first_version(tiny_model, base)
    failures, stop = [], threading.Event()

    def loop() -> None:
        for _ in range(10_000):  # bounded by count and by the stop event
            if stop.is_set():
                return
            status, body = http("POST", local.rest + "/v1/models/names:predict", SCORE_REQUEST)
            if status != 200:
                failures.append((status, body))

    client = threading.Thread(target=loop)
    try:
        assert _state(local, "1") == "AVAILABLE"
        copy_version(tiny_model, base, 2)  # v1 served, then unloaded for v2
        assert wait_for(lambda: _state(local, "2") == "AVAILABLE" and
                         _state(local, "1") == "END")
        client.start()
        time.sleep(0.5)
        shutil.rmtree(base / "2")
        assert wait_for(lambda: _state(local, "1") == "AVAILABLE" and
                         _state(local, "2") == "END")
        time.sleep(0.5)
        status, _ = http("POST", local.rest + "/v1/models/names/versions/2:predict", SCORE_REQUEST)
        assert status == 404
    finally:
        stop.set()
        if client.ident is not None:
            client.join(timeout=60)
        local.stop()
    assert failures == []



def test_short_soak_has_no_errors_and_serves_the_last_push(tiny_model, tmp_path):
    """The soak benchmark, briefly: 4 clients (REST and gRPC), a push every 2 s (old versions
    removed) until 3 pushes were made, zero errors, the newest version served at the end, and a
    clean exit. The soak waits for its pushes (capped at 10 minutes); it does not count them
    after a fixed time."""
    from namegen.bench import soak

    result = soak.soak(tiny_model, clients=4, seconds=2.0, push_every=2.0, keep=2, window=4.0,
                       batch_size=4, workdir=str(tmp_path), min_pushes=3)
    assert result["errors"] == 0, result["first_errors"]
    assert len(result["pushes"]) >= 3 and result["requests"] > 0
    assert result["served_at_end"] == result["last_pushed"]
    assert result["server_exit_code"] == 0
    assert result["rss_start_mib"] > 0 and result["windows"]
    assert "errors 0" in soak.format_table(result)
