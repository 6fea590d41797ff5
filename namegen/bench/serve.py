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
                               text=True, cwd=Path(__file__).resolve().parents[2])
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
          temperature: float = 0.8, client_timeout: float = 120.0,
          stop: threading.Event | None = None) -> dict:
    """`clients` threads each sending batches back to back for `seconds` (or until `stop` is
    set, if sooner); latency and errors."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[dict[str, int]] = [{} for _ in range(clients)]
    began = [0.0]
    deadline = [0.0]

    def open_cell() -> None:  # runs once every client has warmed up, before any is released
        began[0] = time.monotonic()
        deadline[0] = began[0] + seconds

    # (Set in the barrier's action: set after it, clients released first read a deadline of
    # 0 and stopped at once, so most of 64 clients sent nothing.)
    start = threading.Barrier(clients + 1, action=open_cell)

    def client_loop(index: int) -> None:
        client = Client(url, timeout=client_timeout, model=model, retries=0)
        try:
            client.generate("", batch_size, temperature, index)  # connect and warm up, untimed
        except ServingError as error:  # counted like any other failed request
            errors[index][error.code.name] = errors[index].get(error.code.name, 0) + 1
        start.wait()
        for request in range(MAX_REQUESTS_PER_CLIENT):
            if time.monotonic() >= deadline[0] or (stop is not None and stop.is_set()):
                break
            sent = time.perf_counter()
            try:
                client.generate("", batch_size, temperature, (index << 32) + request * batch_size)
            except ServingError as error:
                errors[index][error.code.name] = errors[index].get(error.code.name, 0) + 1
                continue
            latencies[index].append(time.perf_counter() - sent)
        client.close()

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True)
               for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait(timeout=2 * client_timeout)
    for thread in threads:
        thread.join(timeout=seconds + 2 * client_timeout)
    elapsed = time.monotonic() - began[0]
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
    header = (f"{'batching':<8} {'protocol':<8} {'batch':>5} {'clients':>7} {'requests':>8} "
              f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'names/s':>9} {'errors':>6}")
    lines = [header, "-" * len(header)]
    for r in results:
        ms = [f"{r[k]:8.1f}" if r[k] is not None else f"{'-':>8}"
              for k in ("p50_ms", "p95_ms", "p99_ms")]
        lines.append(f"{r.get('batching', 'off'):<8} {r['protocol']:<8} {r['batch_size']:>5} "
                     f"{r['clients']:>7} "
                     f"{r['requests']:>8} {' '.join(ms)} {r['names_per_s']:>9.0f} "
                     f"{r['errors']:>6}")
    return "\n".join(lines)


def server_args(batching: str, parameters_file: str | None, extra: list[str]) -> list[str]:
    """`namegen serve` arguments for one batching mode ("on" or "off")."""
    if batching == "off":
        return list(extra)
    return ["--enable_batching", *([f"--batching_parameters_file={parameters_file}"]
                                   if parameters_file else []), *extra]


def _list(text: str, kind=str) -> list:
    return [kind(item.strip()) for item in str(text).split(",") if item.strip()]


def run(args: argparse.Namespace) -> int:
    """Every cell (batching mode x protocol x clients x batch size), one server per mode."""
    version_dir = model_dir.resolve(args.model)
    model_base = version_dir.parent
    batch_sizes, clients = _list(args.batch_sizes, int), _list(args.clients, int)
    protocols = _list(args.protocols)
    modes = ["off", "on"] if args.batching == "both" else [args.batching]
    print(f"bench serve: {version_dir}, clients {clients}, batching {modes}, "
          f"{args.seconds:g}s per cell", file=sys.stderr)
    results, exit_codes, load_before = [], {}, os.getloadavg()
    for mode in modes:
        extra = server_args(mode, args.batching_parameters_file, args.server_arg or [])
        process, rest_url, grpc_url = start_server(model_base, extra)
        try:
            for protocol in protocols:
                url = {"rest": rest_url, "grpc": grpc_url}[protocol]
                for count in clients:
                    for batch_size in batch_sizes:
                        result = drive(protocol, url, batch_size, count, args.seconds,
                                       model_base.name, client_timeout=args.client_timeout)
                        result["batching"] = mode
                        results.append(result)
                        print(table([result]).splitlines()[-1], file=sys.stderr, flush=True)
        finally:
            exit_codes[mode] = stop_server(process)
    report = {
        "model": str(version_dir), "clients": clients, "seconds_per_cell": args.seconds,
        "batching": modes, "batching_parameters_file": args.batching_parameters_file,
        "cpu_count": os.cpu_count(), "load_average_before": load_before,
        "load_average": os.getloadavg(), "server_exit_codes": exit_codes,
        "server_args": args.server_arg or [], "results": results,
    }
    Path(args.json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    print(table(results))
    print(f"(JSON: {args.json}; servers exited with {exit_codes} after SIGTERM)")
    return 0 if all(r["errors"] == 0 for r in results) and not any(exit_codes.values()) else 1
