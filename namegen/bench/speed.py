"""Generation, scoring and scaling speed of the exported model against the tutorial's loop."""

from __future__ import annotations

import statistics
import time

import numpy as np

from data import encoding
from namegen.bench.contenders import StepContender, tutorial_model
from namegen.bench.machine import MatmulLimit
from pipeline.configs import Hyperparameters


class TutorialSampler:
    """(b) the tutorial's loop: a stateful batch-1 GRU called once per character from Python."""

    def __init__(self, model, vocab_size: int, hp: Hyperparameters):
        self.model = tutorial_model(vocab_size, hp, stateful=True)
        self.model.set_weights([model.input_embeddings().numpy(),
                                *[w.numpy() for w in model.grus[0].cell.weights],
                                model.output_kernel().numpy(), model.output_bias().numpy()])

    def name(self, temperature: float) -> tuple[list[int], int]:
        """One name as ids; returns (ids, model calls)."""
        import tensorflow as tf

        self.model.reset_states()
        token, ids = encoding.EON_ID, []
        for calls in range(1, encoding.MAX_NAME_LENGTH + 2):
            logits = self.model(np.array([[token]], np.int64))[:, -1, :] / temperature
            token = int(tf.random.categorical(logits, 1)[0, 0])
            if token == encoding.EON_ID or len(ids) == encoding.MAX_NAME_LENGTH:
                return ids, calls
            ids.append(token)
        return ids, encoding.MAX_NAME_LENGTH + 1


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def call_generate(signature, batch: int, seed: int, **controls) -> tuple[float, int, int]:
    """One serving_default call; returns (seconds, loop steps, predicted chars)."""
    from serving import contract

    request = contract.generation_request(batch, seeds=list(range(seed, seed + batch)), **controls)
    started = time.perf_counter()
    outputs = signature(**request)
    lengths = outputs["length"].numpy()
    outputs["name"].numpy()
    seconds = time.perf_counter() - started
    return seconds, int(lengths.max()) + 1, int(lengths.sum()) + batch


