"""Imports run one way: the README's layers, no cycle between modules, cheap modules stay cheap."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
PACKAGES = ("namegen", "pipeline", "components", "serving", "data")
# The README's layering rule: what each layer may import. A layer is a package or a module named
# on its own; a module belongs to the layer with the longest matching name.
MAY_IMPORT = {
    "data": ("data",),  # data.encoding: the leaf every layer shares
    "serving.contract": ("data",),
    "serving": ("serving", "data"),
    "pipeline.configs": ("data", "serving.contract"),  # settings read by components
    "pipeline.failpoints": (),
    "components": ("components", "data", "serving.contract", "pipeline.configs",
                   "pipeline.failpoints"),
    "pipeline": ("pipeline", "components", "data", "serving.contract"),
    "namegen": ("namegen", "pipeline", "components", "serving", "data"),
}
HEAVY = ("tfx", "apache_beam", "tensorflow_transform", "tensorflow_data_validation", "tfx_bsl",
         "tensorflow_model_analysis", "kfp")


def project_modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the given top-level packages."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that `module` imports anywhere in its file, functions included."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            # `from a import b` names module a.b, or else an attribute of module a
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def import_graph(root: Path, packages=PACKAGES) -> dict[str, set[str]]:
    modules = project_modules(root, packages)
    return {name: imported_modules(name, path, set(modules)) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str, rules: dict[str, tuple]) -> str | None:
    matches = [layer for layer in rules if _within(module, layer)]
    return max(matches, key=len) if matches else None


def layering_violations(graph: dict[str, set[str]], rules: dict[str, tuple]) -> list[str]:
    """'a imports b' for every import the rules do not allow (and every module with no layer)."""
    found = []
    for module, imports in sorted(graph.items()):
        layer = layer_of(module, rules)
        if layer is None:
            found.append(f"{module} is in no layer")
            continue
        found += [f"{module} imports {target}" for target in sorted(imports)
                  if not any(_within(target, allowed) for allowed in rules[layer])]
    return found


def test_imports_follow_the_readme_layers():
    graph = import_graph(PROJECT)
    assert {"data.encoding", "serving.contract", "components.trainer.export"} <= set(graph)
    assert layering_violations(graph, MAY_IMPORT) == []


def test_the_layering_check_finds_an_import_against_the_layers():
    graph = {"components.trainer.export": {"serving.contract", "data.encoding"},
             "components.pusher.executor": {"serving.model_dir"},
             "serving.contract": {"pipeline.configs"},
             "data.encoding": set(), "tests.helper": set()}
    assert layering_violations(graph, MAY_IMPORT) == [
        "components.pusher.executor imports serving.model_dir",
        "serving.contract imports pipeline.configs",
        "tests.helper is in no layer"]


def test_no_import_cycle_between_project_modules():
    graph = import_graph(PROJECT)
    assert len(graph) > 40 and graph["namegen.cli"], "the scan found too few modules"
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_hidden_in_a_function(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (package / "c.py").write_text("import os\n\n\ndef g():\n    import pkg.a\n")
    (package / "d.py").write_text("from pkg import a\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.sub.b"] == {"pkg.c"}
    assert cycles(graph) == [["pkg.a", "pkg.c", "pkg.sub.b"]]


def _loaded_after(code: str) -> dict:
    """Run code in a fresh interpreter; report the modules loaded and the process settings."""
    probe = code + (
        "\nimport json, os, sys, warnings\n"
        "print(json.dumps({'modules': sorted(sys.modules),"
        " 'filters': [repr(f) for f in warnings.filters],"
        " 'env': {k: os.environ.get(k) for k in ('PYTHONWARNINGS', 'TF_CPP_MIN_LOG_LEVEL')}}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS",
                                                            "TF_CPP_MIN_LOG_LEVEL")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT, env=env, text=True,
                          capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_client_or_the_cli_loads_no_cli_and_changes_no_process_setting():
    bare = _loaded_after("import grpc, numpy")  # numpy adds filters of its own
    client = _loaded_after("import serving.client")
    assert "namegen.cli" not in client["modules"]
    cli = _loaded_after("import namegen.cli")
    for loaded in (client, cli):
        assert loaded["env"] == {"PYTHONWARNINGS": None, "TF_CPP_MIN_LOG_LEVEL": None}
        assert loaded["filters"] == bare["filters"]


def test_generate_score_and_serve_load_no_tfx_beam_or_transform():
    # Everything `namegen generate`, `score` (from a file) and `serve` import on their way.
    loaded = _loaded_after(
        "from namegen import cli\n"
        "cli.build_parser()\n"
        "from namegen.commands import names\n"
        "import serving.model_servers.server, serving.client, serving.model_servers.manager\n"
    )
    modules = set(loaded["modules"])
    assert {"namegen.commands.names", "serving.model_servers.server", "tensorflow"} <= modules
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == []
