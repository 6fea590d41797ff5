"""`namegen bench serve`'s batching switch: one server per mode, every client timed from the
same start (the scheduler's rules: tests/serving/test_batching_session_rules.py; batched names
on the names model: tests/e2e/test_batching_on_the_names_model.py)."""

from __future__ import annotations

import collections
import threading


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
    every_client_timed = threading.Event()  # each of the 16: its warm-up and a timed request

    def counted(self, *args, **kwargs):
        answer = original(self, *args, **kwargs)
        timed.append(threading.get_ident())
        counts = collections.Counter(timed)
        if len(counts) == 16 and min(counts.values()) >= 2:
            every_client_timed.set()
        return answer

    try:
        bench.Client.generate = counted
        # Ends at the event; the 120 s deadline is only a cap (a client that stopped at once
        # keeps the event from happening, and the test then fails at the cap).
        result = bench.drive("rest", f"http://127.0.0.1:{server.server_address[1]}", 2, 16,
                             seconds=120.0, model="names", stop=every_client_timed)
    finally:
        bench.Client.generate = original
        server.shutdown()
        server.server_close()
    assert result["errors"] == 0
    per_thread = collections.Counter(timed)
    assert len(per_thread) == 16 and min(per_thread.values()) >= 2  # warm-up + timed ones
    assert result["requests"] == len(timed) - 16
