"""`namegen bench quality`: neural presets against count baselines on the same held-out split.

For each name list: ExampleGen + Transform (the pipeline's own components) make the train/eval
split and the vocabulary; then the `default` and `tutorial` presets (three seeds each), an
interpolated Kneser-Ney n-gram and a unigram floor are trained on train and scored on eval with
the same metric (nats per character, end-of-name included) and the gate's sample metrics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from data import encoding, name_lists
from namegen.bench import controls
from namegen.bench.controls import sample_metrics
from namegen.bench.split import Prepared, prepare
from pipeline import configs

LN2 = math.log(2.0)
SEEDS = (42, 43, 44)
BENCH_PRESETS = ("default", "tutorial")
PRESET_OVERRIDES = {"tutorial": {"restore_best": False}}  # the tutorial keeps its last weights
COLUMNS = ("eval_nats_per_char", "bits_per_char", "train_seconds", "parameters", "novelty",
           "copy_rate", "validity", "length_tv_distance", "reverse_score", "prefix_diversity",
           "casing")
FLOOR_ROW = "real names (floor)"  # the real-vs-real floor of each fidelity measure
RAW_LABEL = "raw model (calibration, eta off)"  # the same models, every sampler control neutral


DATASETS: dict[str, Callable[[], list[str]]] = {
    "dinos": name_lists.dinosaur_names,
    "greek": name_lists.greek_names,
    "us-first-names": name_lists.english_first_names,
}


# --- rows -------------------------------------------------------------------------------------
def neural_run(prepared: Prepared, preset: str, seed: int, overrides: dict, work_dir: str,
               gate: dict) -> dict:
    """Train one preset with one seed through train_and_export, then the gate's metrics."""
    from components.evaluator import fidelity
    from components.evaluator.component import evaluate_model
    from components.trainer import data, resume, train

    hp = configs.resolve(preset, overrides, seed=seed)
    run_dir = tempfile.mkdtemp(prefix=f"{preset}-{seed}-", dir=work_dir)
    serving = os.path.join(run_dir, "serving")
    vocabulary = prepared.tft_output.vocabulary_by_name(encoding.VOCAB_NAME)
    metrics = train.train_and_export(data.ArraySplit(prepared.train_ids, vocabulary),
                                     data.ArraySplit(prepared.eval_ids, vocabulary),
                                     prepared.tft_output, hp, run_dir, serving)
    # The score signature rejects characters outside the vocabulary, so the gate's metrics use
    # the eval names it can read; nats/char comes from the Trainer over every eval name (an
    # unseen character is the OOV id, as the n-gram's OOV slot).
    known = set("".join(prepared.train_names))
    readable = [name for name in prepared.eval_names if set(name) <= known]
    gate_metrics = evaluate_model(serving, prepared.train_names, readable, gate)
    raw = raw_model_metrics(serving, prepared, readable, gate)
    history = json.load(open(os.path.join(run_dir, resume.HISTORY_FILE)))
    return {
        "seed": seed,
        "eval_nats_per_char": metrics["eval_nats_per_char"],
        "score_signature_nats_per_char": gate_metrics["eval_nats_per_char"],
        "eval_names_with_unseen_characters": len(prepared.eval_names) - len(readable),
        "train_nats_per_char": metrics["train_nats_per_char"],
        "train_seconds": metrics["train_seconds"],
        "seconds_per_epoch": metrics["train_seconds"] / max(1, metrics["epochs_trained"]),
        "epochs_trained": metrics["epochs_trained"],
        "best_epoch": metrics["best_epoch"],
        "parameters": metrics["parameters"],
        **{k: gate_metrics[k] for k in ("novelty", "validity", "casing", "samples_per_second",
                                         *fidelity.MEASURES,
                                         *(m + "_floor" for m in fidelity.MEASURES))},
        "eval_curve": [round(r["eval_loss"], 4) for r in history],
        "serving_dir": serving,
        "raw": dict(raw, eval_nats_per_char=metrics["eval_nats_per_char"],
                    train_seconds=metrics["train_seconds"], parameters=metrics["parameters"]),
    }


