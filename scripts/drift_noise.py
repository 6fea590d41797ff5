"""DriftCheck on the dinosaur list: same-source span pairs vs a truncated span (docs/NIGHTLY.md)."""

import random
import zlib

from components.validation import drift
from data import resolve
from pipeline import configs

NAMES = resolve.resolve().read_text(encoding="utf-8").split()
CHARS, LENGTHS = ("characters", "L_INFTY"), ("name_length", "JENSEN_SHANNON_DIVERGENCE")


def sample(seed: int, n: int = 1300) -> list[str]:
    return random.Random(seed).sample(NAMES, n)


def split(names: list[str]) -> tuple[list[str], list[str]]:
    """Train and eval, 9:1 by a hash of the name."""
    train = [n for n in names if zlib.crc32(n.encode()) % 10]
    return train, [n for n in names if not zlib.crc32(n.encode()) % 10]


def measured(summary: dict, feature: tuple[str, str]) -> float:
    return summary["drift"][feature[0]][feature[1]][0]


def main() -> None:
    chars, lengths, anomalies = [], [], 0
    for seed in range(20):
        before, today = sample(1000 + 2 * seed), sample(1001 + 2 * seed)
        found, summary = drift.compare(today, *split(today), before, configs.DRIFT)
        chars.append(measured(summary, CHARS))
        lengths.append(measured(summary, LENGTHS))
        anomalies += sum(len(a.anomaly_info) for a in found.values())
    print(f"same-source pairs (20): max char L-inf {max(chars):.4f}, "
          f"max length JS {max(lengths):.4f}, anomalies {anomalies}")
    truncated = [n[:3] if i % 2 else n for i, n in enumerate(sample(3))]
    _, summary = drift.compare(truncated, *split(truncated), sample(1), configs.DRIFT)
    print(f"truncated half: length JS {measured(summary, LENGTHS):.4f}, "
          f"char L-inf {measured(summary, CHARS):.4f}")


if __name__ == "__main__":
    main()
