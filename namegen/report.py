"""`namegen report`: a self-contained HTML page with PNG plots for one pipeline run."""

from __future__ import annotations

import collections
import html
import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from ml_metadata.proto import metadata_store_pb2  # noqa: E402

from data import encoding  # noqa: E402
from pipeline import metadata  # noqa: E402

STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.bad{color:#b00020}.good{color:#1b7f3b}img{max-width:100%;border:1px solid #eee}
code{background:#f5f5f5;padding:1px 4px}table.names td{text-align:left}"""


def run_outputs(store, run_id: str | None) -> tuple[str, dict[str, list]]:
    """The artifacts each component produced (or reused from cache) in one pipeline run."""
    runs = [c for c in store.get_contexts_by_type("pipeline_run")]
    if not runs:
        raise FileNotFoundError("no pipeline run in ML Metadata: run `namegen run` first")
    if run_id:
        matching = [c for c in runs if c.name == run_id]
        if not matching:
            raise FileNotFoundError(f"no run {run_id!r}; runs: {[c.name for c in runs]}")
        run = matching[0]
    else:
        run = max(runs, key=lambda c: c.id)
    outputs: dict[str, list] = collections.defaultdict(list)
    executions = store.get_executions_by_context(run.id)
    events = store.get_events_by_execution_ids([e.id for e in executions])
    producer = {e.id: metadata.custom(e, "__node_id__") or e.type.split(".")[-1]
                for e in executions}
    output_ids = [(ev.artifact_id, producer[ev.execution_id]) for ev in events
                  if ev.type == metadata_store_pb2.Event.OUTPUT]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([i for i, _ in output_ids])}
    for artifact_id, component in output_ids:
        outputs[component].append(artifacts[artifact_id])
    return run.name, outputs


def _first(outputs: dict, component: str, type_name: str | None = None):
    for artifact in outputs.get(component, []):
        if type_name is None or artifact.type == type_name:
            return artifact
    return None


def _plot_lengths(train: list[str], evaluation: list[str], generated: list[int],
                  path: Path) -> None:
    """Length histogram of the data and the samples, with the real names' own spread as a band.

    The band: per length, the lowest and highest share over 20 random real-vs-real draws
    (fidelity.length_band), so a generated share outside it is further than real data strays.
    """
    from components.evaluator import fidelity

    fig, ax = plt.subplots(figsize=(7, 3.6))
    lengths = list(range(encoding.MAX_NAME_LENGTH + 1))
    names = train + evaluation
    ax.bar(lengths, [sum(len(n) == k for n in names) / len(names) for k in lengths],
           width=1.0, alpha=0.5, label="data")
    if train and evaluation:
        low, high = fidelity.length_band(train, evaluation)
        ax.fill_between(lengths, low, high, step="mid", color="grey", alpha=0.35,
                        label="real-vs-real band")
    if generated:
        ax.step(lengths, [generated.count(k) / len(generated) for k in lengths], where="mid",
                linewidth=2, color="C1", label="generated (T=1.0)")
    ax.set_xlabel("name length (characters)")
    ax.set_ylabel("share of names")
    ax.set_title("Name lengths")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_losses(history: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 3.6))
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["train_loss"] for r in history], marker="o", label="train (objective)")
    ax.plot(epochs, [r["eval_loss"] for r in history], marker="o", label="eval (nats/char)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("nats per character")
    ax.set_title("Loss per epoch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _anomaly_lines(outputs: dict) -> list[str]:
    from components.validation.component import describe, read_anomalies

    lines = []
    for component in ("ExampleValidator", "NameValidator", "DriftCheck"):
        artifact = _first(outputs, component, "ExampleAnomalies")
        if artifact is not None:
            lines += describe(component, read_anomalies(artifact))
    return lines


def _format(fmt: str, metrics: dict, key: str) -> str:
    """A metric, or a dash for one a model from an older namegen did not record."""
    return fmt.format(metrics[key]) if key in metrics else "—"


def _metrics_table(report: dict) -> str:
    rows = [("held-out nats/char", "eval_nats_per_char", "{:.4f}"),
            ("novelty", "novelty", "{:.1%}"), ("copies of a training name", "copy_rate", "{:.1%}"),
            ("— real-vs-real floor", "copy_rate_floor", "{:.1%}"),
            ("validity", "validity", "{:.1%}"),
            ("length TV distance", "length_tv_distance", "{:.3f}"),
            ("— real-vs-real floor", "length_tv_distance_floor", "{:.3f}"),
            ("reverse score (nats/char)", "reverse_score", "{:.3f}"),
            ("— real-vs-real floor", "reverse_score_floor", "{:.3f}"),
            ("distinct among 20 per prefix", "prefix_diversity", "{:.0%}"),
            ("— real-vs-real floor", "prefix_diversity_floor", "{:.0%}"),
            ("capitalised like a training name", "casing", "{:.1%}"),
            ("samples per second", "samples_per_second", "{:,.0f}")]
    baseline = report.get("baseline")
    served = (f"served version {report['baseline_version']}" if report.get('baseline_version')
              else "served model")
    head = f"<tr><th>metric</th><th>candidate</th><th>{served}</th></tr>"
    body = "".join(
        f"<tr><td>{label}</td><td>{_format(fmt, report['candidate'], key)}</td>"
        f"<td>{_format(fmt, baseline, key) if baseline else '—'}</td></tr>"
        for label, key, fmt in rows)
    verdict = "good" if report["blessed"] else "bad"
    word = "blessed" if report["blessed"] else "not blessed"
    return (f"<table>{head}{body}</table><p class='{verdict}'><b>{word}</b>: "
            f"{html.escape(report['reason'])}</p>")


def _span_comparison(outputs: dict) -> str:
    """The "compared with the previous span" section from DriftCheck's comparison.json."""
    from components.validation.drift import COMPARISON_FILE

    artifact = _first(outputs, "DriftCheck", "ExampleAnomalies")
    path = Path(artifact.uri) / COMPARISON_FILE if artifact is not None else None
    if path is None or not path.exists():
        return ""
    found = json.loads(path.read_text(encoding="utf-8"))
    head = f"<h2>Compared with the previous span</h2><p>span {found['span']}"
    if found.get("previous_span") is None:
        return f"{head}: {html.escape(found['note'])}.</p>"
    before, today = found["previous"], found["today"]
    rows = [("names", "{:,}"), ("mean_length", "{:.2f}"), ("characters", "{:,}")]
    table = "".join(f"<tr><td>{key.replace('_', ' ')}</td><td>{fmt.format(before[key])}</td>"
                    f"<td>{fmt.format(today[key])}</td></tr>" for key, fmt in rows)
    measures = "".join(
        f"<tr><td>{html.escape(feature)} ({kind.replace('_', ' ').lower()})</td>"
        f"<td>{value:.4f}</td><td>{threshold:.4f}</td></tr>"
        for feature, by_kind in sorted(found["drift"].items())
        for kind, (value, threshold) in sorted(by_kind.items()))
    changes = ", ".join(f"{html.escape(c)!s}: {a:.2%} → {b:.2%}"
                        for c, a, b in found["character_changes"])
    return (f"{head} vs span {found['previous_span']}.</p><table><tr><th></th>"
            f"<th>span {found['previous_span']}</th><th>span {found['span']}</th></tr>{table}"
            f"</table><table><tr><th>drift (TFDV)</th><th>measured</th><th>threshold</th></tr>"
            f"{measures}</table><p>characters that changed most: {changes}</p>")


def write_report(pipeline_root: str, out_dir: str | None = None, run_id: str | None = None) -> Path:
    """Render the report for a run (default: the latest) and return the HTML path."""
    from components.example_gen.executor import read_split

    store = metadata.open_store(pipeline_root)
    run_name, outputs = run_outputs(store, run_id)
    out = Path(out_dir or os.path.join(pipeline_root, "report"))
    out.mkdir(parents=True, exist_ok=True)
    sections = [f"<h1>namegen run {html.escape(run_name)}</h1>",
                f"<p>pipeline root <code>{html.escape(pipeline_root)}</code></p>"]

    examples = _first(outputs, "FileBasedExampleGen", "Examples")
    evaluation = _first(outputs, "NameEvaluator", "ModelEvaluation")
    report = (json.loads((Path(evaluation.uri) / "metrics.json").read_text())
              if evaluation is not None else None)
    if examples is not None:
        train, held_out = read_split(examples.uri, "train"), read_split(examples.uri, "eval")
        names = train + held_out
        generated = report["candidate"]["generated_lengths"] if report else []
        _plot_lengths(train, held_out, generated, out / "lengths.png")
        sections.append(f"<h2>Data</h2><p>{len(names):,} names "
                        f"({metadata.custom(examples, 'num_distinct', 0):,} distinct), "
                        f"{metadata.custom(examples, 'num_blank', 0)} blank and "
                        f"{metadata.custom(examples, 'num_too_long', 0)} too-long lines dropped."
                        "</p><img src='lengths.png' alt='name length histogram'>")

    anomalies = _anomaly_lines(outputs)
    sections.append("<h2>Data validation</h2>" + (
        "<ul class='bad'>" + "".join(f"<li>{html.escape(a)}</li>" for a in anomalies) + "</ul>"
        if anomalies else "<p class='good'>No anomalies.</p>"))

    sections.append(_span_comparison(outputs))

    model = _first(outputs, "Trainer", "Model")
    if model is not None:
        info_path = Path(model.uri) / "Format-Serving" / "assets.extra" / "namegen.json"
        info = json.loads(info_path.read_text())
        _plot_losses(info["history"], out / "loss.png")
        hp = info["hyperparameters"]
        m = info["metrics"]
        sections.append(
            f"<h2>Training</h2><p>preset <b>{html.escape(hp['preset'])}</b>, "
            f"{m['parameters']:,} parameters, {m['epochs_trained']} epochs "
            f"(best {m['best_epoch']}), {m['train_seconds']:.0f} s; eval "
            f"{m['eval_nats_per_char']:.4f} nats/char.</p>"
            "<img src='loss.png' alt='train and eval loss per epoch'>")
    if report is not None:
        sections.append("<h2>Evaluation gate</h2>" + _metrics_table(report))
        samples = report["candidate"]["samples"]
        # the default sampler first, then serving_default at a few temperatures (older
        # reports keyed these by the bare temperature)
        head = "".join(
            f"<th>{html.escape(f'T = {t}' if t.replace('.', '', 1).isdigit() else t)}</th>"
            for t in samples)
        rows = "".join("<tr>" + "".join(f"<td>{html.escape(samples[t][i])}</td>" for t in samples)
                       + "</tr>" for i in range(len(next(iter(samples.values())))))
        sections.append(f"<h2>Samples</h2><table class='names'><tr>{head}</tr>{rows}</table>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>namegen report</title>"
            f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>")
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