def raw_model_metrics(serving: str, prepared: Prepared, readable: list[str], gate: dict) -> dict:
    """The gate's sample metrics with every control neutral (`sample`): the raw model, no
    length calibration and no tail cut, beside the default sampler's."""
    import tensorflow as tf

    from serving import contract

    seed, n = gate["sample_seed"], gate["num_samples"]
    request = contract.generation_request(n, seeds=list(range(seed, seed + n)),
                                          signature=contract.SAMPLE_SIGNATURE)
    signature = tf.saved_model.load(serving).signatures[contract.SAMPLE_SIGNATURE]
    names = [name.decode("utf-8") for name in signature(**request)["name"].numpy()]
    return sample_metrics(names, prepared.train_names, readable, seed)


def count_rows(prepared: Prepared, gate: dict) -> dict[str, dict]:
    """Kneser-Ney (order and discount chosen on 10% of train) and the unigram floor."""
    from components.baselines import ngram, selection

    rows = {}
    started = time.perf_counter()
    kneser_ney, selection = selection.select_kneser_ney(prepared.train_names)
    seconds = time.perf_counter() - started
    for label, model, extra in (
        (f"kneser-ney n={selection['order']}", kneser_ney, {"selection": selection}),
        ("unigram", ngram.Unigram().fit(prepared.train_names), {}),
    ):
        if label == "unigram":
            started = time.perf_counter()
            seconds = time.perf_counter() - started
        samples = model.sample(gate["num_samples"], gate["sample_seed"],
                               gate["sample_temperature"])
        rows[label] = {
            "eval_nats_per_char": model.nats_per_char(prepared.eval_names),
            "train_seconds": seconds,
            "parameters": model.parameters,
            **sample_metrics(samples, prepared.train_names, prepared.eval_names),
            "examples": samples[:10],
            **extra,
        }
    return rows


