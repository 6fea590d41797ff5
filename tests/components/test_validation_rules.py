"""NameValidator's rules report the split, the rule, the count and examples (unit). Bad input
files through a whole run: tests/e2e/test_bad_input_files_in_a_run.py."""

from __future__ import annotations

from components.validation.component import check_names


def test_rules_report_split_rule_count_and_examples():
    findings = check_names(
        {"train": ["Abc", "Abd"] * 5, "eval": ["Abz", "A" * 40]},
        max_length=32, allowed_characters="", min_names={"train": 10, "eval": 1})
    assert findings["train"] == []
    rules = {f.rule: f for f in findings["eval"]}
    assert rules["name_too_long"].count == 1
    assert rules["character_not_in_train"].examples == ["Abz"]
    too_few = check_names({"train": ["Ab"], "eval": []}, min_names={"train": 10, "eval": 1})
    assert [f.rule for f in too_few["train"]] == ["too_few_names"]
    assert [f.rule for f in too_few["eval"]] == ["too_few_names"]
