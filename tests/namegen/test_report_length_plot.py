"""The report's length plot draws the real-vs-real band. The report from a real run:
tests/e2e/test_report_from_a_run.py."""

from __future__ import annotations

from unittest import mock

from namegen import report


def test_length_plot_draws_the_real_vs_real_band(tmp_path):
    train = ["Abcde", "Abcdef", "Abcdefg", "Abc"] * 30
    path = tmp_path / "lengths.png"
    report._plot_lengths(train, ["Abcdef", "Abcd"], [5, 6, 6, 7], path)
    assert path.stat().st_size > 1000
    with mock.patch.object(report.plt.Axes, "fill_between") as band:
        report._plot_lengths(train, ["Abcdef", "Abcd"], [5, 6, 6, 7], tmp_path / "again.png")
    assert band.call_count == 1
