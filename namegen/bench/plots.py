"""The scaling plots of `namegen bench` (PNG)."""

from __future__ import annotations

from pathlib import Path


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
