"""Server-side batching on a real server: the names model over REST and gRPC, and the
batching switch of `namegen bench serve` (the scheduler's own rules: tests/test_batching.py)."""

from __future__ import annotations

import collections
import threading

from serving.model_servers.batching_session import BatchingParameters

NEVER = 600_000_000  # a batch timeout (µs) no test waits out: batches close by filling up


# --- the names model, over REST and gRPC -------------------------------------------------------
def test_batched_names_are_byte_identical_to_unbatched_ones(tiny_model, tmp_path, monkeypatch):
    """Every row is sampled from its own `seed`, so a request's names, log-probs and lengths
    must not depend on which requests shared its batch. Four requests (2 REST, 2 gRPC; 1 + 3 +
    5 + 7 rows) fill one 16-row batch: one underlying run, and the same answers as a server
    without batching."""
    from serving import contract
    from serving.client import Client
    from serving.model_servers import servable as models
    from tests.serving_helpers import copy_version, start_local_server

    runs = []
    original = models.Servable.run

    def counted(self, signature_name, inputs, output_filter=()):
        runs.append((signature_name, len(next(iter(inputs.values())))))
        return original(self, signature_name, inputs, output_filter)

    monkeypatch.setattr(models.Servable, "run", counted)
    copy_version(tiny_model, tmp_path / "names", 1)
    parameters = BatchingParameters(max_batch_size=16, batch_timeout_micros=NEVER,
                                    num_batch_threads=1)
    batched = start_local_server(tmp_path / "names", batching=parameters)
    plain = start_local_server(tmp_path / "names")
    requests = [  # (protocol, columns)
        ("rest", contract.generation_columns(1, [7], temperature=0.7)),
        ("grpc", contract.generation_columns(3, [100, 5, 2**40], prefix="Ty", temperature=1.3)),
        ("rest", contract.generation_columns(5, list(range(50, 55)), top_k=5, min_length=4)),
        ("grpc", contract.generation_columns(7, list(range(9, 16)), top_p=0.8, no_copy=True,
                                             max_length=12)),
    ]

    def ask(local, protocol, columns):
        url = local.rest if protocol == "rest" else f"grpc://{local.grpc_target}"
        client = Client(url, timeout=120, retries=0)
        try:
            return client.predict(columns)
        finally:
            client.close()

    try:
        answers: list = [None] * len(requests)
        threads = [threading.Thread(target=lambda i=i: answers.__setitem__(
            i, ask(batched, *requests[i]))) for i in range(len(requests))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        batched_runs, runs[:] = list(runs), []
        alone = [ask(plain, *request) for request in requests]
        page = batched.core.metrics.registry.page()
    finally:
        batched.stop()
        plain.stop()
    assert batched_runs == [(contract.GENERATE_SIGNATURE, 16)]
    assert [len(a["name"]) for a in answers] == [1, 3, 5, 7]
    assert answers == alone
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(page)}
    processed = families[":tensorflow:serving:batching_session:processed_batch_size"]
    assert {s.name: s.value for s in processed.samples if s.name.endswith(("_count", "_sum"))} \
        == {processed.name + "_count": 1, processed.name + "_sum": 16}


def test_bench_serve_starts_one_server_per_batching_mode():
    from namegen.bench import serve as bench

    assert bench.server_args("off", "b.txt", ["--no-ui"]) == ["--no-ui"]
    assert bench.server_args("on", "b.txt", ["--no-ui"]) == [
        "--enable_batching", "--batching_parameters_file=b.txt", "--no-ui"]
    assert bench.server_args("on", None, []) == ["--enable_batching"]
    row = {"batching": "on", "protocol": "grpc", "batch_size": 32, "clients": 64,
           "requests": 10, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": None, "names_per_s": 320.0,
           "errors": 0}
    assert bench.table([row]).splitlines()[-1].split() == [
        "on", "grpc", "32", "64", "10", "1.0", "2.0", "-", "320", "0"]


def test_bench_serve_times_every_client_from_the_same_start():
    """Every client of a cell sends timed requests: the cell's deadline is set before any
    client is released (it was set after, and clients that read it first stopped at once)."""
    import http.server
    import json

    from namegen.bench import serve as bench

    class Answer(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            rows = len(body["inputs"]["seed"])
            payload = json.dumps({"outputs": {"name": ["Rex"] * rows, "log_prob": [-1.0] * rows,
                                              "length": [3] * rows}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    timed = []
    original = bench.Client.generate

    def counted(self, *args, **kwargs):
        timed.append(threading.get_ident())
        return original(self, *args, **kwargs)

    try:
        bench.Client.generate = counted
        result = bench.drive("rest", f"http://127.0.0.1:{server.server_address[1]}", 2, 16,
                             seconds=5.0, model="names")
    finally:
        bench.Client.generate = original
        server.shutdown()
        server.server_close()
    assert result["errors"] == 0
    per_thread = collections.Counter(timed)
    assert len(per_thread) == 16 and min(per_thread.values()) >= 2  # warm-up + timed ones
    assert result["requests"] == len(timed) - 16
