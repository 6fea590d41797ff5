"""Server-side batching on the names model: batched names are identical to unbatched ones
over REST and gRPC (the scheduler's rules: tests/serving/test_batching_session_rules.py)."""

from __future__ import annotations

import threading

import pytest

from serving.model_servers.batching_session import BatchingParameters

NEVER = 600_000_000  # a batch timeout (µs) no test waits out: batches close by filling up


# --- the names model, over REST and gRPC -------------------------------------------------------
def test_batched_names_are_identical_to_unbatched_ones(tiny_model, tmp_path, monkeypatch):
    """Every row is sampled from its own `seed`, so a request's names and lengths must not
    depend on which requests shared its batch. Four requests (2 REST, 2 gRPC; 1 + 3 + 5 + 7
    rows) fill one 16-row batch: one underlying run, and the same names as a server without
    batching. Log-probs are sums of float32 log-softmaxes whose matmuls the CPU kernels block
    by batch size, so a row's sum may differ in its last bit (seen: 1 ulp at 24.3); they are
    compared to 1e-5 relative, far below any change a wrong token would make (> 1e-2)."""
    from serving import contract
    from serving.client import Client
    from serving.model_servers import servable as models
    from tests.support.serving_helpers import copy_version, start_local_server

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
    assert [{k: v for k, v in a.items() if k != "log_prob"} for a in answers] == \
        [{k: v for k, v in a.items() if k != "log_prob"} for a in alone]
    for got, want in zip(answers, alone):
        assert got["log_prob"] == pytest.approx(want["log_prob"], rel=1e-5)
    from prometheus_client.parser import text_string_to_metric_families

    families = {f.name: f for f in text_string_to_metric_families(page)}
    processed = families[":tensorflow:serving:batching_session:processed_batch_size"]
    assert {s.name: s.value for s in processed.samples if s.name.endswith(("_count", "_sum"))} \
        == {processed.name + "_count": 1, processed.name + "_sum": 16}
