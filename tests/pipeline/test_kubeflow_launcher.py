"""run-local's two launchers (pipeline/kubeflow/launcher.py): a task forked from the server
behaves as the same task started as a fresh Python (cwd, environment, TMPDIR, argv, log, exit
status, death by a signal), and the scheduler in `local.run` starts ready tasks, stops after a
failure and names the failed task. Tiny modules stand in for the entrypoint."""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline.kubeflow import launcher
from pipeline.kubeflow import local as kubeflow_local

FAKE_TASK = """
import json, os, signal, sys, tempfile, time
print(json.dumps({"cwd": os.getcwd(), "tmpdir": os.environ.get("TMPDIR"),
                  "gettempdir": tempfile.gettempdir(), "argv": sys.argv[1:],
                  "name": __name__, "marker": os.environ.get("TASK_MARKER")}))
sys.stdout.flush()  # first in the log, whether or not PYTHONUNBUFFERED is set
print("to stderr", file=sys.stderr)
how = sys.argv[1] if len(sys.argv) > 1 else "ok"
if how == "exit":
    sys.exit(int(sys.argv[2]))
if how == "message":
    sys.exit("the task says no")
if how == "raise":
    raise ValueError("broken task")
if how == "kill":
    if len(sys.argv) > 2:  # tell a task running beside this one
        open(sys.argv[2], "w").close()
    os.kill(os.getpid(), signal.SIGKILL)
if how == "waitfor":  # until the file exists, and a second more, then say so in another
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.05)
    time.sleep(1)
    open(sys.argv[3], "w").close()
if how == "outputs":
    executor_input = json.loads(sys.argv[2])
    with open(os.path.join(os.path.dirname(executor_input["outputs"]["outputFile"]),
                           "started"), "w") as f:
        f.write(os.environ["TMPDIR"])
"""


@pytest.fixture
def fake_module(tmp_path, monkeypatch):
    """A module `fake_task` on PYTHONPATH (this process's too, as run() passes it on)."""
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "fake_task.py").write_text(textwrap.dedent(FAKE_TASK))
    # preloaded by the server: caches the server's temp dir, as TensorFlow's import does
    (modules / "fake_preload.py").write_text("import tempfile\nWHERE = tempfile.gettempdir()\n")
    monkeypatch.setenv("PYTHONPATH", str(modules))
    return modules


def _launch(mode: str, tmp_path: Path, *args: str) -> tuple[int, str, Path, Path]:
    """Run `python -m fake_task ARGS` with one launcher; (status, log, cwd, TMPDIR)."""
    cwd, pod_tmp = tmp_path / f"cwd-{mode}", tmp_path / f"tmp-{mode}"
    cwd.mkdir(exist_ok=True)
    pod_tmp.mkdir(exist_ok=True)
    env = dict(os.environ, TMPDIR=str(pod_tmp), TASK_MARKER=mode)
    log_path = tmp_path / f"log-{mode}.txt"
    tasks = launcher.FreshProcesses() if mode == "fresh" else launcher.ForkServer(
        ["fake_preload"], str(tmp_path), dict(os.environ), str(tmp_path / "server.log"))
    with tasks:
        tasks.start("task", [sys.executable, "-m", "fake_task", *args], str(cwd), env,
                    str(log_path))
        key, status = tasks.wait()
    assert key == "task"
    return status, log_path.read_text(), cwd, pod_tmp


@pytest.mark.parametrize("mode", ["fork", "fresh"])
def test_a_task_runs_its_argv_in_its_cwd_with_its_tmpdir_and_writes_its_log(
        mode, fake_module, tmp_path):
    status, log, cwd, pod_tmp = _launch(mode, tmp_path, "ok", "x y")
    assert status == 0, log
    facts = json.loads(log.splitlines()[0])
    assert facts == {"cwd": str(cwd), "tmpdir": str(pod_tmp), "gettempdir": str(pod_tmp),
                     "argv": ["ok", "x y"], "name": "__main__", "marker": mode}
    assert "to stderr" in log


@pytest.mark.parametrize("args, status, in_log", [
    (("exit", "3"), 3, "to stderr"),
    (("message",), 1, "the task says no"),
    (("raise",), 1, "ValueError: broken task"),
    (("kill",), -signal.SIGKILL, "to stderr"),
])
def test_a_failing_task_reports_the_status_a_fresh_python_reports(
        args, status, in_log, fake_module, tmp_path):
    fresh = _launch("fresh", tmp_path, *args)
    forked = _launch("fork", tmp_path, *args)
    assert fresh[0] == forked[0] == status, (fresh[1], forked[1])
    assert in_log in fresh[1] and in_log in forked[1]


