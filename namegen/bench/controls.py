"""Sampling controls of one SavedModel: fidelity against diversity for each serving setting.

Used by `namegen bench quality --controls` / `--controls-model` and to choose `namegen
generate`'s default temperature (docs/QUALITY.md).
"""

from __future__ import annotations

import statistics

from data import encoding
from pipeline import configs
from serving import contract

# Every row runs the `sample` signature; a setting not named is neutral (the raw model).
CALIBRATED = {"length_calibration": True}
CONTROL_SETTINGS: list[tuple[str, dict]] = [
    ("raw model (T=1.0)", {}),
    ("T=0.8", {"temperature": 0.8}),
    ("top_p=0.9", {"top_p": 0.9}),
    ("calibrated", CALIBRATED),
    *[(f"calibrated + eta={eta:g}", {**CALIBRATED, "eta": eta})
      for eta in (0.001, 0.003, 0.01, 0.02, 0.05)],
    ("calibrated + top_k=10", {**CALIBRATED, "top_k": 10}),
    ("default sampler", None),  # contract.SAMPLER without no_copy and unique
    ("default sampler + no_copy", {"no_copy": True}),
]


def default_sampler(**extra) -> dict:
    """contract.SAMPLER as `sample` inputs, with no_copy and unique off unless given."""
    settings = dict(contract.SAMPLER, no_copy=False, unique=False)
    settings.update(extra)
    return settings


def sampling_controls(model_dir: str, train: list[str], evaluation: list[str],
                      num_samples: int = 1000, seed: int = 1234) -> dict:
    """Fidelity (with floors), novelty and diversity of samples under each serving control."""
    import tensorflow as tf

    from components.evaluator import fidelity
    from serving.contract import SAMPLE_SIGNATURE, generation_request

    generate = tf.saved_model.load(model_dir).signatures[SAMPLE_SIGNATURE]

    def draw(n: int, first_seed: int, **values) -> list[str]:
        request = generation_request(n, seeds=list(range(first_seed, first_seed + n)),
                                     signature=SAMPLE_SIGNATURE, **values)
        return [name.decode("utf-8") for name in generate(**request)["name"].numpy()]

    rows = {}
    for label, settings in CONTROL_SETTINGS:
        settings = default_sampler() if settings is None else (
            default_sampler(**settings) if label.startswith("default") else dict(settings))
        names = draw(num_samples, seed, **settings)
        prefixes = fidelity.prefix_diversity(
            lambda prefix, n, s, settings=settings: draw(n, s, **dict(settings, prefix=prefix)),
            train, evaluation, seed)
        rows[label] = {**sample_metrics(names, train, evaluation, seed),
                       "prefix_diversity": prefixes["prefix_diversity"],
                       "distinct": len(set(names)) / len(names),
                       "mean_length": statistics.fmean(map(len, names))}
    names = draw(20, 0, **default_sampler(no_copy=True, unique=True))
    train_set = set(train)
    return {"rows": rows, "readme_names": names,
            "readme_names_in_train": [n for n in names if n in train_set]}


def controls_table(result: dict) -> str:
    """Markdown: one row per control, and the real-vs-real floors in the last row."""
    lines = ["| control | length TV | copies | reverse | prefix div. | distinct | validity "
             "| mean length | casing |", "|---|---|---|---|---|---|---|---|---|"]
    for label, row in result["rows"].items():
        lines.append(f"| {label} | {row['length_tv_distance']:.3f} | {row['copy_rate']:.1%} | "
                     f"{row['reverse_score']:.3f} | {row['prefix_diversity']:.0%} | "
                     f"{row['distinct']:.1%} | {row['validity']:.1%} | "
                     f"{row['mean_length']:.1f} | {row['casing']:.1%} |")
    first = next(iter(result["rows"].values()))
    lines.append(f"| real names (floor) | {first['length_tv_distance_floor']:.3f} | "
                 f"{first['copy_rate_floor']:.1%} | {first['reverse_score_floor']:.3f} | "
                 f"{first['prefix_diversity_floor']:.0%} | | | | |")
    return "\n".join(lines)


def sample_metrics(samples: list[str], train: list[str], evaluation: list[str],
                   seed: int = configs.GATE["sample_seed"]) -> dict:
    """The gate's sample metrics (fidelity with floors, no prefix diversity) for any sampler."""
    from components.evaluator import fidelity
    from components.evaluator.component import casing_fit

    measured = fidelity.fidelity(samples, train, evaluation, seed)
    return {
        "novelty": 1.0 - measured["copy_rate"],
        "validity": sum(0 < len(s) < encoding.MAX_NAME_LENGTH for s in samples) / len(samples),
        **{k: v for k, v in measured.items() if k not in ("reference_lengths", "prefix_rows")},
        "casing": casing_fit(samples, train),
    }
