"""Hypothesis settings shared by the fuzzers: a fixed replay for CI, random seeds on request.

NAMEGEN_FUZZ_SEED unset: derandomized (the same examples every run, as CI replays them).
NAMEGEN_FUZZ_SEED=random: a fresh seed each run, printed so a failure can be replayed with
NAMEGEN_FUZZ_SEED=<that number>. NAMEGEN_FUZZ_EXAMPLES sets the number of examples.
"""

from __future__ import annotations

import os
import random
import sys

from hypothesis import HealthCheck, seed, settings


def fuzz_seed() -> int | None:
    """The seed asked for with NAMEGEN_FUZZ_SEED (None: the fixed replay)."""
    text = os.environ.get("NAMEGEN_FUZZ_SEED", "").strip()
    if not text:
        return None
    return random.SystemRandom().randrange(2**32) if text == "random" else int(text)


def fuzz(default_examples: int, divisor: int = 1):
    """A decorator for a @given test: the fixed replay, or the seed from NAMEGEN_FUZZ_SEED.

    divisor: for costly examples, run 1/divisor of the examples asked for (at least 1).
    """
    examples = max(1, int(os.environ.get("NAMEGEN_FUZZ_EXAMPLES", str(default_examples)))
                   // divisor)
    chosen = fuzz_seed()
    common = dict(max_examples=examples, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))

    def decorate(test):
        if chosen is None:
            return settings(derandomize=True, **common)(test)
        print(f"fuzzing with NAMEGEN_FUZZ_SEED={chosen}", file=sys.stderr)
        return seed(chosen)(settings(derandomize=False, **common)(test))

    return decorate
