"""`namegen bench soak`: clients for minutes against `namegen serve` while versions are pushed.

Copies one model version into a fresh model folder, starts `namegen serve` on it (local ports
only), and runs `clients` threads (REST and gRPC alternating) sending generate requests back to
back. Every `push_every` seconds a new version is pushed atomically, as the Pusher does
(`.incoming-*` then a rename), and versions older than the last `keep` are removed, so loads,
unloads and removals all happen under load. Reports the error count (target 0), latency
percentiles per time window, and the server's resident memory at the start and the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from data import encoding
from namegen import arguments
from pipeline import configs

MAX_REQUESTS_PER_CLIENT = 10_000_000  # a count bound on top of the time bound


def add_soak_arguments(soak: argparse.ArgumentParser) -> None:
    soak.set_defaults(validate=arguments.paths_must_exist(
        "--model", fix="; pass a version, model or serving folder (namegen run writes one)"))
    soak.add_argument("--model", default=str(configs.DEFAULT_SERVING_DIR),
                      help="a version folder, a model folder or a serving dir (newest version)")
    soak.add_argument("--clients", type=arguments.at_least(1), default=8,
                      help="concurrent clients")
    soak.add_argument("--seconds", type=arguments.at_least(0, float), default=600.0,
                      help="duration (default 10 min)")
    soak.add_argument("--push-every", type=float, default=60.0, help="seconds between pushes")
    soak.add_argument("--keep", type=int, default=3, help="versions kept on disk")
    soak.add_argument("--window", type=float, default=60.0, help="seconds per latency window")
    soak.add_argument("--batch-size", type=arguments.at_least(1), default=8,
                      help="names per request")
    soak.add_argument("--json", default="bench-soak.json", help="where to write the results")
    soak.add_argument("--server-arg", action="append",
                      help="extra `namegen serve` argument (repeatable)")


def cmd_soak(args: argparse.Namespace) -> int:
    from serving import model_dir

    result = soak(model_dir.resolve(args.model), clients=args.clients, seconds=args.seconds,
                  push_every=args.push_every, keep=args.keep, window=args.window,
                  batch_size=args.batch_size, server_args=args.server_arg or [])
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
        print(f"results: {args.json}")
    return 0 if result["errors"] == 0 else 1


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def push(version_dir: Path, base: Path, version: int) -> None:
    incoming = base / f".incoming-soak-{version}"
    shutil.copytree(version_dir, incoming)
    os.rename(incoming, base / str(version))


def soak(version_dir: Path, clients: int = 8, seconds: float = 600.0, push_every: float = 60.0,
         keep: int = 3, window: float = 60.0, batch_size: int = 8,
         server_args: list[str] | None = None, workdir: str | None = None,
         min_pushes: int = 0, cap_seconds: float = 600.0) -> dict:
    """Clients for `seconds` while a version is pushed every `push_every` seconds.

    With min_pushes, the soak goes on past `seconds` until that many pushes were made (at most
    `cap_seconds` more): a loaded machine makes it longer, never short of pushes.
    """
    from namegen.bench.serve import start_server, stop_server
    from serving.client import Client

    root = Path(tempfile.mkdtemp(prefix="namegen-soak-", dir=workdir))
    base = root / encoding.MODEL_NAME
    base.mkdir()
    push(version_dir, base, 1)
    process, rest, grpc_url = start_server(base, ["--poll-seconds", "0.5", *(server_args or [])])
    samples: list[list[tuple[float, float]]] = [[] for _ in range(clients)]  # (t, latency)
    errors: list[list[tuple[float, str]]] = [[] for _ in range(clients)]
    stop = threading.Event()
    ready = threading.Barrier(clients + 1)
    began = [0.0]

    def client_loop(index: int) -> None:
        url = rest if index % 2 == 0 else grpc_url
        client = Client(url, timeout=30.0, model=encoding.MODEL_NAME, retries=0)
        try:
            client.generate("", batch_size, 0.8, index)  # connect and warm up, untimed
        finally:
            ready.wait()
        for request in range(MAX_REQUESTS_PER_CLIENT):
            if stop.is_set():
                break
            t0 = time.perf_counter()
            try:
                client.generate("", batch_size, 0.8, (index << 32) + request)
            except Exception as error:  # noqa: BLE001  every failure is counted
                errors[index].append((time.monotonic() - began[0], f"{type(error).__name__}: "
                                      f"{str(error)[:200]}"))
                continue
            samples[index].append((time.monotonic() - began[0], time.perf_counter() - t0))
        client.close()

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True)
               for i in range(clients)]
    pushes: list[dict] = []
    rss: list[tuple[float, int]] = []  # (t, bytes), about once a second
    try:
        for thread in threads:
            thread.start()
        ready.wait(timeout=300)
        time.sleep(min(5.0, seconds / 10))  # let the first requests settle before measuring
        rss_start = rss_bytes(process.pid)
        began[0] = time.monotonic()
        deadline = began[0] + seconds
        version = 1
        next_push = began[0] + push_every
        cap = deadline + cap_seconds

        def going_on() -> bool:  # until the deadline, and then until min_pushes (capped)
            now = time.monotonic()
            return now < deadline or (len(pushes) < min_pushes and now < cap)

        while going_on():
            wake = min(next_push, time.monotonic() + 1.0)
            if len(pushes) >= min_pushes:
                wake = min(wake, deadline)
            time.sleep(max(0.0, wake - time.monotonic()))
            rss.append((time.monotonic() - began[0], rss_bytes(process.pid)))
            if not going_on():
                break
            if time.monotonic() < next_push:
                continue
            version += 1
            push(version_dir, base, version)
            removed = [v for v in sorted(int(p.name) for p in base.iterdir() if p.name.isdigit())
                       if v <= version - keep]
            for old in removed:
                shutil.rmtree(base / str(old))
            pushes.append({"at": round(time.monotonic() - began[0], 1), "version": version,
                           "removed": removed})
            next_push += push_every
        stop.set()
        measured = time.monotonic() - began[0]
        for thread in threads:
            thread.join(timeout=60)
        rss_end = rss_bytes(process.pid)
        settle = time.monotonic() + 60  # the last push may still be loading: wait, bounded
        while (final_version := _served_version(rest)) != version and time.monotonic() < settle:
            time.sleep(0.2)
    finally:
        stop.set()
        exit_code = stop_server(process)
        shutil.rmtree(root, ignore_errors=True)
    seconds = max(seconds, measured)
    return summarise(samples, errors, pushes, seconds, window, clients, batch_size, rss_start,
                     rss_end, final_version, version, exit_code, rss)


def _served_version(rest: str) -> int | None:
    import urllib.request

    with urllib.request.urlopen(f"{rest}/v1/models/{encoding.MODEL_NAME}", timeout=10) as reply:
        body = json.loads(reply.read())
    available = [int(s["version"]) for s in body["model_version_status"]
                 if s["state"] == "AVAILABLE"]
    return max(available) if available else None


def summarise(samples, errors, pushes, seconds, window, clients, batch_size, rss_start, rss_end,
              final_version, last_pushed, exit_code, rss=()) -> dict:
    points = sorted(p for per_client in samples for p in per_client)
    failures = sorted(e for per_client in errors for e in per_client)
    windows = []
    edges = np.arange(0.0, seconds + 1e-9, window)
    for start in edges:
        latencies = np.array([lat for t, lat in points if start <= t < start + window])
        if not len(latencies):
            continue
        p50, p90, p99 = np.percentile(latencies, [50, 90, 99]) * 1000
        memory = [b for t, b in rss if start <= t < start + window]
        windows.append({"from_s": round(float(start)), "requests": int(len(latencies)),
                        "rss_mib": round(max(memory) / 2**20, 1) if memory else None,
                        "p50_ms": round(float(p50), 2), "p90_ms": round(float(p90), 2),
                        "p99_ms": round(float(p99), 2), "max_ms": round(float(latencies.max()
                                                                              * 1000), 2)})
    return {
        "seconds": seconds, "clients": clients, "batch_size": batch_size,
        "requests": len(points), "errors": len(failures), "first_errors": failures[:10],
        "windows": windows, "pushes": pushes, "last_pushed": last_pushed,
        "served_at_end": final_version, "rss_start_mib": round(rss_start / 2**20, 1),
        "rss_end_mib": round(rss_end / 2**20, 1),
        "rss_change": round((rss_end - rss_start) / rss_start, 4),
        "server_exit_code": exit_code,
    }


def format_table(result: dict) -> str:
    lines = [f"soak: {result['clients']} clients x {result['seconds']:.0f}s, batch "
             f"{result['batch_size']}, {len(result['pushes'])} pushes "
             f"(served at end: v{result['served_at_end']} of v{result['last_pushed']})",
             f"  requests {result['requests']:,}   errors {result['errors']}",
             f"  server RSS {result['rss_start_mib']} MiB -> {result['rss_end_mib']} MiB "
             f"({result['rss_change']:+.1%})   exit code {result['server_exit_code']}",
             "  window      requests   p50 ms   p90 ms   p99 ms   max ms   RSS MiB"]
    for w in result["windows"]:
        lines.append(f"  {w['from_s']:>5}s   {w['requests']:>10,} {w['p50_ms']:>8} "
                     f"{w['p90_ms']:>8} {w['p99_ms']:>8} {w['max_ms']:>8} "
                     f"{w.get('rss_mib') or '':>9}")
    for at, message in result["first_errors"]:
        lines.append(f"  error at {at:.1f}s: {message}")
    return "\n".join(lines)
