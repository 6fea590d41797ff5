"""Serving faults not covered by test_serving_versions.py: truncated and incomplete versions,
a removed version, pushes under sustained load (a short soak), and no pickle/eval anywhere near
request data or pipeline inputs."""

from __future__ import annotations

import ast
import json
import shutil
import threading
import time
from pathlib import Path

from tests.serving_helpers import (
    copy_version,
    http,
    serve_first_version,
    wait_for,
)

PROJECT = Path(__file__).resolve().parent.parent
SCORE = json.dumps({"signature_name": "score", "inputs": ["Rex"]}).encode()


def _states(local) -> dict[str, dict]:
    _, body = http("GET", local.rest + "/v1/models/names")
    return {s["version"]: s for s in body["model_version_status"]}


def _state(local, version: str) -> str | None:
    return _states(local).get(version, {}).get("state")


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
        states = _states(local)
        assert states["1"]["state"] == "AVAILABLE"
        for version in ("2", "3"):
            assert states[version]["status"]["error_code"] != "OK"
            assert states[version]["status"]["error_message"]
        status, _ = http("POST", local.rest + "/v1/models/names:predict", SCORE)
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
            status, body = http("POST", local.rest + "/v1/models/names:predict", SCORE)
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
        status, _ = http("POST", local.rest + "/v1/models/names/versions/2:predict", SCORE)
        assert status == 404
    finally:
        stop.set()
        if client.ident is not None:
            client.join(timeout=60)
        local.stop()
    assert failures == []


def test_short_soak_has_no_errors_and_serves_the_last_push(tiny_model, tmp_path):
    """The soak benchmark, briefly: 4 clients (REST and gRPC), a push every 2 s (old versions
    removed), zero errors, the newest version served at the end, and a clean exit."""
    from namegen.bench import soak

    result = soak.soak(tiny_model, clients=4, seconds=8.0, push_every=2.0, keep=2, window=4.0,
                       batch_size=4, workdir=str(tmp_path))
    assert result["errors"] == 0, result["first_errors"]
    assert len(result["pushes"]) >= 3 and result["requests"] > 0
    assert result["served_at_end"] == result["last_pushed"]
    assert result["server_exit_code"] == 0
    assert result["rss_start_mib"] > 0 and result["windows"]
    assert "errors 0" in soak.format_table(result)


def test_soak_command_registers_in_the_bench_group():
    from namegen import cli

    args = cli.build_parser().parse_args(["bench", "soak", "--seconds", "5", "--clients", "2"])
    assert (args.seconds, args.clients, args.push_every, args.func.__name__) == \
        (5.0, 2, 60.0, "cmd_soak")


# --- no pickle or eval on request data or pipeline inputs ---------------------------------------
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "jsonpickle"}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else ""
            if name in UNSAFE_CALLS and isinstance(func, ast.Name):  # the builtins
                found.append(f"{where}: {name}()")
            if name == "load" and isinstance(func, ast.Attribute) and \
                    getattr(func.value, "id", "") == "yaml":
                found.append(f"{where}: yaml.load (use yaml.safe_load)")
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                    found.append(f"{where}: allow_pickle")
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in UNSAFE_MODULES:
                    found.append(f"{where}: import {module}")
    return found


def test_no_pickle_or_eval_in_the_code_that_reads_requests_or_inputs():
    sources = [p for folder in ("serving", "components", "pipeline", "namegen", "data")
               for p in sorted((PROJECT / folder).rglob("*.py"))]
    assert len(sources) > 20
    problems = [problem for path in sources for problem in _problems(path)]
    assert problems == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The scan above is not vacuous: each pattern it bans is found in a planted file."""
    planted = tmp_path / "planted.py"
    planted.write_text("import pickle\nfrom dill import loads\nimport yaml\nimport re\n"
                       "eval('1')\nexec('x=1')\nyaml.load(s)\nnp.load(f, allow_pickle=True)\n"
                       "re.compile('x')\nyaml.safe_load(s)\n")
    found = _problems(planted)
    assert len(found) == 6, found
