"""A/B predict latency of two `namegen serve` trees in one run, interleaved (issue 23's cost).

    python scripts/ab_predict_latency.py OLD_TREE NEW_TREE [--rounds 20] [--calls 50]

Builds TF Serving's half_plus_two test model, starts `namegen serve` from each tree (its own
code, this interpreter) on a copy, then alternates rounds of sequential Predict calls, REST
(keep-alive) and gRPC, A then B then B then A..., and prints each tree's median and p90 and
the ratio NEW/OLD. Writes ab-predict-latency.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(tree: Path, base: Path) -> tuple[subprocess.Popen, int, int]:
    rest, grpc_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "namegen.cli", "serve", "--model-base-path", str(base),
         "--model-name", "half", "--port", str(grpc_port), "--rest-api-port", str(rest),
         "--no-ui"], cwd=tree, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            connection = http.client.HTTPConnection("127.0.0.1", rest, timeout=5)
            connection.request("GET", "/v1/models/half")
            if connection.getresponse().status == 200:
                return process, rest, grpc_port
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server from {tree} did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    sys.path.insert(0, str(args.new))
    from tests.conformance import half_plus_two

    root = Path(tempfile.mkdtemp(prefix="ab-latency-"))
    half_plus_two.build(root / "model" / "1")
    servers = {}
    for label, tree in (("old", args.old), ("new", args.new)):
        base = root / label
        subprocess.run(["cp", "-r", str(root / "model"), str(base)], check=True)
        servers[label] = start(tree.resolve(), base)
    body = json.dumps({"instances": [1.0, 2.0, 3.0]})
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half"
    request.inputs["x"].dtype = 1
    request.inputs["x"].tensor_shape.dim.add(size=3)
    request.inputs["x"].float_val.extend([1.0, 2.0, 3.0])
    samples = {(label, proto): [] for label in servers for proto in ("rest", "grpc")}
    clients = {}
    for label, (_, rest, grpc_port) in servers.items():
        channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
        clients[label] = (http.client.HTTPConnection("127.0.0.1", rest, timeout=60),
                          prediction_service_pb2_grpc.PredictionServiceStub(channel))
    try:
        for round_ in range(args.rounds + 1):  # round 0 warms up, unmeasured
            order = ["old", "new"] if round_ % 2 == 0 else ["new", "old"]
            for label in order:
                connection, stub = clients[label]
                for _ in range(args.calls):
                    t0 = time.perf_counter()
                    connection.request("POST", "/v1/models/half:predict", body)
                    response = connection.getresponse()
                    assert response.status == 200, response.read()
                    response.read()
                    t1 = time.perf_counter()
                    stub.Predict(request, timeout=60)
                    t2 = time.perf_counter()
                    if round_:
                        samples[(label, "rest")].append(t1 - t0)
                        samples[(label, "grpc")].append(t2 - t1)
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(timeout=60)
    result = {}
    print(f"{'protocol':8} {'old median ms':>14} {'new median ms':>14} {'old p90':>9} "
          f"{'new p90':>9} {'new/old median':>15}")
    for proto in ("rest", "grpc"):
        old, new = samples[("old", proto)], samples[("new", proto)]
        row = {"old_median_ms": statistics.median(old) * 1e3,
               "new_median_ms": statistics.median(new) * 1e3,
               "old_p90_ms": statistics.quantiles(old, n=10)[-1] * 1e3,
               "new_p90_ms": statistics.quantiles(new, n=10)[-1] * 1e3, "calls": len(old)}
        row["ratio_median"] = row["new_median_ms"] / row["old_median_ms"]
        result[proto] = row
        print(f"{proto:8} {row['old_median_ms']:14.3f} {row['new_median_ms']:14.3f} "
              f"{row['old_p90_ms']:9.3f} {row['new_p90_ms']:9.3f} {row['ratio_median']:15.3f}")
    Path("ab-predict-latency.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
