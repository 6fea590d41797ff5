"""Training contenders: the tutorial's model.fit, our fused step, and their interleaved rounds."""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data import encoding
from namegen.bench.flops import forward_flops_per_char
from namegen.bench.machine import MatmulLimit
from namegen.bench.progress import log
from pipeline.configs import Hyperparameters


def tutorial_model(vocab_size: int, hp: Hyperparameters, stateful: bool = False):
    """The tutorial's Sequential Embedding -> stock Keras GRU -> Dense (batch 1 if stateful)."""
    import tf_keras

    return tf_keras.Sequential([
        tf_keras.Input(batch_shape=[1 if stateful else None, None], dtype="int64"),
        tf_keras.layers.Embedding(vocab_size, hp.embedding_dim),
        tf_keras.layers.GRU(hp.rnn_units, return_sequences=True, stateful=stateful),
        tf_keras.layers.Dense(vocab_size),
    ])


class FitContender:
    """(b) the tutorial's way: model.fit on unmasked sequences padded to the longest name."""

    name = "tutorial model.fit (unmasked, padded)"

    def __init__(self, train_ids: np.ndarray, vocab_size: int, hp: Hyperparameters):
        import tf_keras

        from components.trainer.model import shift_right

        longest = int((train_ids != encoding.PAD_ID).sum(axis=1).max())
        self.targets = train_ids[:, :longest]
        self.inputs = shift_right(self.targets).numpy()
        self.batch_size = hp.batch_size
        self.model = tutorial_model(vocab_size, hp)
        self.model.compile(
            optimizer=tf_keras.optimizers.Adam(hp.learning_rate),
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
    """(a) our Trainer's tf.function GradientTape step, looped exactly as TrainingLoop.fit does."""

    def __init__(self, name: str, train_ids: np.ndarray, vocab_size: int, hp: Hyperparameters,
                 run_dir: str, jit_compile: bool = False, vocabulary: Sequence[str] = ()):
        from components.trainer.data import ArraySplit
        from components.trainer.loop import TrainingLoop
        from components.trainer.model import build_model

        self.name, self.hp, self.train_ids = name, hp, train_ids
        self.train = ArraySplit(train_ids, vocabulary)
        self.model = build_model(vocab_size, hp, vocabulary)
        steps = -(-len(train_ids) // hp.batch_size)
        self.trainer = TrainingLoop(self.model, hp, steps, run_dir, jit_compile=jit_compile)
        if self.trainer.teacher_weight:
            self.trainer.fit_teacher(self.train)

    def epoch(self, seed: int, ids: np.ndarray | None = None) -> tuple[float, int]:
        """One epoch exactly as TrainingLoop.fit walks it (teacher targets per batch)."""
        from components.trainer.data import ArraySplit, epoch_seed

        split = self.train if ids is None else ArraySplit(ids)
        started, total, padded = time.perf_counter(), 0.0, 0
        for batch in split.batches(self.hp.batch_size, epoch_seed(self.hp.seed, seed),
                                   self.hp.mask_padding):
            loss_sum, _ = self.trainer.step(batch)
            total += float(loss_sum)
            padded += batch.size
        return time.perf_counter() - started, padded


def bench_training(train_ids: np.ndarray, vocab_size: int, hp: Hyperparameters, rounds: int,
                   limit: MatmulLimit, work_dir: Path, xla: bool,
                   vocabulary: Sequence[str] = ()) -> tuple[dict, StepContender]:
    """Interleaved epochs of every contender, one warm-up round first."""
    real_chars = int((train_ids != encoding.PAD_ID).sum())  # characters + end-of-name
    masked = dataclasses.replace(hp, mask_padding=True)
    contenders = {
        "fit": FitContender(train_ids, vocab_size, hp),
        "ours": StepContender("our step (masked loss, length-bucketed)", train_ids, vocab_size,
                              masked, str(work_dir / "ours"), vocabulary=vocabulary),
    }
    if not hp.mask_padding:
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
        "preset": hp.preset, "batch_size": hp.batch_size, "rounds": rounds,
        "train_names": int(len(train_ids)), "flops_per_char": flops,
        "flops_per_char_note": "forward + backward = 3 x forward matmul FLOPs",
        "real_chars_note": "name characters plus end-of-name (the predicted positions)",
        "matmul_gflops_per_round": limits, "rows": rows,
    }, contenders["ours"]
