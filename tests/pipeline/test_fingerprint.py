"""The code fingerprint covers every project module an executor imports, and nothing else."""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline import configs, fingerprint

PROJECT_DIRS = ("components", "pipeline", "serving", "data", "namegen")


def project_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "project"
    for name in PROJECT_DIRS:
        shutil.copytree(configs.PROJECT_ROOT / name, copy / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.txt"))
    return copy


def relative(paths: list[Path], root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in paths}


def test_the_executor_code_includes_what_the_export_imports():
    code = relative(fingerprint.executor_code(), configs.PROJECT_ROOT)
    assert {"components/trainer/warmup.py", "components/trainer/export.py",
            "pipeline/configs.py", "pipeline/failpoints.py", "pipeline/kubeflow/parameters.py",
            "components/example_gen/spans.py"} <= code
    assert "namegen/cli.py" not in code  # no executor imports the CLI


def test_a_change_to_an_imported_module_changes_the_fingerprint(tmp_path):
    copy = project_copy(tmp_path)
    before = fingerprint.code_fingerprint(copy)
    assert fingerprint.code_fingerprint(copy) == before  # deterministic
    cli = copy / "namegen" / "cli.py"
    cli.write_text(cli.read_text() + "\n# not executor code\n")
    assert fingerprint.code_fingerprint(copy) == before
    warmup = copy / "components" / "trainer" / "warmup.py"
    warmup.write_text(warmup.read_text() + "\n# a change the export would run\n")
    assert fingerprint.code_fingerprint(copy) != before
