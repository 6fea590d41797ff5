"""Shared pieces of the serving tests: a local server on a copied model tree."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


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
    watcher: object = None

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.endpoints.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.endpoints.grpc_port}"

    def stop(self) -> None:
        from serving.model_servers import http_server as server

        if self.watcher:
            self.watcher.stop()
        server.drain(self.core, self.endpoints, grace=5)


def start_local_server(model_base: Path, config_file: Path | None = None, poll_seconds=0.2,
                       warmup: bool = False, prometheus_path: str | None = None,
                       config_poll_seconds: float = 0, batching=None, **limits) -> LocalServer:
    from serving.model_servers import http_server as server
    from serving.model_servers import manager, model_config
    from serving.model_servers.limits import Limits
    from serving.model_servers.server_core import ConfigFileWatcher

    configs = (model_config.read_config_file(config_file) if config_file
               else [model_config.single_model_config("names", model_base)])
    manager = manager.ModelManager(configs, poll_seconds)
    core = server.ModelServer(manager, Limits(**limits), max_concurrent=2, max_queued=16,
                              prometheus_path=prometheus_path, batching=batching)
    if warmup:
        manager.warmup_runner = core.warmup
    manager.start()
    watcher = (ConfigFileWatcher(core, config_file, config_poll_seconds).start()
               if config_file and config_poll_seconds else None)
    endpoints = server.start(core, "127.0.0.1", 0, 0, read_timeout=2.0, max_connections=64,
                             header_timeout=2.0, body_timeout=2.0)
    return LocalServer(core, endpoints, model_base, watcher)


def http(method: str, url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# One row for the score signature: the cheapest request that proves a version answers.
SCORE_REQUEST = json.dumps({"signature_name": "score", "inputs": ["Rex"]}).encode()


def version_status(local) -> dict[str, dict]:
    """GET /v1/models/names: each version's status object (state, status), by version."""
    _, body = http("GET", local.rest + "/v1/models/names")
    return {s["version"]: s for s in body["model_version_status"]}


def version_states(local) -> dict[str, str]:
    """Each version's state (AVAILABLE, END, ...), by version."""
    return {version: s["state"] for version, s in version_status(local).items()}


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


@contextlib.contextmanager
def serving_first_version(model_dir: Path, base: Path) -> Iterator[LocalServer]:
    """serve_first_version for the length of a `with` block (a module fixture's body)."""
    local = serve_first_version(model_dir, base)
    try:
        yield local
    finally:
        local.stop()


def perturbed_version(version_dir: Path, model_base: Path, version: int,
                      scale: float = 0.5) -> Path:
    """Pushes a copy of a version whose float weights are multiplied by `scale`: the same
    graph and signatures, different answers (a real new version, not a byte copy)."""
    import tensorflow as tf

    model_base.mkdir(parents=True, exist_ok=True)
    incoming = model_base / f".incoming-{version}"
    shutil.copytree(version_dir, incoming, ignore=shutil.ignore_patterns("variables"))
    (incoming / "variables").mkdir()
    reader = tf.train.load_checkpoint(str(version_dir / "variables" / "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    names = sorted(dtypes)
    values = [tf.constant(reader.get_tensor(name) * (scale if dtypes[name].is_floating else 1),
                          dtype=dtypes[name]) if dtypes[name] != tf.string
              else tf.constant(reader.get_tensor(name)) for name in names]
    tf.raw_ops.SaveV2(prefix=str(incoming / "variables" / "variables"), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=values)
    target = model_base / str(version)
    os.rename(incoming, target)
    return target


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on `port`, from /proc/net/tcp{,6}
    (an IPv4-mapped IPv6 address is given as its IPv4 address)."""
    import ipaddress

    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                # 32-bit words in host (little-endian) order
                raw = b"".join(bytes.fromhex(address[i:i + 8])[::-1]
                               for i in range(0, len(address), 8))
                ip = ipaddress.ip_address(raw)
                mapped = getattr(ip, "ipv4_mapped", None)
                found.add(str(mapped or ip))
    return found
