"""The pipeline rows of `namegen bench`: runs in a subprocess and their cost from ML Metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from namegen.bench.progress import log
from pipeline import configs


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
