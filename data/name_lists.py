"""Name lists besides the default: made at run time from data a PyPI package ships (faker, MIT).

None is ever stored in git; the dinosaur list is the default data, found by `data.resolve`.
"""

from __future__ import annotations

import importlib
import random


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
