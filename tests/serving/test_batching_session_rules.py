"""Server-side batching (serving/model_servers/batching_session.py) against TF Serving's rules.

Expected texts and defaults come from tensorflow/serving: batching_util.h
(ComputeTensorBatchSize), shared_batch_scheduler.h (task size limit, full queue, QueueOptions
defaults), batching_session.cc (padding to allowed_batch_sizes with the last task's first row,
output split checks), batching_util.cc (AddPadding pads with the tensor's first element) and
model_servers/server.cc (the flags). No test has a wall-clock bound: batches are made to close
by filling them, and waits are for states, with generous caps.
"""

from __future__ import annotations

import threading
import types

import grpc
import numpy as np
import pytest

from serving.errors import ServingError
from serving.model_servers import batching_session as batching
from serving.model_servers import metrics
from serving.model_servers.batching_session import Batcher, BatchingParameters
from tests.support.serving_helpers import wait_for

NEVER = 600_000_000  # a batch timeout (µs) no test waits out: batches close by filling up


class FakeServable:
    """y = 2x + 1 row by row; a negative x is the request's own error. Records each run's
    rows, and can hold runs until `release` is set."""

    def __init__(self, hold: bool = False):
        self.calls: list[int] = []
        self.running = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def signature(self, name):
        return types.SimpleNamespace(inputs={"x": None}, outputs={"y": None, "x_sum": None})

    def input_dtypes(self, name):
        return {"x": np.dtype(np.float32)}

    def run(self, name, inputs, output_filter=()):
        x = inputs["x"]
        self.calls.append(x.shape[0])
        self.running.set()
        self.release.wait(120)
        if (x < 0).any():
            raise ServingError(grpc.StatusCode.INVALID_ARGUMENT, f"negative x: {x[x < 0][0]:g}")
        outputs = {"y": x * 2 + 1, "x_sum": x.reshape(x.shape[0], -1).sum(axis=1)}
        return {k: outputs[k] for k in (output_filter or outputs)}


def rows(*values, width: int | None = None) -> dict[str, np.ndarray]:
    x = np.array(values, np.float32)
    return {"x": x if width is None else np.repeat(x[:, None], width, axis=1)}


def concurrently(batcher: Batcher, servable, requests: list[dict]) -> list:
    """Sends every request from its own thread; each result or ServingError, in order."""
    results: list = [None] * len(requests)

    def send(i: int) -> None:
        try:
            results[i] = batcher.run(servable, "", requests[i])
        except ServingError as error:
            results[i] = error

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.fixture
def make_batcher():
    made = []

    def make(**parameters) -> Batcher:
        batcher = Batcher(BatchingParameters(**parameters))
        made.append(batcher)
        return batcher

    yield make
    for batcher in made:
        batcher.stop()


def test_concurrent_requests_merge_into_one_run_and_split_back_by_rows(make_batcher):
    servable = FakeServable()
    batcher = make_batcher(max_batch_size=6, batch_timeout_micros=NEVER, num_batch_threads=1)
    requests = [rows(1), rows(2, 3), rows(4, 5, 6)]
    results = concurrently(batcher, servable, requests)
    assert servable.calls == [6]  # one underlying run for the three requests
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result["y"], request["x"] * 2 + 1)
        assert result["y"].dtype == np.float32


def test_requests_queue_while_the_threads_are_busy_then_run_as_one_batch(make_batcher):
    """TF Serving's default timeout 0: a batch runs as soon as a thread is free, so requests
    merge exactly when they arrive while every batch thread is busy."""
    servable = FakeServable(hold=True)
    batcher = make_batcher(num_batch_threads=1)  # timeout 0, max 1000: TF Serving's defaults
    first = threading.Thread(target=batcher.run, args=(servable, "", rows(0)))
    first.start()
    assert servable.running.wait(120)
    waiting = []
    threads = [threading.Thread(target=lambda v=v: waiting.append(batcher.run(servable, "",
                                                                           rows(v, v))))
               for v in (1, 2, 3)]
    for thread in threads:
        thread.start()
    assert wait_for(lambda: batcher.queued_tasks() == 3, 120)
    servable.release.set()
    for thread in (first, *threads):
        thread.join(120)
    assert servable.calls == [1, 6]
    assert sorted(float(r["y"][0]) for r in waiting) == [3.0, 5.0, 7.0]