def test_the_parent_keeps_its_environment_argv_cwd_and_tempdir(fake_module, tmp_path):
    before = (dict(os.environ), list(sys.argv), os.getcwd(), tempfile.tempdir)
    for args in (("ok",), ("exit", "2"), ("kill",)):
        _launch("fork", tmp_path, *args)
    assert (dict(os.environ), list(sys.argv), os.getcwd(), tempfile.tempdir) == before


def _package(tmp_path: Path, tasks: dict[str, tuple[list[str], list[str]]]) -> str:
    """A PipelineSpec whose tasks (name -> (dependencies, fake_task args)) run fake_task."""
    spec = {"pipelineInfo": {"name": "fake"}, "schemaVersion": "2.1.0", "sdkVersion": "test",
            "root": {"dag": {"tasks": {}}}, "components": {},
            "deploymentSpec": {"executors": {}}}
    for name, (dependencies, args) in tasks.items():
        spec["deploymentSpec"]["executors"][f"{name}_executor"] = {"container": {
            "image": "unused", "command": ["python", "-m", "fake_task"], "args": args}}
        spec["components"][name] = {"executorLabel": f"{name}_executor"}
        spec["root"]["dag"]["tasks"][name] = {"componentRef": {"name": name},
                                              "taskInfo": {"name": name},
                                              "dependentTasks": dependencies}
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(spec))
    return str(path)


@pytest.mark.parametrize("fresh_processes", [False, True])
def test_run_local_runs_every_task_and_names_the_one_killed(fresh_processes, fake_module,
                                                            tmp_path):
    ok = ["outputs", "{{$}}"]
    package = _package(tmp_path, {"a": ([], ok), "b": (["a"], ok), "c": (["a"], ok),
                                  "d": (["b", "c"], ok)})
    done = kubeflow_local.run(package, str(tmp_path / "work"), log=lambda line: None,
                              fresh_processes=fresh_processes, parallelism=2)
    assert list(done.tasks) == ["a", "b", "c", "d"]
    for task in done.tasks.values():
        task_dir = Path(task.log).parent
        assert json.loads(Path(task.log).read_text().splitlines()[0])["cwd"] == \
            str(kubeflow_local.configs.PROJECT_ROOT)
        tmpdir = (task_dir / "started").read_text()
        assert not os.path.exists(tmpdir), "each task's TMPDIR is removed after it"

    killed = rf"task b failed \(exit {-signal.SIGKILL}\)"
    package = _package(tmp_path, {"a": ([], ok), "b": (["a"], ["kill"]), "c": (["a"], ok)})
    with pytest.raises(kubeflow_local.LocalRunError, match=killed):
        kubeflow_local.run(package, str(tmp_path / "failing"), log=lambda line: None,
                           fresh_processes=fresh_processes)
    assert list((tmp_path / "failing" / "fake").glob("*/a"))
    assert not list((tmp_path / "failing" / "fake").glob("*/c")), "none starts after a failure"

    marker, done = tmp_path / "b-dies", tmp_path / "c-done"
    package = _package(tmp_path, {"a": ([], ok), "b": (["a"], ["kill", str(marker)]),
                                  "c": (["a"], ["waitfor", str(marker), str(done)])})
    with pytest.raises(kubeflow_local.LocalRunError, match=killed):
        kubeflow_local.run(package, str(tmp_path / "beside"), log=lambda line: None,
                           fresh_processes=fresh_processes, parallelism=2)
    assert done.exists(), "the task running beside the failed one is waited for"


def test_the_server_preloads_what_the_tasks_import_but_never_a_module_they_run():
    commands = [["py", "-m", "pipeline.kubeflow.entrypoint", "--executor_class_path",
                 "components.pusher.executor.Executor", "--x", "y"],
                ["py", "-m", "tiny"]]
    preloads = launcher.modules_to_preload(commands, ["components.trainer.train.run_fn"])
    assert "tensorflow" in preloads and "components.pusher.executor" in preloads
    assert "components.trainer.train" in preloads
    assert "pipeline.kubeflow.entrypoint" not in preloads
    assert launcher.modules_to_preload([["py", "-m", "tiny"]], []) == []
