"""No pickle or eval anywhere near request data or pipeline inputs (with a check that the scan
finds them), and the soak bench's flags. Serving faults on a real model:
tests/e2e/test_serving_faults_and_soak.py."""

from __future__ import annotations

import ast
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def test_soak_command_registers_in_the_bench_group():
    from namegen import cli

    args = cli.build_parser().parse_args(["bench", "soak", "--seconds", "5", "--clients", "2"])
    assert (args.seconds, args.clients, args.push_every, args.func.__name__) == \
        (5.0, 2, 60.0, "cmd_soak")


# --- no pickle or eval on request data or pipeline inputs ---------------------------------------
UNSAFE_CALLS = {"eval", "exec", "compile", "__import__"}
UNSAFE_MODULES = {"pickle", "cPickle", "dill", "cloudpickle", "marshal", "shelve", "jsonpickle"}


def _problems(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else ""
            if name in UNSAFE_CALLS and isinstance(func, ast.Name):  # the builtins
                found.append(f"{where}: {name}()")
            if name == "load" and isinstance(func, ast.Attribute) and \
                    getattr(func.value, "id", "") == "yaml":
                found.append(f"{where}: yaml.load (use yaml.safe_load)")
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                    found.append(f"{where}: allow_pickle")
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            for module in modules:
                if module.split(".")[0] in UNSAFE_MODULES:
                    found.append(f"{where}: import {module}")
    return found


def test_no_pickle_or_eval_in_the_code_that_reads_requests_or_inputs():
    sources = [p for folder in ("serving", "components", "pipeline", "namegen", "data")
               for p in sorted((PROJECT / folder).rglob("*.py"))]
    assert len(sources) > 20
    problems = [problem for path in sources for problem in _problems(path)]
    assert problems == []


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The scan above is not vacuous: each pattern it bans is found in a planted file."""
    planted = tmp_path / "planted.py"
    planted.write_text("import pickle\nfrom dill import loads\nimport yaml\nimport re\n"
                       "eval('1')\nexec('x=1')\nyaml.load(s)\nnp.load(f, allow_pickle=True)\n"
                       "re.compile('x')\nyaml.safe_load(s)\n")
    found = _problems(planted)
    assert len(found) == 6, found
