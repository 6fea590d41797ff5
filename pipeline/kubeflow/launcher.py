"""How run-local starts a task's container command: a fresh process per task, two ways.

Why it exists: every task runs `python -m pipeline.kubeflow.entrypoint ...`, and importing
TensorFlow, TFX, Beam, TFT, TFDV and TFMA takes most of a task's time (16 s of a 17 s
RunParameters task here). `ForkServer` pays that once per run; `FreshProcesses` is the
faithful mode, every task a new Python as in a pod (`run-local --fresh-processes`).

Why a fork server (a process of our own, started fresh), not `os.fork` of the caller or
multiprocessing: the caller may hold threads or TensorFlow's runtime (the nightly test loads a
model between nights; forking a process whose runtime has started can deadlock the child), so
the parent of every task is a new, single-purpose Python that only imports side-effect-free
modules and checks that TensorFlow's runtime has not started before it forks. Unlike
multiprocessing's forkserver (one per caller process, its preloads fixed at its first start,
Process objects pickled, its own exit-code mapping), this one lives for one run, preloads what
that run's spec names, redirects the child's fds before anything runs, and leaves the child
to exit the way a fresh interpreter does (a SystemExit code, a traceback and 1, a signal), so
the reported status is `os.waitstatus_to_exitcode`, what `subprocess` reports.

A child runs exactly the compiled argv: `<this python> -m MODULE ARGS` via
`runpy.run_module(MODULE, run_name="__main__", alter_sys=True)` (the `-m` modules are never
preloaded: re-running a module already imported would define its absl flags twice), any other
command by `execvpe`. It gets the task's cwd and environment (TMPDIR included; `tempfile` is
told to read it again), stdin from /dev/null and stdout/stderr on the task's log file.
"""

from __future__ import annotations

import abc
import gc
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the server itself imports only what it is told to preload
    from kfp.pipeline_spec import pipeline_spec_pb2 as pb

MODULE = "pipeline.kubeflow.launcher"
EXECUTOR_CLASS_FLAG = "--executor_class_path"
# Imported by the entrypoint and TFX's kubeflow_v2_run_executor (which are run, not preloaded).
BASE_PRELOADS = (
    "tensorflow", "apache_beam", "tensorflow_transform", "tensorflow_data_validation",
    "tensorflow_model_analysis", "kfp.pipeline_spec.pipeline_spec_pb2",
    "tfx.components.evaluator.executor", "tfx.dsl.components.base.base_beam_executor",
    "tfx.orchestration.kubeflow.v2.compiler_utils",
    "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_entrypoint_utils",
    "tfx.orchestration.portable.outputs_utils", "tfx.types.standard_component_specs",
)
_POLL_SECONDS = 0.05


class LauncherError(RuntimeError):
    """The fork server died or refused to start tasks."""


def modules_to_preload(commands: list[list[str]], functions: list[str]) -> list[str]:
    """The executor classes' modules named in the commands, with BASE_PRELOADS when there are
    any (TFX's executor runner), and the modules of the user functions
    (`components.trainer.train.run_fn`); never a command's `-m` module."""
    modules = []
    run_as_main = {argv[2] for argv in commands if len(argv) > 2 and argv[1] == "-m"}
    for argv in commands:
        for flag, value in zip(argv, argv[1:]):
            if flag == EXECUTOR_CLASS_FLAG:
                modules.append(value.rpartition(".")[0])
    if modules:
        modules[:0] = BASE_PRELOADS
    modules.extend(path.rpartition(".")[0] for path in functions)
    return [m for m in dict.fromkeys(modules) if m and m not in run_as_main]


def spec_preloads(spec: pb.PipelineSpec) -> list[str]:
    """What the fork server imports for this spec (modules_to_preload)."""
    from google.protobuf import json_format

    executors = json_format.MessageToDict(spec.deployment_spec).get("executors", {})
    commands = [list(e["container"].get("command", [])) + list(e["container"].get("args", []))
                for e in executors.values() if "container" in e]
    commands = [[sys.executable, *c[1:]] if c and c[0] in ("python", "python3") else c
                for c in commands]
    functions = [source.runtime_value.constant.string_value
                 for task in spec.root.dag.tasks.values()
                 for name, source in task.inputs.parameters.items()
                 if name.endswith("_fn") and source.WhichOneof("kind") == "runtime_value"]
    return modules_to_preload(commands, [f for f in functions if f])


class _Launcher(abc.ABC):
    """start(key, argv, cwd, env, log_path) a task, wait() -> (key, exit status), close()."""

    @abc.abstractmethod
    def start(self, key: str, argv: list[str], cwd: str, env: dict[str, str],
              log_path: str) -> None: ...

    @abc.abstractmethod
    def wait(self) -> tuple[str, int]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FreshProcesses(_Launcher):
    """Every task a new process (`subprocess.Popen`), as a pod; the faithful mode."""

    def __init__(self) -> None:
        self._running: dict[str, subprocess.Popen] = {}

    def start(self, key: str, argv: list[str], cwd: str, env: dict[str, str],
              log_path: str) -> None:
        with open(log_path, "w") as log_file:
            self._running[key] = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log_file,
                                                  stderr=subprocess.STDOUT)

    def wait(self) -> tuple[str, int]:
        """The next task to finish and its return code (negative: the signal that ended it)."""
        while True:
            for key, process in list(self._running.items()):
                if process.poll() is not None:
                    del self._running[key]
                    return key, process.returncode
            time.sleep(_POLL_SECONDS)

    def close(self) -> None:
        for process in self._running.values():
            process.kill()
            process.wait()
        self._running.clear()


