"""`namegen bench scale`: the whole pipeline on 10k-1M generated names, time and peak RSS.

For each size, a deterministic list of names made from faker's person data (data/name_lists.py,
scale_names) is written to the work folder, `namegen run` runs on it in a subprocess, a thread
samples the resident memory of the run's whole process tree (Beam's worker processes included),
and each sample is attributed to the component that ran at that moment (ML Metadata's execution
start and end times).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from data import progress
from data.name_lists import write_names
from namegen import arguments
from namegen.bench.progress import log
from pipeline import configs

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
SAMPLE_SECONDS = 0.2
RSS_TARGET_BYTES = 6 * 2**30
TEACHER_TARGET = 0.10  # teacher build / one epoch
BEAM_ARGS = ("--direct_running_mode=multi_processing", "--direct_num_workers=2")


# --- resident memory of a process tree, and which component it belongs to ------------------
def tree_rss(pid: int) -> tuple[int, int]:
    """(RSS of the process and all its descendants, RSS of the process alone), in bytes."""
    import psutil

    root = psutil.Process(pid)
    own = root.memory_info().rss
    total = own
    for child in root.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            pass
    return total, own


class RssSampler(threading.Thread):
    """Samples tree_rss(pid) every `period` seconds: samples are (unix time, tree, own).

    Past `limit` bytes (a shared machine's safety net) it kills the process tree and sets
    `killed_over_limit`.
    """

    def __init__(self, pid: int, period: float = SAMPLE_SECONDS, limit: float | None = None):
        super().__init__(daemon=True)
        self.pid, self.period, self.limit = pid, period, limit
        self.samples: list[tuple[float, int, int]] = []
        self.stopped = threading.Event()
        self.killed_over_limit = False

    def run(self) -> None:
        import psutil

        while not self.stopped.is_set():
            try:
                self.samples.append((time.time(), *tree_rss(self.pid)))
                if self.limit and self.samples[-1][1] > self.limit:
                    self.kill_tree()
            except psutil.Error:  # the run process has exited
                return
            self.stopped.wait(self.period)

    def kill_tree(self) -> None:
        import psutil

        root = psutil.Process(self.pid)
        self.killed_over_limit = True
        for process in [*root.children(recursive=True), root]:
            try:
                process.kill()
            except psutil.Error:
                pass

    def stop(self) -> list[tuple[float, int, int]]:
        self.stopped.set()
        self.join()
        return self.samples


def attribute_peaks(samples: list[tuple[float, int]], intervals: list[dict]) -> list[dict]:
    """Each interval ({"component", "start", "end"} in unix seconds) with its peak sample.

    A sample belongs to every interval containing its time (ends included). An interval that
    no sample falls in (shorter than the sampling period) gets the larger of the samples just
    before and after it, and "bracketed": True; with no such samples its peak is None.
    """
    ordered = sorted(samples)
    rows = []
    for interval in intervals:
        start, end = interval["start"], interval["end"]
        inside = [value for t, value in ordered if start <= t <= end]
        row = dict(interval, samples=len(inside), bracketed=not inside)
        if not inside:
            before = [value for t, value in ordered if t < start][-1:]
            after = [value for t, value in ordered if t > end][:1]
            inside = before + after
        row["peak"] = max(inside) if inside else None
        rows.append(row)
    return rows


# --- one run -------------------------------------------------------------------------------
def execution_intervals(pipeline_root: Path) -> list[dict]:
    """The components' executions in a pipeline root: component, state, start, end (unix s)."""
    from pipeline import metadata

    store = metadata.open_store(str(pipeline_root))
    rows = []
    for row, execution in zip(metadata.executions(store),
                              sorted(store.get_executions(), key=lambda e: e.id)):
        rows.append({"component": row["component"], "state": row["state"],
                     "start": execution.create_time_since_epoch / 1000.0,
                     "end": execution.last_update_time_since_epoch / 1000.0})
    return rows


TEACHER_LINE = re.compile(r"\[trainer\] n-gram teacher: .*, ([0-9.]+)s$", re.MULTILINE)


def trainer_numbers(pipeline_root: Path, log_text: str) -> dict:
    """Epoch time, characters in the train split and teacher build time of the run's Trainer."""
    from pipeline import metadata

    run = metadata.latest_artifact(metadata.open_store(str(pipeline_root)), "ModelRun")
    history_path = Path(run.uri) / "history.json" if run is not None else None
    result: dict = {"epoch_seconds": None, "train_characters": None, "chars_per_second": None,
                    "teacher_seconds": None}
    if history_path is not None and history_path.exists():
        first = json.loads(history_path.read_text())[0]
        result["epoch_seconds"] = first["epoch_seconds"]
        result["chars_per_second"] = first["chars_per_second"]
        result["train_characters"] = round(first["chars_per_second"] * first["epoch_seconds"])
    teacher = TEACHER_LINE.findall(log_text)
    if teacher:
        result["teacher_seconds"] = float(teacher[-1])
    return result


def run_size(count: int, work: Path, seed: int, extra: list[str],
             rss_limit: float | None = None) -> dict:
    """Generates the list, runs `namegen run` on it while sampling RSS, returns the row."""
    folder = work / f"n{count}"
    data = folder / "names.txt"
    if not data.exists():
        write_names(data, count, seed)
    pipeline_root, serving_dir = folder / "pipeline", folder / "serving"
    command = [sys.executable, "-m", "namegen.cli", "run", "--data", str(data),
               "--pipeline-root", str(pipeline_root), "--serving-dir", str(serving_dir),
               "--epochs", "1", *[f"--beam-arg={arg}" for arg in BEAM_ARGS], *extra]
    log(f"{count:,} names: $ {' '.join(command[1:])}")
    load_before = os.getloadavg()
    log_path = folder / "run.log"
    started = time.time()
    with open(log_path, "w") as output:
        # this checkout's code in the run and in Beam's workers, whatever the venv points at
        environment = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(configs.PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
        process = subprocess.Popen(command, cwd=configs.PROJECT_ROOT, env=environment,
                                   stdout=output, stderr=subprocess.STDOUT)
        sampler = RssSampler(process.pid, limit=rss_limit)
        sampler.start()
        with progress.heartbeat(f"[bench] {count:,} names", detail=lambda: last_step(log_path)):
            exit_code = process.wait()
    samples = sampler.stop()
    wall = time.time() - started
    (folder / "rss_samples.json").write_text(json.dumps(
        {"started": started, "wall": wall, "samples": samples}))  # raw, before any parsing
    log_text = log_path.read_text(errors="replace")
    intervals = [i for i in execution_intervals(pipeline_root) if i["start"] >= started - 1]
    tree = attribute_peaks([(t, total) for t, total, _ in samples], intervals)
    own = attribute_peaks([(t, mine) for t, _, mine in samples], intervals)
    components = [dict(row, seconds=row["end"] - row["start"], peak_rss=row.pop("peak"),
                       peak_rss_own=mine["peak"]) for row, mine in zip(tree, own)]
    return {
        "names": count, "data": str(data), "command": command, "exit_code": exit_code,
        "killed_over_rss_limit": sampler.killed_over_limit,
        "log": str(log_path), "wall_seconds": wall, "load_before": load_before,
        "load_after": os.getloadavg(), "samples": len(samples),
        "peak_rss": max((total for _, total, _ in samples), default=None),
        "components": components, **trainer_numbers(pipeline_root, log_text),
    }


# --- report --------------------------------------------------------------------------------
def last_step(log_path: Path) -> str:
    """The run's latest component or trainer line, for the bench's progress line."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    steps = [line.strip() for line in lines if line.startswith(("▶", "✓", "[trainer]"))]
    return steps[-1][:120] if steps else ""


def _gib(value: int | None) -> str:
    return f"{value / 2**30:.2f}" if value is not None else "-"


def _seconds(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


def verdicts(rows: list[dict]) -> dict:
    """The issue's targets against the measured rows."""
    done = [r for r in rows if r["exit_code"] == 0 and r["epoch_seconds"]]
    result: dict = {
        "peak_rss_le_6gib": {str(r["names"]): r["peak_rss"] <= RSS_TARGET_BYTES for r in rows
                             if r["peak_rss"] is not None},
        "teacher_share_of_epoch": {str(r["names"]): r["teacher_seconds"] / r["epoch_seconds"]
                                   for r in done if r["teacher_seconds"] is not None},
    }
    result["teacher_le_10pct"] = {k: v <= TEACHER_TARGET
                                  for k, v in result["teacher_share_of_epoch"].items()}
    if len(done) >= 2:  # log-log slope of epoch time against characters, pairwise and overall
        import numpy as np

        x = np.log([r["train_characters"] for r in done])
        y = np.log([r["epoch_seconds"] for r in done])
        result["epoch_time_exponent"] = float(np.polyfit(x, y, 1)[0])
        result["seconds_per_million_chars"] = {
            str(r["names"]): r["epoch_seconds"] / r["train_characters"] * 1e6 for r in done}
    return result


def table(rows: list[dict]) -> str:
    components = list(dict.fromkeys(c["component"] for r in rows for c in r["components"]))
    header = "component".ljust(22) + "".join(f"{r['names']:>12,} names" for r in rows)
    lines = ["wall s / peak RSS GiB of the process tree (bracketed: shorter than a sample)",
             header]
    for name in components:
        cells = []
        for r in rows:
            c = next((c for c in r["components"] if c["component"] == name), None)
            cells.append(f"{_seconds(c['seconds']):>8} / {_gib(c['peak_rss']):>5}"
                         + ("*" if c["bracketed"] else " ") if c else f"{'-':>17}")
        lines.append(name.ljust(22) + "".join(f"{cell:>18}" for cell in cells))
    for label, key, fmt in (("run wall s", "wall_seconds", _seconds),
                            ("peak RSS GiB", "peak_rss", _gib),
                            ("train characters", "train_characters", lambda v: f"{v:,}"
                             if v else "-"),
                            ("epoch s", "epoch_seconds", _seconds),
                            ("teacher build s", "teacher_seconds", _seconds),
                            ("exit code", "exit_code", str)):
        lines.append(label.ljust(22) + "".join(f"{fmt(r[key]):>18}" for r in rows))
    lines.append("load average before/after: " + "; ".join(
        f"{r['names']:,}: {r['load_before'][0]:.1f}/{r['load_after'][0]:.1f}" for r in rows))
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["names"] for r in rows]
    figure, (times, memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = {"whole run": [r["wall_seconds"] for r in rows],
              "one epoch": [r["epoch_seconds"] for r in rows],
              "teacher build": [r["teacher_seconds"] for r in rows]}
    for name in ("Transform", "Trainer", "FileBasedExampleGen", "StatisticsGen"):
        series[name] = [next((c["seconds"] for c in r["components"] if c["component"] == name),
                             None) for r in rows]
    for label, values in series.items():
        points = [(s, v) for s, v in zip(sizes, values) if v]
        if points:
            times.plot(*zip(*points), marker="o", label=label)
    times.set(xscale="log", yscale="log", xlabel="names", ylabel="seconds",
              title="wall time (namegen run --epochs 1)")
    times.legend(fontsize=8)
    for name in ("Transform", "Trainer", "FileBasedExampleGen", "StatisticsGen"):
        points = [(s, c["peak_rss"] / 2**30) for s, r in zip(sizes, rows)
                  for c in r["components"] if c["component"] == name and c["peak_rss"]]
        if points:
            memory.plot(*zip(*points), marker="o", label=name)
    memory.axhline(RSS_TARGET_BYTES / 2**30, color="red", linestyle="--", label="6 GiB target")
    memory.set(xscale="log", xlabel="names", ylabel="GiB", ylim=(0, None),
               title="peak RSS of the process tree")
    memory.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def cmd_scale(args: argparse.Namespace) -> int:
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(args.work).resolve()
    if args.names_only:
        for count in sizes:
            log(f"wrote {write_names(work / f'n{count}' / 'names.txt', count, args.seed)}")
        return 0
    rows = sorted((row for path in args.merge or [] for row in
                   json.loads(Path(path).read_text())["rows"]), key=lambda r: r["names"])
    for count in sizes if not args.merge else []:
        rows.append(run_size(count, work, args.seed, args.run_arg or [],
                             args.rss_limit_gib * 2**30 if args.rss_limit_gib else None))
        _write(rows, Path(args.json))  # after every size
    result = _write(rows, Path(args.json))
    print(table(rows))
    print(json.dumps(result["verdicts"], indent=1))
    if args.plot:
        plot(rows, Path(args.plot))
    print(f"results: {args.json}")
    return 0 if all(r["exit_code"] == 0 for r in rows) else 1


def _write(rows: list[dict], path: Path) -> dict:
    result = {"rows": rows, "verdicts": verdicts(rows), "beam_args": list(BEAM_ARGS)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
    return result


def add_scale_arguments(scale: argparse.ArgumentParser) -> None:
    scale.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES),
                       type=arguments.int_list,
                       help="comma-separated list sizes (default 10000,100000,1000000)")
    scale.add_argument("--seed", type=int, default=0, help="seed of the name lists")
    scale.add_argument("--work", default=str(configs.DEFAULT_ROOT / "bench-scale"),
                       help="lists, pipeline roots and logs go here (default ./runs/bench-scale)")
    scale.add_argument("--json", default=str(configs.DEFAULT_ROOT / "bench-scale" / "scale.json"),
                       help="where to write the results")
    scale.add_argument("--plot", default=None, help="PNG path, e.g. docs/img/scaling.png")
    scale.add_argument("--run-arg", action="append",
                       help="extra `namegen run` argument (repeatable), e.g. --run-arg=--wait")
    scale.add_argument("--rss-limit-gib", type=float, default=16.0,
                       help="kill a run whose process tree passes this (0: no limit)")
    scale.add_argument("--merge", nargs="+", metavar="JSON", type=arguments.existing_file,
                       help="run nothing: report the rows of earlier --json files together")
    scale.add_argument("--names-only", action="store_true",
                       help="only write the name lists into --work")