def test_a_request_larger_than_max_batch_size_is_refused_with_tf_servings_text(make_batcher):
    servable = FakeServable()
    batcher = make_batcher(max_batch_size=4)
    with pytest.raises(ServingError) as caught:
        batcher.run(servable, "", rows(1, 2, 3, 4, 5))
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message == "Task size 5 is larger than maximum input batch size 4"
    assert servable.calls == []
    assert batcher.run(servable, "", rows(1, 2, 3, 4))["y"].tolist() == [3, 5, 7, 9]


@pytest.mark.parametrize("inputs, message", [
    ({"x": np.float32(1.0)}, "Batching Run() input tensors must have at least one dimension"),
])
def test_inputs_that_cannot_be_batched_get_tf_servings_errors(make_batcher, inputs, message):
    batcher = make_batcher()
    with pytest.raises(ServingError) as caught:
        batcher.run(FakeServable(), "", inputs)
    assert (caught.value.code, caught.value.message) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                         message)


def test_unequal_0th_dimensions_and_no_inputs_are_refused():
    with pytest.raises(ServingError, match=r"^Batching Run\(\) input tensors must have equal "
                       "0th-dimension size$"):
        batching.batch_rows({"a": np.zeros(2), "b": np.zeros(3)})
    with pytest.raises(ServingError, match=r"^Batching Run\(\) must have at least one input "
                       "tensor$"):
        batching.batch_rows({})
    assert batching.batch_rows({"a": np.zeros((2, 5)), "b": np.zeros(2)}) == 2


def test_requests_with_different_row_shapes_never_share_a_batch(make_batcher):
    """Without padding TF Serving would fail the whole mixed batch (FAILED_PRECONDITION);
    here each shape batches on its own and every request gets its answer."""
    servable = FakeServable()
    batcher = make_batcher(max_batch_size=4, batch_timeout_micros=NEVER, num_batch_threads=2)
    requests = [rows(1, 2, width=2), rows(3, 4, width=3), rows(5, 6, width=2),
                rows(7, 8, width=3)]
    results = concurrently(batcher, servable, requests)
    assert sorted(servable.calls) == [4, 4]
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result["y"], request["x"] * 2 + 1)


def test_pad_variable_length_inputs_pads_with_each_tensors_first_element(make_batcher):
    servable = FakeServable()
    batcher = make_batcher(max_batch_size=3, batch_timeout_micros=NEVER,
                           pad_variable_length_inputs=True)
    short = {"x": np.array([[1, 2]], np.float32)}
    long = {"x": np.array([[3, 4, 5], [6, 7, 8]], np.float32)}
    results = concurrently(batcher, servable, [short, long])
    assert servable.calls == [3]
    padded = {tuple(r["y"].shape): r["y"] for r in results}
    # TF Serving does not cut the padding off the outputs: the short request's row comes
    # back 3 wide, padded with its own first element (1 -> 2*1+1 = 3)
    assert padded[(1, 3)].tolist() == [[3, 5, 3]]
    assert padded[(2, 3)].tolist() == [[7, 9, 11], [13, 15, 17]]


def test_a_failing_merged_run_gives_each_request_its_own_outcome(make_batcher):
    """TF Serving fails every request of a batch with the batch's error; here the batch is
    re-run request by request, so a bad request never fails its neighbours."""
    servable = FakeServable()
    batcher = make_batcher(max_batch_size=4, batch_timeout_micros=NEVER, num_batch_threads=1)
    good, bad, other = rows(1, 2), rows(-3), rows(4)
    results = concurrently(batcher, servable, [good, bad, other])
    assert servable.calls[0] == 4 and sorted(servable.calls[1:]) == [1, 1, 2]
    assert results[0]["y"].tolist() == [3, 5] and results[2]["y"].tolist() == [9]
    assert isinstance(results[1], ServingError) and results[1].message == "negative x: -3"
    assert results[1].code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_full_queue_answers_unavailable_with_tf_servings_text(make_batcher):
    servable = FakeServable(hold=True)
    batcher = make_batcher(max_batch_size=1, max_enqueued_batches=1, num_batch_threads=1)
    running = threading.Thread(target=batcher.run, args=(servable, "", rows(1)))
    running.start()
    assert servable.running.wait(120)
    queued = threading.Thread(target=batcher.run, args=(servable, "", rows(2)))
    queued.start()
    assert wait_for(lambda: batcher.queued_tasks() == 1, 120)
    with pytest.raises(ServingError) as caught:
        batcher.run(servable, "", rows(3))
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE
    assert caught.value.message == ("The batch scheduling queue to which this task was "
                                    "submitted is full")
    servable.release.set()
    running.join(120)
    queued.join(120)
    assert servable.calls == [1, 1]


