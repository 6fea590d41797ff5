"""`namegen bench`: training, generation, scoring and pipeline cost against the tutorial's way
and against the machine's measured matmul limit, side by side in one run.

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
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from data import encoding
from namegen.bench import cold_start
from namegen.bench.contenders import bench_training
from namegen.bench.flops import forward_flops_per_char, generation_step_flops
from namegen.bench.machine import MatmulLimit, machine
from namegen.bench.pipeline_cost import load_data, pipeline_cost, run_pipeline
from namegen.bench.plots import plot
from namegen.bench.progress import log
from namegen.bench.speed import TutorialSampler, bench_generation, bench_scaling, bench_scoring
from namegen.bench.targets import table, targets
from pipeline import configs

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


# --- entry point ---------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
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
    vocab_size = tft_output.vocabulary_size_by_name(encoding.VOCAB_NAME) + encoding.NUM_OOV_BUCKETS
    hp = configs.resolve(args.preset)
    report["data"] = {"pipeline_root": str(pipeline_root), "train_names": int(len(train_ids)),
                      "vocab_size": int(vocab_size)}
    if args.quick and len(train_ids) > 8 * hp.batch_size:  # a fixed subset: 8 batches
        subset = np.random.default_rng(0).choice(len(train_ids), 8 * hp.batch_size, False)
        train_ids = train_ids[np.sort(subset)]
        report["data"]["quick_subset_names"] = int(len(train_ids))

    units = hp.rnn_units
    limits = {
        "train_recurrent": MatmulLimit(hp.batch_size, units, 3 * units),
        "train_input": MatmulLimit(hp.batch_size, hp.embedding_dim, 3 * units),
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
                                                  encoding.VOCAB_NAME))
    log("exporting the trained model of our step")
    names = data.decode_names(train_ids, tft_output)
    export.export(ours.model, tft_output, str(work / "model"), {"hyperparameters": hp.as_dict()},
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
    log("cold start of `namegen generate` against a bare import-and-load")
    report["cold_start"] = cold_start.measure(work / "model", 1 if args.quick else 3)
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
    return cmd_bench(parser.parse_args(argv))
