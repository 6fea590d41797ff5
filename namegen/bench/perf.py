"""`namegen bench`: training, generation, scoring and pipeline cost against the tutorial's way
and against the machine's measured matmul limit, side by side in one run (issue 7).

The machines are shared and noisy, so every comparison is interleaved: each round runs one
epoch (or one batch of calls) of every contender and the matmul limit, and the bench reports
medians and ratios of medians. Data: the latest Transform output under --pipeline-root; when
there is none, or in full mode (which measures the pipeline), `namegen run` makes it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from pipeline import configs

TARGETS = {  # name: (comparison, threshold, what it means)
    "training_vs_fit": (">=", 1.3, "our step / tutorial model.fit, real chars per second"),
    "training_fraction_of_limit": (">=", 0.55, "our step's executed GFLOP/s / matmul limit"),
    "generation_b256_vs_tutorial": (">=", 100.0, "names/s at batch 256 / tutorial loop"),
    "generation_b1_vs_tutorial": (">=", 10.0, "tutorial p50 per name / ours p50 at batch 1"),
    "generation_b256_fraction_of_limit": (">=", 0.40, "executed GFLOP/s at 256 / matmul limit"),
    "pipeline_overhead_seconds": ("<=", 60.0, "run wall time minus the training loop"),
    "cached_rerun_seconds": ("<=", 20.0, "wall time of a second, unchanged run"),
}

# Only the data is needed from a fallback run: Beam in memory starts in seconds (PERFORMANCE.md).
QUICK_BEAM_ARGS = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode (< 3 minutes): a data subset, fewer rounds, no XLA "
                             "row, and pipeline costs read from --pipeline-root, not re-run")
    parser.add_argument("--out", default=str(configs.DEFAULT_ROOT / "bench"),
                        help="where bench.json and the PNG plots go")
    parser.add_argument("--pipeline-root", default=str(configs.DEFAULT_PIPELINE_ROOT),
                        help="the data (latest Transform) comes from here unless full mode "
                             "runs the pipeline itself")
    parser.add_argument("--data", help="names file for pipeline runs (default: dinosaur list)")
    parser.add_argument("--preset", default="tutorial", choices=sorted(configs.PRESETS),
                        help="the model measured (the issue's targets are for tutorial)")
    parser.add_argument("--rounds", type=int, help="measured training rounds (5; quick 2)")
    parser.add_argument("--skip-pipeline", action="store_true",
                        help="full mode without the two `namegen run`s; read --pipeline-root")
    parser.add_argument("--beam-arg", action="append", default=[],
                        help="passed to the bench's `namegen run`s, e.g. "
                             "--beam-arg=--direct_running_mode=in_memory (repeatable)")


# --- machine and limits --------------------------------------------------------------------
def machine() -> dict:
    """nproc, CPU model and the load average, for the report."""
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import tensorflow as tf

    return {"nproc": os.cpu_count(), "cpu_model": model, "load_average": os.getloadavg(),
            "tensorflow": tf.__version__, "gpus": len(tf.config.list_physical_devices("GPU")),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads()}


class MatmulLimit:
    """fp32 matmul GFLOP/s at one shape, re-measured whenever asked (the load changes).

    Sustained: total FLOPs over total wall time of back-to-back calls, the same estimator as
    the workloads' (characters per epoch over the epoch's wall time).
    """

    def __init__(self, m: int, k: int, n: int):
        import tensorflow as tf

        self.shape = (m, k, n)
        self.a = tf.random.normal([m, k])
        self.b = tf.random.normal([k, n])
        self.matmul = tf.function(lambda a, b: tf.matmul(a, b))
        self.matmul(self.a, self.b)
        self.samples: list[float] = []

    def measure(self, seconds: float = 0.4) -> float:
        m, k, n = self.shape
        calls, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or calls < 5:
            self.matmul(self.a, self.b).numpy()
            calls += 1
        gflops = 2 * m * k * n * calls / (time.perf_counter() - started) / 1e9
        self.samples.append(gflops)
        return gflops

    @property
    def gflops(self) -> float:
        return statistics.median(self.samples)


def forward_flops_per_char(hp: dict, vocab_size: int) -> int:
    """Multiply-adds x2 of the model per character: input and recurrent projections, Dense."""
    units, gates = hp["rnn_units"], 3 * hp["rnn_units"]
    first = hp["embedding_dim"] * gates + units * gates
    later = (hp["num_layers"] - 1) * 2 * units * gates
    return 2 * (first + later + units * vocab_size)


def generation_step_flops(hp: dict, vocab_size: int) -> int:
    """What our exported step executes per row: the first input projection is a table gather."""
    units, gates = hp["rnn_units"], 3 * hp["rnn_units"]
    return 2 * (units * gates + (hp["num_layers"] - 1) * 2 * units * gates + units * vocab_size)


# --- data ----------------------------------------------------------------------------------
def run_pipeline(pipeline_root: Path, serving_dir: Path, data: str | None,
                 extra: list[str]) -> float:
    """`namegen run` in a subprocess; returns its wall time in seconds."""
    command = [sys.executable, "-m", "namegen.cli", "run", "--pipeline-root", str(pipeline_root),
               "--serving-dir", str(serving_dir), *(["--data", data] if data else []), *extra]
    log(f"$ {' '.join(command[1:])}")
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=configs.PROJECT_ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def load_data(pipeline_root: Path):
    """(train ids, eval ids, TFTransformOutput) from the latest Transform run in a root."""
    import tensorflow_transform as tft

    from components.trainer import data
    from pipeline import metadata

    store = metadata.open_store(str(pipeline_root))
    graph = metadata.latest_artifact(store, "TransformGraph")
    examples = metadata.latest_artifact(store, "Examples", producer="Transform")
    if graph is None or examples is None:
        raise FileNotFoundError(f"no Transform output in {pipeline_root}")
    output = tft.TFTransformOutput(graph.uri)
    train_ids = data.load_split([os.path.join(examples.uri, "Split-train", "*")], output)
    eval_ids = data.load_split([os.path.join(examples.uri, "Split-eval", "*")], output)
    return train_ids, eval_ids, output


# --- training ------------------------------------------------------------------------------
def tutorial_model(vocab_size: int, hp: dict, stateful: bool = False):
    """The tutorial's Sequential Embedding -> stock Keras GRU -> Dense (batch 1 if stateful)."""
    import tf_keras

    return tf_keras.Sequential([
        tf_keras.Input(batch_shape=[1 if stateful else None, None], dtype="int64"),
        tf_keras.layers.Embedding(vocab_size, hp["embedding_dim"]),
        tf_keras.layers.GRU(hp["rnn_units"], return_sequences=True, stateful=stateful),
        tf_keras.layers.Dense(vocab_size),
    ])