class ForkServer(_Launcher):
    """Tasks forked from one server process that has imported `preloads` (see the module
    docstring). The server starts now and imports while the caller prepares the first task;
    its own output goes to `server_log`, its temporary files to a TMPDIR removed with it."""

    def __init__(self, preloads: list[str], cwd: str, env: dict[str, str],
                 server_log: str) -> None:
        self.server_log = server_log
        self._tmp = tempfile.TemporaryDirectory()
        with open(server_log, "w") as log_file:
            self._server = subprocess.Popen([sys.executable, "-m", MODULE, *preloads], cwd=cwd,
                                            env=dict(env, TMPDIR=self._tmp.name),
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=log_file)

    def _fail(self, what: str) -> LauncherError:
        self.close()
        with open(self.server_log) as f:
            tail = "".join(f.readlines()[-25:])
        return LauncherError(f"the fork server {what}; its log {self.server_log}:\n{tail}")

    def start(self, key: str, argv: list[str], cwd: str, env: dict[str, str],
              log_path: str) -> None:
        request = {"key": key, "argv": argv, "cwd": cwd, "env": env, "log": log_path}
        try:
            self._server.stdin.write(json.dumps(request).encode() + b"\n")
            self._server.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._fail(f"is gone (exit {self._server.poll()})") from None

    def wait(self) -> tuple[str, int]:
        while True:
            line = self._server.stdout.readline()
            if not line:
                raise self._fail(f"exited ({self._server.wait()}) with tasks running")
            reply = json.loads(line)
            if "error" in reply:
                raise self._fail(reply["error"])
            if "key" in reply:
                return reply["key"], reply["returncode"]

    def close(self) -> None:
        """Stop the server; tasks still running are sent SIGTERM and reaped by it."""
        if self._server.stdin and not self._server.stdin.closed:
            try:
                self._server.stdin.close()
            except BrokenPipeError:
                pass
        self._server.wait()
        self._server.stdout.close()
        self._tmp.cleanup()


# ---- the server process (python -m pipeline.kubeflow.launcher MODULE...) ----

def _send(replies: int, message: dict) -> None:
    os.write(replies, json.dumps(message).encode() + b"\n")


def _preload(modules: list[str]) -> str | None:
    """Import the modules; an error message when TensorFlow's runtime started (unsafe to fork)."""
    import importlib

    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as error:  # the task that needs it fails with its own error
            print(f"launcher: preloading {module} failed: {error!r}", file=sys.stderr)
    if "tensorflow" in sys.modules:
        from tensorflow.python.eager import context
        if context.context()._initialized:
            return "found TensorFlow's runtime started after preloading; cannot fork safely"
    return None


def _threads() -> list[str]:
    """This process's native threads by name. After the preloads here: the main one, numpy's
    OpenBLAS worker and pyarrow's jemalloc thread (both handle fork with pthread_atfork), and
    one more unnamed thread that importing TensorFlow starts (not identified; a fresh Python
    has it too, and a forked child starts without it)."""
    tasks = "/proc/self/task"
    if not os.path.isdir(tasks):
        return []
    names = []
    for task in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, task, "comm")) as f:
                names.append(f.read().strip())
        except OSError:
            pass
    return names


def serve(preloads: list[str]) -> dict | None:
    """Fork a child per request line on stdin and reply with each child's exit status.
    Returns the request in a child (which then runs it), None in the server when stdin ends."""
    replies = os.dup(1)  # the reply pipe; fd 1 itself goes to the server log from here on
    os.dup2(2, 1)
    error = _preload(preloads)
    if error:
        _send(replies, {"error": error})
        return None
    gc.freeze()  # children's collections leave the preloaded objects (and their pages) alone
    print(f"launcher: {len(sys.modules)} modules preloaded; threads: {_threads()}",
          file=sys.stderr, flush=True)
    _send(replies, {"ready": True})
    running: dict[int, str] = {}
    pending = b""
    stdin_open = True
    while stdin_open or running:
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            _send(replies, {"key": running.pop(pid),
                            "returncode": os.waitstatus_to_exitcode(status)})
        if not stdin_open:
            time.sleep(_POLL_SECONDS)
            continue
        if not select.select([0], [], [], _POLL_SECONDS)[0]:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:  # the caller is done or gone: tasks still running are stopped
            stdin_open = False
            for pid in running:
                os.kill(pid, signal.SIGTERM)
            continue
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                os.close(replies)
                return request
            running[pid] = request["key"]
    return None


def run_task(request: dict) -> None:
    """In the forked child: become the task (fds, cwd, environment, argv) and run it."""
    log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # read TMPDIR again
    argv = request["argv"]
    if not (len(argv) > 2 and argv[0] == sys.executable and argv[1] == "-m"):
        os.execvpe(argv[0], argv, request["env"])
    import runpy

    sys.argv = [argv[0], *argv[3:]]  # runpy puts the module's file in sys.argv[0]
    try:
        runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as done:
        code = exit_status(done)
    except KeyboardInterrupt:  # as the interpreter does: die by the signal
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 1
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    _exit(code)


def exit_status(done: SystemExit) -> int:
    """The exit status the interpreter gives a SystemExit: None 0, an int its low byte, any
    other code printed to stderr and 1."""
    if done.code is None:
        return 0
    if isinstance(done.code, int):
        return done.code & 0xFF
    print(done.code, file=sys.stderr)
    return 1


def _exit(code: int) -> None:
    """Exit as the interpreter's shutdown does (join threads, atexit, collect, flush) without
    tearing down the modules inherited from the server (that would copy most of its memory)."""
    import atexit
    import threading

    threading._shutdown()
    atexit._run_exitfuncs()
    gc.collect()  # closes (flushes) files left open in cycles; frozen objects are skipped
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    _request = serve(sys.argv[1:])
    if _request is not None:
        run_task(_request)