def aggregate(runs: list[dict]) -> dict:
    """Mean and spread (sample standard deviation) of each numeric column over seeds."""
    row: dict = {"runs": runs}
    for key in COLUMNS + ("seconds_per_epoch", "epochs_trained", "train_nats_per_char"):
        values = [r[key] for r in runs if key in r]
        if not values:
            continue
        row[key] = statistics.fmean(values)
        row[key + "_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return row


def with_bits(row: dict) -> dict:
    row["bits_per_char"] = row["eval_nats_per_char"] / LN2
    if "eval_nats_per_char_std" in row:
        row["bits_per_char_std"] = row["eval_nats_per_char_std"] / LN2
    return row


def bench_dataset(name: str, names: list[str], args: argparse.Namespace, work_dir: str) -> dict:
    gate = dict(configs.GATE)
    log(f"{name}: {len(names):,} names; ExampleGen + Transform")
    prepared = prepare(names, work_dir)
    result = {"names": len(names), "train_names": len(prepared.train_names),
              "eval_names": len(prepared.eval_names), "rows": {}}
    seeds = SEEDS[:args.seeds]
    presets = [(preset, dict(PRESET_OVERRIDES.get(preset, {}),
                             **(dict(args.set or []) if preset == "default" else {})))
               for preset in (args.presets or BENCH_PRESETS)]
    for preset, overrides in presets:
        if args.quick:
            overrides = dict(overrides, epochs=2)
        runs = []
        for seed in seeds:
            log(f"{name}: {preset} seed {seed}")
            runs.append(neural_run(prepared, preset, seed, overrides, work_dir, gate))
            log(f"{name}: {preset} seed {seed}: eval {runs[-1]['eval_nats_per_char']:.4f} "
                f"nats/char in {runs[-1]['train_seconds']:.0f}s")
        raw_runs = [run.pop("raw") for run in runs]
        result["rows"][preset] = with_bits(aggregate(runs))
        result["rows"][f"{preset}, {RAW_LABEL}"] = with_bits(aggregate(raw_runs))
        if preset == "default" and args.controls:
            result["controls"] = controls.sampling_controls(
                runs[0]["serving_dir"], prepared.train_names, prepared.eval_names)
            print(controls.controls_table(result["controls"]), flush=True)
        result["rows"][preset]["hyperparameters"] = configs.hyperparameters(preset, overrides)
    for label, row in count_rows(prepared, gate).items():
        result["rows"][label] = with_bits(row)
    result["rows"][FLOOR_ROW] = floor_row(result["rows"])
    return result


def floor_row(rows: dict[str, dict]) -> dict:
    """The real-vs-real floors (the same for every model of a list: one split of real names)."""
    from components.evaluator import fidelity

    first = next(iter(rows.values()))
    source = first["runs"][0] if "runs" in first else first
    return {m: source[m + "_floor"] for m in fidelity.MEASURES if m + "_floor" in source}


def bench_large(args: argparse.Namespace, work_dir: str) -> dict:
    """A list 50x the size of dinos: trains in memory; time per epoch and peak memory."""
    names = name_lists.full_names(50 * len(name_lists.dinosaur_names()))
    log(f"large: {len(names):,} full names; ExampleGen + Transform")
    started = time.perf_counter()
    prepared = prepare(names, work_dir)
    prepare_seconds = time.perf_counter() - started
    overrides = {"epochs": args.large_epochs}
    run = neural_run(prepared, "default", SEEDS[0], overrides, work_dir, dict(configs.GATE))
    run.pop("serving_dir")
    return {"names": len(names), "train_names": len(prepared.train_names),
            "eval_names": len(prepared.eval_names), "prepare_seconds": prepare_seconds,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "train_array_mib": prepared.train_ids.nbytes / 2**20, **run}


# --- k-fold cross-validation -------------------------------------------------------------------
def cross_validate(prepared: Prepared, folds: int, presets: list[str], seed: int = SEEDS[0]
                   ) -> dict:
    """Train+eval names in `folds` folds: each preset and Kneser-Ney trained on the rest."""
    import numpy as np

    from components.baselines import selection
    from components.trainer import data
    from components.tuner.component import train_trial

    ids = np.concatenate([prepared.train_ids, prepared.eval_ids])
    names = data.decode_names(ids, prepared.tft_output)
    fold_of = np.array([int(hashlib.md5(n.encode()).hexdigest(), 16) % folds for n in names])
    vocab_size = (prepared.tft_output.vocabulary_size_by_name(encoding.VOCAB_NAME)
                  + encoding.NUM_OOV_BUCKETS)
    vocabulary = prepared.tft_output.vocabulary_by_name(encoding.VOCAB_NAME)
    scores: dict[str, list[float]] = {p: [] for p in presets + ["kneser-ney"]}
    for fold in range(folds):
        held, kept = fold_of == fold, fold_of != fold
        for preset in presets:
            hp = configs.hyperparameters(preset, PRESET_OVERRIDES.get(preset), seed=seed)
            outcome = train_trial(hp, ids[kept], ids[held], vocab_size, vocabulary)
            scores[preset].append(outcome["eval_nats_per_char"])
        kneser_ney, _ = selection.select_kneser_ney([n for n, k in zip(names, kept) if k])
        scores["kneser-ney"].append(
            kneser_ney.nats_per_char([n for n, h in zip(names, held) if h]))
        log(f"cv fold {fold}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in scores.items()))
    return {"folds": folds, "scores": scores,
            "mean": {k: statistics.fmean(v) for k, v in scores.items()},
            "std": {k: statistics.stdev(v) for k, v in scores.items()}}


# --- output -----------------------------------------------------------------------------------
def _cell(row: dict, key: str, fmt: str) -> str:
    if key not in row:
        return "-"
    text = format(row[key], fmt)
    if row.get(key + "_std") is not None and "runs" in row and key != "parameters":
        text += " ± " + format(row[key + "_std"], fmt)
    return text


def table(result: dict) -> str:
    """A Markdown table: one row per model, fidelity first, then the floors' row."""
    columns = [("length TV", "length_tv_distance", ".3f"), ("copies", "copy_rate", ".1%"),
               ("reverse", "reverse_score", ".3f"), ("prefix div.", "prefix_diversity", ".0%"),
               ("validity", "validity", ".1%"), ("casing", "casing", ".1%"),
               ("nats/char", "eval_nats_per_char", ".3f"), ("bits/char", "bits_per_char", ".3f"),
               ("train s", "train_seconds", ".0f"), ("params", "parameters", ",.0f")]
    lines = ["| model | " + " | ".join(c[0] for c in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for label, row in result["rows"].items():
        lines.append("| " + " | ".join([label] + [_cell(row, key, fmt)
                                                  for _, key, fmt in columns]) + " |")
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[bench quality] {message}", file=sys.stderr, flush=True)


def cmd_quality(args: argparse.Namespace) -> int:
    work_dir = os.path.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    datasets = args.dataset or list(DATASETS)
    started = time.perf_counter()
    if args.cv:
        result = cross_validate(prepare(name_lists.dinosaur_names(), work_dir), args.cv,
                                args.cv_presets or ["default"])
        print(json.dumps({k: result[k] for k in ("mean", "std")}, indent=1))
        _write({"cross_validation": result}, args.json)
        return 0
    if args.controls_model:  # only the sampling controls of an existing dinos model
        prepared = prepare(name_lists.dinosaur_names(), work_dir)
        result = controls.sampling_controls(args.controls_model, prepared.train_names,
                                            prepared.eval_names)
        print(controls.controls_table(result))
        print("\n".join(result["readme_names"]))
        _write({"controls": result, "model": args.controls_model}, args.json)
        return 0
    report: dict = {"seeds": list(SEEDS[:args.seeds]), "quick": args.quick, "datasets": {}}
    for name in datasets:
        names = DATASETS[name]()
        if args.quick:
            names = names[:: max(1, len(names) // 400)]
        report["datasets"][name] = bench_dataset(name, names, args, work_dir)
        print(f"\n## {name} ({report['datasets'][name]['train_names']:,} train / "
              f"{report['datasets'][name]['eval_names']:,} eval names)\n")
        print(table(report["datasets"][name]), flush=True)
        _write(report, args.json)
    if args.large:
        report["large"] = bench_large(args, work_dir)
        large = report["large"]
        print(f"\n## {large['names']:,} full names (50x dinos): {large['seconds_per_epoch']:.1f} s"
              f"/epoch, peak RSS {large['peak_rss_mib']:,.0f} MiB, eval "
              f"{large['eval_nats_per_char']:.3f} nats/char after {large['epochs_trained']} "
              f"epochs", flush=True)
    report["seconds"] = time.perf_counter() - started
    _write(report, args.json)
    print(f"\nwrote {args.json} ({report['seconds'] / 60:.1f} min)")
    return 0


def _write(report: dict, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(report, f, indent=1, ensure_ascii=False, default=float)
    os.replace(path + ".tmp", path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", action="append", choices=sorted(DATASETS),
                        help="name list to bench (repeatable; default: all)")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), choices=range(1, 4),
                        help="seeds per neural preset (mean ± std over them)")
    parser.add_argument("--presets", nargs="+", choices=BENCH_PRESETS, metavar="PRESET",
                        help=f"neural presets to train (default: {' '.join(BENCH_PRESETS)})")
    parser.add_argument("--set", action="append", type=_key_value, metavar="KEY=VALUE",
                        help="override a hyperparameter of the default preset (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: ~400 names per list, 2 epochs")
    parser.add_argument("--large", action="store_true",
                        help="also train on a list 50x dinos and report time per epoch")
    parser.add_argument("--large-epochs", type=int, default=2, help="epochs with --large")
    parser.add_argument("--controls", action="store_true",
                        help="also measure top_k/top_p/min_length/no_copy on the default model")
    parser.add_argument("--cv", type=int, metavar="K",
                        help="only K-fold cross-validation on dinos: --cv-presets and Kneser-Ney")
    parser.add_argument("--cv-presets", nargs="+", choices=BENCH_PRESETS, metavar="PRESET",
                        help="presets in the cross-validation (default: default)")
    parser.add_argument("--controls-model", metavar="DIR",
                        help="only measure the controls of this SavedModel (dinos split)")
    parser.add_argument("--work-dir", default=str(configs.DEFAULT_ROOT / "bench" / "quality"),
                        help="pipeline roots and models of the bench")
    parser.add_argument("--json", default=str(configs.DEFAULT_ROOT / "bench" / "quality.json"),
                        help="where to write the results")


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    known = sorted(configs.hyperparameters())
    if not sep or key not in known:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with KEY one of {known}")
    return key, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="namegen bench quality", description=__doc__)
    add_arguments(parser)
    return cmd_quality(parser.parse_args(argv))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