def test_batches_are_padded_up_to_the_next_allowed_batch_size():
    """batching_session.cc: the merged batch grows to the lowest allowed size, with copies of
    the last task's first row; the padding rows are dropped from every answer."""
    seen = []
    servable = FakeServable(hold=True)
    original = servable.run
    servable.run = lambda name, inputs, output_filter=(): (seen.append(inputs["x"].tolist()),
                                                          original(name, inputs))[1]
    registry = metrics.Registry()
    batcher = Batcher(BatchingParameters(max_batch_size=8, num_batch_threads=1,
                                         allowed_batch_sizes=(2, 4, 8)), registry)
    results = {}

    def send(name, request):
        thread = threading.Thread(target=lambda: results.update({name: batcher.run(
            servable, "", request)}))
        thread.start()
        return thread

    try:
        threads = [send("first", rows(9))]
        assert servable.running.wait(120)  # the one batch thread holds the first batch
        threads.append(send("one", rows(1)))
        assert wait_for(lambda: batcher.queued_tasks() == 1, 120)
        threads.append(send("two", rows(2, 3)))
        assert wait_for(lambda: batcher.queued_tasks() == 2, 120)
        servable.release.set()
        for thread in threads:
            thread.join(120)
    finally:
        batcher.stop()
    assert seen == [[9, 9], [1, 2, 3, 2]]
    assert {k: v["y"].tolist() for k, v in results.items()} == {
        "first": [19], "one": [3], "two": [5, 7]}
    page = registry.page()
    assert ':tensorflow:serving:batching_session:processed_batch_size_bucket{le="4"}' in page
    assert 'padding_size_count{execution_batch_size="4"} 1' in page
    assert ':tensorflow:serving:batching_session:queuing_latency_count{thread_pool_name=' \
        '"batch_threads"} 3' in page


@pytest.mark.parametrize("text, problem", [
    ("max_batch_sise { value: 8 }", 'has no field named "max_batch_sise"'),
    ("max_batch_size: 8", 'Expected "{"'),
    ("max_batch_size { value: 0 }", "max_batch_size must be at least 1, got 0"),
    ("num_batch_threads { value: -1 }", "num_batch_threads must be at least 1"),
    ("max_batch_size { value: 16 } allowed_batch_sizes: 4 allowed_batch_sizes: 8",
     "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 8; "
     "expected 16"),
    ("enable_large_batch_splitting { value: true }", "enable_large_batch_splitting is not "
     "supported"),
])
def test_a_bad_batching_file_stops_serve_at_startup_naming_the_problem(tmp_path, capsys, text,
                                                                       problem):
    from namegen import cli

    path = tmp_path / "batching.txt"
    path.write_text(text)
    code = cli.main(["serve", "--model-base-path", str(tmp_path / "none"), "--port", "0",
                     "--rest-api-port", "0", "--enable_batching",
                     f"--batching_parameters_file={path}"])
    error = capsys.readouterr().err
    assert code != 0 and problem in error and str(path) in error


def test_a_batching_file_without_enable_batching_is_refused(tmp_path, capsys):
    from namegen import cli

    path = tmp_path / "batching.txt"
    path.write_text("max_batch_size { value: 8 }")
    code = cli.main(["serve", "--model-base-path", str(tmp_path / "none"),
                     "--batching_parameters_file", str(path)])
    assert code != 0
    assert ("server_options.batching_parameters_file is set without setting "
            "server_options.enable_batching to true.") in capsys.readouterr().err


def test_flags_and_defaults_are_tf_servings():
    """No file: SharedBatchScheduler's QueueOptions defaults and server.cc's pool name."""
    from namegen.commands import serve as commands

    parser = __import__("argparse").ArgumentParser()
    commands.add_serve_arguments(parser)
    assert parser.parse_args(["--enable_batching=true"]).enable_batching is True
    assert parser.parse_args(["--enable_batching"]).enable_batching is True
    assert parser.parse_args(["--enable_batching=false"]).enable_batching is False
    assert parser.parse_args([]).enable_batching is False
    defaults = batching.parameters_from_flags(True, None)
    assert (defaults.max_batch_size, defaults.batch_timeout_micros,
            defaults.max_enqueued_batches) == (1000, 0, 10)
    assert defaults.thread_pool_name == "model_server_batch_threads"
    assert defaults.allowed_batch_sizes == () and not defaults.pad_variable_length_inputs
    assert batching.parameters_from_flags(False, None) is None
