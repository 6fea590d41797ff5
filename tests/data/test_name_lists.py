"""The scale lists (data/name_lists.py): faker names in one alphabet, seeded, distinct."""

from __future__ import annotations

import pytest

from data import encoding, name_lists


@pytest.fixture(scope="module")
def pool() -> list[str]:
    return name_lists.name_pool()


def test_the_pool_is_faker_names_in_the_lists_alphabet(pool):
    assert len(pool) > 10_000  # every locale's Latin-script names, not one locale's
    assert pool == sorted(set(pool))
    assert all(name_lists.NAME_PATTERN.fullmatch(name) for name in pool)
    assert "Smith" in pool  # en_US last_names


def test_the_same_seed_makes_the_same_list(pool, tmp_path):
    first = name_lists.write_names(tmp_path / "a" / "names.txt", 2_000, seed=7)
    second = name_lists.write_names(tmp_path / "b" / "names.txt", 2_000, seed=7)
    assert first.read_bytes() == second.read_bytes()
    assert (name_lists.scale_names(2_000, seed=8, pool=pool)
            != name_lists.scale_names(2_000, 7, pool))


def test_the_list_has_the_asked_count_of_distinct_names_in_format(pool, tmp_path):
    path = name_lists.write_names(tmp_path / "names.txt", 3_000, seed=1)
    lines = path.read_text().split("\n")
    assert lines[-1] == ""  # one name per line, newline-terminated
    names = lines[:-1]
    assert len(names) == 3_000 == len(set(names))
    assert all(1 <= len(n) <= encoding.MAX_NAME_LENGTH for n in names)
    assert all(name_lists.NAME_PATTERN.fullmatch(n) for n in names)
    assert sum(n in set(pool) for n in names) >= int(3_000 * name_lists.SINGLE_FRACTION)
    known = set(pool)

    def is_pair(name: str) -> bool:  # pool names may hold a hyphen themselves
        cuts = [i for i, char in enumerate(name) if char == "-"]
        return any(name[:i] in known and name[i + 1:] in known for i in cuts)

    assert all(n in known or is_pair(n) for n in names)
    assert not list(tmp_path.glob("*.partial"))


def test_more_names_than_pairs_is_a_clear_error():
    with pytest.raises(ValueError, match="too few pairs"):
        name_lists.scale_names(10, seed=0, pool=["Ann", "Bo"])
    with pytest.raises(ValueError, match="count must be"):
        name_lists.scale_names(-1, seed=0, pool=["Ann", "Bo"])