class FitContender:
    """(b) the tutorial's way: model.fit on unmasked sequences padded to the longest name."""

    name = "tutorial model.fit (unmasked, padded)"

    def __init__(self, train_ids: np.ndarray, vocab_size: int, hp: dict):
        import tf_keras

        from components.trainer.model import shift_right

        longest = int((train_ids != configs.PAD_ID).sum(axis=1).max())
        self.targets = train_ids[:, :longest]
        self.inputs = shift_right(self.targets).numpy()
        self.batch_size = hp["batch_size"]
        self.model = tutorial_model(vocab_size, hp)
        self.model.compile(
            optimizer=tf_keras.optimizers.Adam(hp["learning_rate"]),
            loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        self.epoch_times: list[float] = []
        contender = self

        class EpochTimer(tf_keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                contender.epoch_times.append(time.perf_counter() - self.started)

        self.timer = EpochTimer()

    def epoch(self, seed: int) -> tuple[float, int]:
        """One epoch; returns (seconds, padded characters processed)."""
        self.model.fit(self.inputs, self.targets, batch_size=self.batch_size, epochs=1,
                       shuffle=True, verbose=0, callbacks=[self.timer])
        return self.epoch_times[-1], int(self.targets.size)


class StepContender:
    """(a) our Trainer's tf.function GradientTape step, looped exactly as Trainer.fit does."""

    def __init__(self, name: str, train_ids: np.ndarray, vocab_size: int, hp: dict,
                 run_dir: str, jit_compile: bool = False, vocabulary: Sequence[str] = ()):

        from components.trainer.data import ArraySplit
        from components.trainer.loop import TrainingLoop
        from components.trainer.model import build_model

        self.name, self.hp = name, hp
        self.train = ArraySplit(train_ids, vocabulary)
        self.model = build_model(vocab_size, hp, vocabulary)
        steps = -(-len(train_ids) // hp["batch_size"])
        self.trainer = TrainingLoop(self.model, hp, steps, run_dir, jit_compile=jit_compile)
        if self.trainer.teacher_weight:
            self.trainer.fit_teacher(self.train)

    def epoch(self, seed: int, ids: np.ndarray | None = None) -> tuple[float, int]:
        """One epoch exactly as TrainingLoop.fit walks it (teacher targets per batch)."""
        from components.trainer.data import ArraySplit, epoch_seed

        split = self.train if ids is None else ArraySplit(ids)
        started, total, padded = time.perf_counter(), 0.0, 0
        for batch in split.batches(self.hp["batch_size"], epoch_seed(self.hp["seed"], seed),
                                   self.hp["mask_padding"]):
            loss_sum, _ = self.trainer.step(batch)
            total += float(loss_sum)
            padded += batch.size
        return time.perf_counter() - started, padded


def bench_training(train_ids: np.ndarray, vocab_size: int, hp: dict, rounds: int,
                   limit: MatmulLimit, work_dir: Path, xla: bool,
                   vocabulary: Sequence[str] = ()) -> tuple[dict, StepContender]:
    """Interleaved epochs of every contender, one warm-up round first."""
    real_chars = int((train_ids != configs.PAD_ID).sum())  # characters + end-of-name
    masked = dict(hp, mask_padding=True)
    contenders = {
        "fit": FitContender(train_ids, vocab_size, hp),
        "ours": StepContender("our step (masked loss, length-bucketed)", train_ids, vocab_size,
                              masked, str(work_dir / "ours"), vocabulary=vocabulary),
    }
    if not hp["mask_padding"]:
        contenders["ours_unmasked"] = StepContender(
            "our step, preset as is (unmasked, padded)", train_ids, vocab_size,
            hp, str(work_dir / "unmasked"), vocabulary=vocabulary)
    if xla:
        contenders["ours_xla"] = StepContender("our step + XLA (masked, bucketed)", train_ids,
                                               vocab_size, masked, str(work_dir / "xla"),
                                               jit_compile=True, vocabulary=vocabulary)
    samples: dict[str, list] = {key: [] for key in contenders}
    limits = []
    for round_index in range(rounds + 1):
        for key, contender in contenders.items():
            seconds, padded = contender.epoch(round_index)
            if round_index:  # round 0 traces, compiles and warms up
                samples[key].append((seconds, padded))
        limits.append(limit.measure(1.0))
        log(f"training round {round_index}/{rounds}: " + ", ".join(
            f"{key} {contender_seconds[-1][0]:.1f}s" for key, contender_seconds in
            samples.items() if contender_seconds) + f", matmul {limits[-1]:.0f} GFLOP/s, "
            f"load {os.getloadavg()[0]:.1f}")
    flops = 3 * forward_flops_per_char(hp, vocab_size)
    rows = {}
    for key, contender in contenders.items():
        seconds = statistics.median(s for s, _ in samples[key])
        padded = statistics.median(p for _, p in samples[key])
        rows[key] = {
            "name": contender.name,
            "seconds_per_epoch": seconds,
            "epoch_seconds": [s for s, _ in samples[key]],
            "padded_chars_per_epoch": padded,
            "real_chars_per_epoch": real_chars,
            "padded_chars_per_second": padded / seconds,
            "real_chars_per_second": real_chars / seconds,
            "executed_gflops": padded * flops / seconds / 1e9,
            "useful_gflops": real_chars * flops / seconds / 1e9,
            "fraction_of_limit": padded * flops / seconds / 1e9 / limit.gflops,
            "fraction_of_best_limit": padded * flops / seconds / 1e9 / max(limit.samples),
        }
    for row in rows.values():
        row["vs_fit"] = rows["fit"]["seconds_per_epoch"] / row["seconds_per_epoch"]
    return {
        "preset": hp["preset"], "batch_size": hp["batch_size"], "rounds": rounds,
        "train_names": int(len(train_ids)), "flops_per_char": flops,
        "flops_per_char_note": "forward + backward = 3 x forward matmul FLOPs",
        "real_chars_note": "name characters plus end-of-name (the predicted positions)",
        "matmul_gflops_per_round": limits, "rows": rows,
    }, contenders["ours"]


# --- generation and scoring ----------------------------------------------------------------
class TutorialSampler:
    """(b) the tutorial's loop: a stateful batch-1 GRU called once per character from Python."""

    def __init__(self, model, vocab_size: int, hp: dict):
        self.model = tutorial_model(vocab_size, hp, stateful=True)
        self.model.set_weights([model.input_embeddings().numpy(),
                                *[w.numpy() for w in model.grus[0].cell.weights],
                                model.output_kernel().numpy(), model.output_bias().numpy()])

    def name(self, temperature: float) -> tuple[list[int], int]:
        """One name as ids; returns (ids, model calls)."""
        import tensorflow as tf

        self.model.reset_states()
        token, ids = configs.EON_ID, []
        for calls in range(1, configs.MAX_NAME_LENGTH + 2):
            logits = self.model(np.array([[token]], np.int64))[:, -1, :] / temperature
            token = int(tf.random.categorical(logits, 1)[0, 0])
            if token == configs.EON_ID or len(ids) == configs.MAX_NAME_LENGTH:
                return ids, calls
            ids.append(token)
        return ids, configs.MAX_NAME_LENGTH + 1


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


def plot(scaling: dict, out: Path) -> list[str]:
    """Three PNGs of the scaling rows; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    charts = [
        ("generation_vs_batch", "batch", "seconds_per_call", "names_per_second",
         "Generation: one serving_default call", "batch size", True),
        ("generation_vs_max_length", "max_length", "seconds_per_call", None,
         "Generation at batch 256 against max_length", "max_length", False),
        ("training_vs_data", "multiplier", "seconds_per_epoch", "padded_chars_per_second",
         "Training (our step): one epoch against data size", "x the default train split", True),
    ]
    for key, x_key, y_key, y2_key, title, x_label, log_x in charts:
        rows = scaling[key]
        fig, axis = plt.subplots(figsize=(6, 4))
        axis.plot([r[x_key] for r in rows], [r[y_key] for r in rows], "o-", color="tab:blue")
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_key.replace("_", " "), color="tab:blue")
        if log_x:
            axis.set_xscale("log", base=2)
            axis.set_yscale("log")
        if y2_key:
            other = axis.twinx()
            other.plot([r[x_key] for r in rows], [r[y2_key] for r in rows], "s--",
                       color="tab:orange")
            other.set_ylabel(y2_key.replace("_", " "), color="tab:orange")
        axis.set_title(title)
        fig.tight_layout()
        path = out / f"{key}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(str(path))
    return paths


# --- pipeline cost -------------------------------------------------------------------------
def pipeline_runs(pipeline_root: Path) -> list[list[dict]]:
    """ML Metadata executions grouped into runs (a run starts at each ExampleGen execution)."""
    from pipeline import metadata

    runs: list[list[dict]] = []
    for row in metadata.executions(metadata.open_store(str(pipeline_root))):
        if row["component"] == "FileBasedExampleGen" or not runs:
            runs.append([])
        runs[-1].append(row)
    return runs


def training_loop_seconds(pipeline_root: Path) -> float | None:
    """Sum of the epochs' seconds in the latest Trainer run's history.json."""
    from pipeline import metadata

    run = metadata.latest_artifact(metadata.open_store(str(pipeline_root)), "ModelRun")
    path = Path(run.uri) / "history.json" if run is not None else None
    if path is None or not path.exists():
        return None
    return float(sum(r["epoch_seconds"] for r in json.loads(path.read_text())))


def pipeline_cost(pipeline_root: Path, walls: list[float] | None) -> dict:
    runs = pipeline_runs(pipeline_root)
    fresh = next((r for r in reversed(runs) if any(e["component"] == "Trainer"
                                                   and e["state"] == "COMPLETE" for e in r)), [])
    cached = runs[-1] if runs and runs[-1] is not fresh else []
    loop = training_loop_seconds(pipeline_root)
    result = {
        "pipeline_root": str(pipeline_root),
        "components": [{k: e[k] for k in ("component", "state", "seconds")} for e in fresh],
        "cached_components": [{k: e[k] for k in ("component", "state", "seconds")}
                              for e in cached],
        "components_seconds": sum(e["seconds"] for e in fresh),
        "training_loop_seconds": loop,
        "walls_measured": walls is not None,
    }
    if walls:
        result["run_wall_seconds"] = walls[0]
        result["overhead_seconds"] = walls[0] - (loop or 0.0)
        if len(walls) > 1:
            result["cached_rerun_seconds"] = walls[1]
    elif loop is not None:  # no wall time: the components' own time is a lower bound
        result["overhead_seconds_components_only"] = result["components_seconds"] - loop
    return result


# --- report --------------------------------------------------------------------------------
def targets(report: dict) -> list[dict]:
    training = report["training"]["rows"]["ours"]
    generation = report["generation"]["ours"]
    pipeline = report["pipeline"]
    values = {
        "training_vs_fit": training["vs_fit"],
        "training_fraction_of_limit": training["fraction_of_limit"],
        "generation_b256_vs_tutorial": generation.get("256", {}).get(
            "vs_tutorial_names_per_second"),
        "generation_b1_vs_tutorial": generation.get("1", {}).get("vs_tutorial_p50_latency"),
        "generation_b256_fraction_of_limit": generation.get("256", {}).get("fraction_of_limit"),
        "pipeline_overhead_seconds": pipeline.get("overhead_seconds"),
        "cached_rerun_seconds": pipeline.get("cached_rerun_seconds"),
    }
    rows = []
    for key, (op, threshold, meaning) in TARGETS.items():
        value = values[key]
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        rows.append({"target": key, "value": value, "op": op, "threshold": threshold,
                     "met": met, "meaning": meaning})
    return rows


def table(report: dict) -> str:
    m, t, g = report["machine"], report["training"], report["generation"]
    lines = [
        f"namegen bench ({'quick' if report['quick'] else 'full'})  {report['date']}",
        f"machine: {m['nproc']} x {m['cpu_model']}, TF {m['tensorflow']}, load average "
        f"{report['load_before'][0]:.1f} before / {report['load_after'][0]:.1f} after",
        "",
        "matmul limit (fp32, TF, same process, median of rounds): "
        + ", ".join(f"{k} {v:.0f}" for k, v in report["matmul"].items()) + " GFLOP/s",
        "",
        f"Training: preset {t['preset']}, batch {t['batch_size']}, {t['train_names']} names, "
        f"{t['flops_per_char'] / 1e6:.1f} MFLOP/char, median of {t['rounds']} epochs",
        f"  {'contender':44s} {'s/epoch':>8s} {'padded c/s':>11s} {'real c/s':>9s} "
        f"{'GFLOP/s':>8s} {'limit':>6s} {'best':>5s} {'x fit':>6s}",
    ]
    for row in t["rows"].values():
        lines.append(
            f"  {row['name']:44s} {row['seconds_per_epoch']:8.2f} "
            f"{row['padded_chars_per_second']:11,.0f} {row['real_chars_per_second']:9,.0f} "
            f"{row['executed_gflops']:8.1f} {row['fraction_of_limit']:6.0%} "
            f"{row['fraction_of_best_limit']:5.0%} {row['vs_fit']:6.2f}")
    tut = g["tutorial"]
    lines += [
        "",
        f"Generation (temperature {g['temperature']}): tutorial loop {tut['names_per_second']:.1f} "
        f"names/s, p50 {tut['p50_ms']:.0f} ms, p99 {tut['p99_ms']:.0f} ms per name, "
        f"{tut['mean_model_calls']:.1f} calls/name",
        f"  {'batch':>5s} {'names/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s} {'steps':>6s} "
        f"{'GFLOP/s':>8s} {'limit':>6s} {'best':>5s} {'x names/s':>10s} {'x p50':>7s}",
    ]
    for row in g["ours"].values():
        lines.append(
            f"  {row['batch']:5d} {row['names_per_second']:9,.0f} {row['p50_ms']:8.1f} "
            f"{row['p99_ms']:8.1f} {row['mean_loop_steps']:6.1f} {row['executed_gflops']:8.1f} "
            f"{row['fraction_of_limit']:6.0%} {row['fraction_of_best_limit']:5.0%} "
            f"{row['vs_tutorial_names_per_second']:10.1f} "
            f"{row['vs_tutorial_p50_latency']:7.1f}")
    s = report["scoring"]
    lines += ["", f"Scoring: {s['names_per_second']:,.0f} names/s, {s['chars_per_second']:,.0f} "
              f"chars/s (batch {s['batch']}, {s['names']} names)"]
    p = report["pipeline"]
    lines += ["", f"Pipeline ({p['pipeline_root']}):"]
    for e in p["components"]:
        lines.append(f"  {e['component']:26s} {e['state']:9s} {e['seconds']:7.1f} s")
    if p.get("run_wall_seconds") is not None:
        lines.append(f"  run wall {p['run_wall_seconds']:.1f} s, training loop "
                     f"{p['training_loop_seconds'] or 0:.1f} s, overhead "
                     f"{p['overhead_seconds']:.1f} s, cached re-run "
                     f"{p.get('cached_rerun_seconds', float('nan')):.1f} s")
    else:
        lines.append(f"  components {p['components_seconds']:.1f} s, training loop "
                     f"{p['training_loop_seconds'] or 0:.1f} s (no wall time: run without "
                     "--quick to measure the two runs)")
    sc = report["scaling"]
    lines += ["", "Scaling (log-log growth exponents: 1 = linear): " + ", ".join(
        f"{k} {v:.2f}" for k, v in sc["growth_exponents"].items())]
    lines += ["", "Targets:"]
    for row in report["targets"]:
        value = "n/a" if row["value"] is None else f"{row['value']:.2f}"
        verdict = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        lines.append(f"  {row['target']:36s} {value:>8s} {row['op']} {row['threshold']:<6g} "
                     f"{verdict}")
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# --- entry point ---------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    """Run the bench; prints the table and writes OUT/bench.json and OUT/*.png."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from components.trainer import data, export

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    report: dict = {"quick": args.quick, "date": datetime.now(timezone.utc).isoformat(),
                    "command": " ".join(["namegen bench", *sys.argv[2:]])
                    if sys.argv[1:2] == ["bench"] else " ".join(sys.argv),
                    "load_before": os.getloadavg(), "machine": machine()}
    pipeline_root, walls = Path(args.pipeline_root).resolve(), None
    if not args.quick and not args.skip_pipeline:  # the pipeline rows: a fresh and a cached run
        pipeline_root = out / "pipeline"
        shutil.rmtree(pipeline_root, ignore_errors=True)
        shutil.rmtree(out / "serving", ignore_errors=True)
        beam = [f"--beam-arg={arg}" for arg in args.beam_arg]
        walls = [run_pipeline(pipeline_root, out / "serving", args.data, beam) for _ in range(2)]
        report["pipeline_beam_args"] = args.beam_arg or "configs.BEAM_ARGS_CLI"
    elif not (pipeline_root / "metadata.sqlite").exists():
        pipeline_root = out / "pipeline"
        if not (pipeline_root / "metadata.sqlite").exists():
            log(f"no pipeline run in {args.pipeline_root}: running one (tiny) for the data")
            beam = [f"--beam-arg={arg}" for arg in args.beam_arg or QUICK_BEAM_ARGS]
            run_pipeline(pipeline_root, out / "serving", args.data,
                         ["--preset", "tiny", "--epochs", "1", *beam])
    report["pipeline"] = pipeline_cost(pipeline_root, walls)
    train_ids, _, tft_output = load_data(pipeline_root)
    vocab_size = tft_output.vocabulary_size_by_name(configs.VOCAB_NAME) + configs.NUM_OOV_BUCKETS
    hp = configs.hyperparameters(args.preset)
    report["data"] = {"pipeline_root": str(pipeline_root), "train_names": int(len(train_ids)),
                      "vocab_size": int(vocab_size)}
    if args.quick and len(train_ids) > 8 * hp["batch_size"]:  # a fixed subset: 8 batches
        subset = np.random.default_rng(0).choice(len(train_ids), 8 * hp["batch_size"], False)
        train_ids = train_ids[np.sort(subset)]
        report["data"]["quick_subset_names"] = int(len(train_ids))

    units = hp["rnn_units"]
    limits = {
        "train_recurrent": MatmulLimit(hp["batch_size"], units, 3 * units),
        "train_input": MatmulLimit(hp["batch_size"], hp["embedding_dim"], 3 * units),
        "generate_256": MatmulLimit(256, units, 3 * units),
        "generate_1": MatmulLimit(1, units, 3 * units),
    }
    for limit in limits.values():
        limit.measure(1.0)
    rounds = args.rounds or (2 if args.quick else 5)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    report["training"], ours = bench_training(train_ids, vocab_size, hp, rounds,
                                              limits["train_recurrent"], work,
                                              xla=not args.quick,
                                              vocabulary=tft_output.vocabulary_by_name(
                                                  configs.VOCAB_NAME))
    log("exporting the trained model of our step")
    names = data.decode_names(train_ids, tft_output)
    export.export(ours.model, tft_output, str(work / "model"), {"hyperparameters": hp},
                  training_names=names)
    loaded = tf.saved_model.load(str(work / "model"))
    from serving import contract

    generate = loaded.signatures[contract.GENERATE_SIGNATURE]
    score = loaded.signatures[contract.SCORE_SIGNATURE]
    forward = forward_flops_per_char(hp, vocab_size)
    report["generation"] = bench_generation(
        generate, TutorialSampler(ours.model, vocab_size, hp), [1, 32, 256],
        3 if args.quick else 10, limits["generate_256"], generation_step_flops(hp, vocab_size),
        forward)
    report["scoring"] = bench_scoring(score, names, 1 if args.quick else 3)
    log("scaling")
    report["scaling"] = bench_scaling(
        generate, ours,
        [1, 16, 256] if args.quick else [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
        [4, 32] if args.quick else [2, 4, 8, 16, 24, 32],
        [1, 2, 4] if args.quick else [1, 4, 16], 2 if args.quick else 3)
    for limit in limits.values():
        limit.measure(0.5)
    report["matmul"] = {f"{k} {'x'.join(map(str, v.shape))}": v.gflops
                        for k, v in limits.items()}
    report["matmul_limit_gflops"] = limits["train_recurrent"].gflops
    report["matmul_samples"] = {k: v.samples for k, v in limits.items()}
    report["plots"] = plot(report["scaling"], out)
    report["load_after"] = os.getloadavg()
    report["targets"] = targets(report)
    report["bench_seconds"] = time.perf_counter() - started
    (out / "bench.json").write_text(json.dumps(report, indent=1))
    print(table(report))
    print(f"\nwrote {out / 'bench.json'} and {len(report['plots'])} plots "
          f"in {report['bench_seconds']:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="namegen bench", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