def bench_generation(generate, tutorial: TutorialSampler, batches: list[int], rounds: int,
                     limit: MatmulLimit, step_flops: int, forward_flops: int) -> dict:
    """Interleaved rounds: tutorial names, then calls at each batch size, then the limit."""
    temperature = 1.0
    tutorial_times, tutorial_calls = [], []
    ours: dict[int, list] = {b: [] for b in batches}
    for b in batches:  # warm-up: the first call of a shape allocates
        call_generate(generate, b, 10**6, temperature=temperature)
    calls_per_round = {b: max(1, 4 // max(1, b // 32)) for b in batches}
    for round_index in range(rounds):
        for _ in range(2):
            started = time.perf_counter()
            _, calls = tutorial.name(temperature)
            tutorial_times.append(time.perf_counter() - started)
            tutorial_calls.append(calls)
        for b in batches:
            for i in range(calls_per_round[b]):
                seed = (round_index * 16 + i) * 4096
                ours[b].append(call_generate(generate, b, seed, temperature=temperature))
        limit.measure(0.2)
    tutorial_rate = len(tutorial_times) / sum(tutorial_times)
    rows = {}
    for b, samples in ours.items():
        seconds = [s for s, _, _ in samples]
        executed = sum(c * step_flops for _, _, c in samples) / sum(seconds) / 1e9
        names_per_second = b * len(samples) / sum(seconds)
        rows[str(b)] = {
            "batch": b, "calls": len(samples),
            "names_per_second": names_per_second,
            "p50_ms": 1e3 * percentile(seconds, 50), "p99_ms": 1e3 * percentile(seconds, 99),
            "mean_loop_steps": float(np.mean([st for _, st, _ in samples])),
            "executed_gflops": executed,
            "useful_gflops": sum(c for _, _, c in samples) * forward_flops / sum(seconds) / 1e9,
            "fraction_of_limit": executed / limit.gflops,
            "fraction_of_best_limit": executed / max(limit.samples),
            "vs_tutorial_names_per_second": names_per_second / tutorial_rate,
            "vs_tutorial_p50_latency": percentile(tutorial_times, 50) / percentile(seconds, 50),
        }
    return {
        "temperature": temperature,
        "tutorial": {"names": len(tutorial_times), "names_per_second": tutorial_rate,
                     "p50_ms": 1e3 * percentile(tutorial_times, 50),
                     "p99_ms": 1e3 * percentile(tutorial_times, 99),
                     "mean_model_calls": float(np.mean(tutorial_calls)),
                     "gflops": sum(tutorial_calls) * forward_flops / sum(tutorial_times) / 1e9},
        "ours": rows,
        "flops_note": "executed: predicted characters x the exported step's matmul FLOPs (a "
                      "finished row leaves the matmul); useful: the same characters x the "
                      "model's FLOPs per character (input projection counted)",
    }


def bench_scoring(score, names: list[str], passes: int) -> dict:
    import tensorflow as tf

    batch = 512
    chunks = [tf.constant(names[i:i + batch]) for i in range(0, len(names), batch)]
    score(name=chunks[0])
    times = []
    for _ in range(passes):
        started = time.perf_counter()
        for chunk in chunks:
            score(name=chunk)["log_likelihood"].numpy()
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    chars = sum(len(n) + 1 for n in names)
    return {"names": len(names), "batch": batch, "seconds": seconds,
            "names_per_second": len(names) / seconds, "chars_per_second": chars / seconds}


# --- scaling -------------------------------------------------------------------------------
def growth_exponent(xs: list[float], ys: list[float]) -> float:
    """Slope of log(y) against log(x): 1 is linear, 0 is flat."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0]) if len(xs) > 1 else float("nan")


def bench_scaling(generate, ours: StepContender, batches: list[int], lengths: list[int],
                  multipliers: list[int], calls: int) -> dict:
    by_batch = []
    for b in batches:
        call_generate(generate, b, 7, temperature=1.0)
        samples = [call_generate(generate, b, 1000 * i, temperature=1.0) for i in range(calls)]
        seconds = statistics.median(s for s, _, _ in samples)
        by_batch.append({"batch": b, "seconds_per_call": seconds, "names_per_second": b / seconds,
                         "mean_loop_steps": float(np.mean([st for _, st, _ in samples]))})
    by_length = []
    for max_length in lengths:
        call_generate(generate, 256, 7, temperature=1.0, max_length=max_length)
        samples = [call_generate(generate, 256, 1000 * i, temperature=1.0, max_length=max_length)
                   for i in range(calls)]
        seconds = statistics.median(s for s, _, _ in samples)
        by_length.append({"max_length": max_length, "batch": 256, "seconds_per_call": seconds,
                          "mean_loop_steps": float(np.mean([st for _, st, _ in samples]))})
    by_data = []
    for k in multipliers:
        ids = np.tile(ours.train_ids, (k, 1))
        seconds, padded = ours.epoch(100 + k, ids)
        by_data.append({"multiplier": k, "names": int(len(ids)), "seconds_per_epoch": seconds,
                        "padded_chars_per_second": padded / seconds})
    return {
        "generation_vs_batch": by_batch,
        "generation_vs_max_length": by_length,
        "training_vs_data": by_data,
        "data_note": "k x the train split by repetition (np.tile); one epoch of our step each",
        "growth_exponents": {
            "generation_seconds_vs_batch": growth_exponent(
                [r["batch"] for r in by_batch], [r["seconds_per_call"] for r in by_batch]),
            "generation_seconds_vs_max_length": growth_exponent(
                [r["max_length"] for r in by_length], [r["seconds_per_call"] for r in by_length]),
            "training_seconds_vs_data": growth_exponent(
                [r["multiplier"] for r in by_data], [r["seconds_per_epoch"] for r in by_data]),
        },
    }
