"""The code fingerprint: a hash of every project module an executor imports, and the schema.

TFX reuses a cached output when a component's inputs and exec properties are unchanged; the
fingerprint is one of those properties, so a change to any code an executor runs (however
indirectly imported, e.g. components/trainer/warmup.py through the Trainer's export) re-runs
the pipeline.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

from pipeline import configs

PACKAGES = ("components", "pipeline", "serving", "data", "namegen")  # the project's own code
# Modules whose code runs inside an executor: every component, and the Kubeflow RunParameters.
EXECUTOR_ROOTS = ("components", "pipeline/kubeflow/__init__.py", "pipeline/kubeflow/parameters.py")


def _module_path(name: str, root: Path) -> Path | None:
    parts = name.split(".")
    if parts[0] not in PACKAGES:
        return None
    for candidate in (root.joinpath(*parts).with_suffix(".py"),
                      root.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, root: Path) -> set[Path]:
    """Project modules that one file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            for end in range(1, len(parts) + 1):  # the package __init__ files run too
                module = _module_path(".".join(parts[:end]), root)
                if module is not None:
                    found.add(module)
    return found


def executor_code(root: Path = configs.PROJECT_ROOT) -> list[Path]:
    """Every project file an executor can run: the roots and all they import, transitively."""
    todo: list[Path] = []
    for entry in EXECUTOR_ROOTS:
        path = root / entry
        todo += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    seen: set[Path] = set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo += sorted(imported_modules(path, root) - seen)
    return sorted(seen)


def code_fingerprint(root: Path = configs.PROJECT_ROOT) -> str:
    """A hash of the executor code and the curated schema: a change invalidates the cache."""
    digest = hashlib.sha256()
    for path in executor_code(root) + sorted((root / "pipeline" / "schema").glob("*.pbtxt")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
