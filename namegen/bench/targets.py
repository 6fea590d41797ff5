"""The speed targets of `namegen bench`, checked against a report, and the printed table."""

from __future__ import annotations

TARGETS = {  # name: (comparison, threshold, what it means)
    "training_vs_fit": (">=", 1.3, "our step / tutorial model.fit, real chars per second"),
    "training_fraction_of_limit": (">=", 0.55, "our step's executed GFLOP/s / matmul limit"),
    "generation_b256_vs_tutorial": (">=", 100.0, "names/s at batch 256 / tutorial loop"),
    "generation_b1_vs_tutorial": (">=", 10.0, "tutorial p50 per name / ours p50 at batch 1"),
    "generation_b256_fraction_of_limit": (">=", 0.40, "executed GFLOP/s at 256 / matmul limit"),
    "pipeline_overhead_seconds": ("<=", 60.0, "run wall time minus the training loop"),
    "cached_rerun_seconds": ("<=", 20.0, "wall time of a second, unchanged run"),
    "generate_cold_start_vs_bare": ("<=", 1.3, "`namegen generate -n 1` / bare TF import+load"),
}


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
        "generate_cold_start_vs_bare": report["cold_start"]["generate_vs_bare"],
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
    c = report["cold_start"]
    lines += ["", f"Cold start (fresh interpreter, median of {c['rounds']}): namegen generate "
              f"{c['generate_seconds']:.1f} s, bare TF import + load {c['bare_seconds']:.1f} s "
              f"({c['generate_vs_bare']:.2f}x)"]
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
