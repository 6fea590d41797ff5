"""Shared pieces of the serving tests: a local server on a copied model tree, golden matching."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

GOLDEN_DIR = Path(__file__).parent / "golden" / "serving"
UPDATE_GOLDENS = os.environ.get("NAMEGEN_UPDATE_GOLDENS") == "1"
ANY = {"<str>": str, "<float>": float, "<int>": int, "<bool>": bool}


def copy_version(version_dir: Path, model_base: Path, version: int) -> Path:
    """Pushes a copy of a version atomically, as the Pusher does (.incoming-* then rename)."""
    model_base.mkdir(parents=True, exist_ok=True)
    incoming = model_base / f".incoming-{version}"
    shutil.copytree(version_dir, incoming)
    target = model_base / str(version)
    os.rename(incoming, target)
    return target


@dataclasses.dataclass
class LocalServer:
    core: object
    endpoints: object
    model_base: Path

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.endpoints.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.endpoints.grpc_port}"

    def stop(self) -> None:
        from serving import server

        server.drain(self.core, self.endpoints, grace=5)


def start_local_server(model_base: Path, config_file: Path | None = None, poll_seconds=0.2,
                       warmup: bool = False, prometheus_path: str | None = None,
                       **limits) -> LocalServer:
    from serving import models, server
    from serving.limits import Limits

    configs = (models.read_config_file(config_file) if config_file
               else [models.single_model_config("names", model_base)])
    manager = models.ModelManager(configs, poll_seconds)
    core = server.ModelServer(manager, Limits(**limits), max_concurrent=2, max_queued=16,
                              prometheus_path=prometheus_path)
    if warmup:
        manager.warmup_runner = core.warmup
    manager.start()
    endpoints = server.start(core, "127.0.0.1", 0, 0, read_timeout=2.0, max_connections=64)
    return LocalServer(core, endpoints, model_base)


def http(method: str, url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def placeholders(value):
    """A value with every leaf replaced by its type placeholder (for model-dependent parts)."""
    if isinstance(value, dict):
        return {k: placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [placeholders(v) for v in value]
    for token, kind in ANY.items():
        if type(value) is kind:
            return token
    raise TypeError(value)


def matches(expected, actual, where: str = "$") -> None:
    """Asserts actual fits expected; '<str>'-style placeholders match any value of that type."""
    if isinstance(expected, str) and expected in ANY:
        assert type(actual) is ANY[expected], f"{where}: {actual!r} is not {expected}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), \
            f"{where}: keys {sorted(actual) if isinstance(actual, dict) else actual} != " \
            f"{sorted(expected)}"
        for key in expected:
            matches(expected[key], actual[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            f"{where}: {actual!r} != {expected!r}"
        for index, (e, a) in enumerate(zip(expected, actual)):
            matches(e, a, f"{where}[{index}]")
    else:
        assert expected == actual, f"{where}: {actual!r} != {expected!r}"


def wait_for(condition, seconds: float = 60.0) -> bool:
    """Poll condition() every 0.1 s until it is true or the time is up."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def serve_first_version(model_dir: Path, base: Path):
    """Copy a SavedModel in as version 1 under base and start a local server on it."""
    copy_version(model_dir, base, 1)
    return start_local_server(base)
