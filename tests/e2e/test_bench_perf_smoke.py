"""`namegen bench --quick` smoke: the structure of bench.json and the plots, never timings."""

from __future__ import annotations

import argparse
import json

import pytest

from namegen.bench import perf, targets


def test_quick_bench_writes_every_section(tiny_run, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    perf.add_arguments(parser)
    args = parser.parse_args(["--quick", "--preset", "tiny", "--rounds", "1", "--out",
                              str(tmp_path), "--pipeline-root", str(tiny_run.pipeline_root)])
    assert perf.cmd_bench(args) == 0
    report = json.loads((tmp_path / "bench.json").read_text())

    assert {"machine", "load_before", "load_after", "matmul", "training", "generation",
            "scoring", "pipeline", "scaling", "targets", "plots", "cold_start"} <= set(report)
    assert report["machine"]["nproc"] >= 1 and report["matmul_limit_gflops"] > 0
    rows = report["training"]["rows"]
    assert {"fit", "ours"} <= set(rows)
    for row in rows.values():
        assert row["seconds_per_epoch"] > 0 and row["real_chars_per_second"] > 0
        assert row["padded_chars_per_epoch"] >= row["real_chars_per_epoch"]
    # vs_fit is fit's epoch time over ours (above 1: ours is faster), and feeds its target
    fit, ours = rows["fit"]["seconds_per_epoch"], rows["ours"]["seconds_per_epoch"]
    assert rows["ours"]["vs_fit"] == pytest.approx(fit / ours, rel=1e-9)
    by_target = {t["target"]: t for t in report["targets"]}
    assert by_target["training_vs_fit"]["value"] == rows["ours"]["vs_fit"]
    assert set(report["generation"]["ours"]) == {"1", "32", "256"}
    assert report["generation"]["tutorial"]["names"] > 0
    assert all(r["p99_ms"] >= r["p50_ms"] > 0 for r in report["generation"]["ours"].values())
    assert report["scoring"]["names_per_second"] > 0
    components = {c["component"] for c in report["pipeline"]["components"]}
    assert {"FileBasedExampleGen", "Transform", "Trainer"} <= components
    scaling = report["scaling"]
    assert [r["batch"] for r in scaling["generation_vs_batch"]] == [1, 16, 256]
    assert [r["multiplier"] for r in scaling["training_vs_data"]] == [1, 2, 4]
    assert {t["target"] for t in report["targets"]} == set(targets.TARGETS)
    assert all((tmp_path / p.split("/")[-1]).stat().st_size > 0 for p in report["plots"])
    cold = report["cold_start"]
    assert cold["bare_seconds"] > 0 and cold["generate_seconds"] > 0
    assert cold["generate_vs_bare"] == cold["generate_seconds"] / cold["bare_seconds"]
    assert "Targets:" in capsys.readouterr().out
