"""Name lists besides the default: made at run time from data a PyPI package ships (faker, MIT).

None is ever stored in git; the dinosaur list is the default data, found by `data.resolve`.
"""

from __future__ import annotations

import importlib
import os
import random
import re
from pathlib import Path

from data import encoding

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z' -]*")  # the scale lists' alphabet (ASCII Latin)
SINGLE_FRACTION = 0.25  # of a scale list: single names; the rest are "A-B" pairs
PERSON_ATTRIBUTES = ("last_names", "last_names_male", "last_names_female", "first_names",
                     "first_names_male", "first_names_female")


def faker_names(locale: str, attributes: tuple[str, ...]) -> list[str]:
    """Every distinct value of some Provider attributes of one faker person locale, sorted."""
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    names: set[str] = set()
    for attribute in attributes:
        values = next((base.__dict__[attribute] for base in provider.__mro__
                       if attribute in base.__dict__), ())
        if isinstance(values, property):
            continue
        names.update(values.keys() if isinstance(values, dict) else values)
    return sorted(n.strip() for n in names if n.strip())


def greek_names() -> list[str]:
    """Greek given names and surnames in Greek script (faker el_GR): ~2.2k, another alphabet."""
    return faker_names("el_GR", ("first_names_male", "first_names_female", "last_names_male",
                                  "last_names_female", "first_names", "last_names"))


def english_first_names() -> list[str]:
    """US given names (faker en_US): ~700 short Latin names, half the size of dinos."""
    return faker_names("en_US", ("first_names_male", "first_names_female", "first_names"))


def full_names(count: int, seed: int = 0) -> list[str]:
    """`count` distinct "First Last" US names (faker en_US lists, sampled reproducibly)."""
    first = english_first_names()
    last = faker_names("en_US", ("last_names",))
    if count > len(first) * len(last):
        raise ValueError(f"only {len(first) * len(last)} distinct full names exist")
    rng = random.Random(seed)
    chosen: set[str] = set()
    while len(chosen) < count:
        chosen.add(f"{rng.choice(first)} {rng.choice(last)}")
    return sorted(chosen)


def dinosaur_names() -> list[str]:
    """The default data's names (../shared/data/dinos.txt, or where data.resolve finds it)."""
    from data import resolve

    return [line.strip() for line in resolve.resolve().read_text("utf-8").splitlines()
            if line.strip()]


# --- scale lists: 10k-1M names for `namegen bench scale` ---------------------------------
def name_pool() -> list[str]:
    """Every faker locale's surnames and given names that are in NAME_PATTERN, sorted."""
    import pkgutil

    import faker.providers.person as person

    return sorted({name for module in pkgutil.iter_modules(person.__path__)
                   for name in faker_names(module.name, PERSON_ATTRIBUTES)
                   if NAME_PATTERN.fullmatch(name) and len(name) <= encoding.MAX_NAME_LENGTH})


def scale_names(count: int, seed: int = 0, pool: list[str] | None = None) -> list[str]:
    """`count` distinct names, the same for the same seed: a quarter (at most the whole pool)
    single pool names, the rest "A-B" pairs of two pool names, 1..MAX_NAME_LENGTH characters,
    in a seeded order."""
    pool = pool if pool is not None else name_pool()
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    if count > len(pool) ** 2 // 2:
        raise ValueError(f"{count} names asked; {len(pool)} pool names make too few pairs")
    rng = random.Random(seed)
    singles = rng.sample(pool, min(int(count * SINGLE_FRACTION), len(pool)))
    chosen = set(singles)
    names = list(singles)
    while len(names) < count:
        first, second = rng.choice(pool), rng.choice(pool)
        name = f"{first}-{second}"
        if first != second and len(name) <= encoding.MAX_NAME_LENGTH and name not in chosen:
            chosen.add(name)
            names.append(name)
    rng.shuffle(names)
    return names


def write_names(path: Path, count: int, seed: int = 0) -> Path:
    """Writes scale_names(count, seed) one per line (atomically: a whole file or none)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(f"{name}\n" for name in scale_names(count, seed)))
    os.replace(partial, path)
    return path
