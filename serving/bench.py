"""`namegen bench serve`: load on a local `namegen serve`, over REST and gRPC, as a table + JSON."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from serving import model_dir
from serving.client import Client
from serving.errors import ServingError

_READY = re.compile(r"REST on (http://\S+)\s+gRPC on (grpc://\S+)")
MAX_REQUESTS_PER_CLIENT = 100_000  # a count bound on top of the time bound


def start_server(model_base: Path, extra_args: list[str],
                 timeout: float = 180.0) -> tuple[subprocess.Popen, str, str]:
    """`namegen serve` on free local ports; returns (process, REST URL, gRPC URL) once ready."""
    command = [sys.executable, "-m", "namegen.cli", "serve", "--model-base-path",
               str(model_base), "--model-name", model_base.name, "--port", "0",
               "--rest-api-port", "0", *extra_args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, cwd=Path(__file__).resolve().parent.parent)
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        for line in process.stdout:
            match = _READY.search(line)
            if match:
                return process, match.group(1), match.group(2)
    finally:
        killer.cancel()
    process.kill()
    raise RuntimeError(f"namegen serve did not start (exit code {process.wait()})")


def stop_server(process: subprocess.Popen, timeout: float = 60.0) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def drive(protocol: str, url: str, batch_size: int, clients: int, seconds: float, model: str,
          temperature: float = 0.8) -> dict:
    """`clients` threads each sending batches back to back for `seconds`; latency and errors."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[dict[str, int]] = [{} for _ in range(clients)]
    start = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client_loop(index: int) -> None:
        client = Client(url, timeout=30.0, model=model, retries=0)
        client.generate("", batch_size, temperature, index)  # connect and warm up, untimed
        start.wait()
        for request in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= deadline[0]:
                break
            began = time.perf_counter()
            try:
                client.generate("", batch_size, temperature, (index << 32) + request * batch_size)
            except ServingError as error:
                errors[index][error.code.name] = errors[index].get(error.code.name, 0) + 1
                continue
            latencies[index].append(time.perf_counter() - began)
        client.close()

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait(timeout=120)
    began = time.monotonic()
    deadline[0] = began + seconds
    for thread in threads:
        thread.join(timeout=seconds + 120)
    elapsed = time.monotonic() - began
    done = np.array([t for per_client in latencies for t in per_client]) * 1000.0
    error_counts: dict[str, int] = {}
    for per_client in errors:
        for code, count in per_client.items():
            error_counts[code] = error_counts.get(code, 0) + count
    percentile = (lambda q: float(np.percentile(done, q))) if done.size else (lambda q: None)
    return {
        "protocol": protocol, "batch_size": batch_size, "clients": clients,
        "seconds": round(elapsed, 2), "requests": int(done.size),
        "p50_ms": percentile(50), "p95_ms": percentile(95), "p99_ms": percentile(99),
        "names_per_s": done.size * batch_size / elapsed, "errors": sum(error_counts.values()),
        "errors_by_code": error_counts,
    }


def table(results: list[dict]) -> str:
    header = (f"{'protocol':<8} {'batch':>5} {'clients':>7} {'requests':>8} {'p50 ms':>8} "
              f"{'p95 ms':>8} {'p99 ms':>8} {'names/s':>9} {'errors':>6}")
    lines = [header, "-" * len(header)]
    for r in results:
        ms = [f"{r[k]:8.1f}" if r[k] is not None else f"{'-':>8}"
              for k in ("p50_ms", "p95_ms", "p99_ms")]
        lines.append(f"{r['protocol']:<8} {r['batch_size']:>5} {r['clients']:>7} "
                     f"{r['requests']:>8} {' '.join(ms)} {r['names_per_s']:>9.0f} "
                     f"{r['errors']:>6}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    version_dir = model_dir.resolve(args.model)
    model_base = version_dir.parent
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    protocols = [p.strip() for p in args.protocols.split(",")]
    print(f"bench serve: {version_dir}, {args.clients} clients x {args.seconds:g}s per cell",
          file=sys.stderr)
    process, rest_url, grpc_url = start_server(model_base, args.server_arg or [])
    results = []
    try:
        for protocol in protocols:
            url = {"rest": rest_url, "grpc": grpc_url}[protocol]
            for batch_size in batch_sizes:
                result = drive(protocol, url, batch_size, args.clients, args.seconds,
                               model_base.name)
                results.append(result)
                print(table([result]).splitlines()[-1], file=sys.stderr, flush=True)
    finally:
        exit_code = stop_server(process)
    report = {
        "model": str(version_dir), "clients": args.clients, "seconds_per_cell": args.seconds,
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
        "server_exit_code": exit_code, "server_args": args.server_arg or [], "results": results,
    }
    Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(table(results))
    print(f"(JSON: {args.json}; server exited with {exit_code} after SIGTERM)")
    return 0 if all(r["errors"] == 0 for r in results) and exit_code == 0 else 1
