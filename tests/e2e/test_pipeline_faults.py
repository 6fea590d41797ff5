"""Fault injection on `namegen run`: kill -9 at each component, Ctrl-C, full and read-only disks,
and two runs on one pipeline root. Every fault is followed by a re-run that must finish.

The tests share one pipeline root (on a tmpfs, so the disk can be filled) and run in file order,
each stage starting from what the previous one left, as a user's re-runs would. One full
pipeline run's worth of work is reused by all of them, which keeps the module to a few minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from data import encoding
from pipeline import configs

PROJECT = Path(__file__).resolve().parents[2]
GATE_ANY = ["--gate", "max_nats_per_char=10", "--gate", "max_regression=100", "--gate",
            "min_validity=0", "--gate", "max_length_tv_over_noise=1", "--gate",
            "max_reverse_score_over_floor=100", "--gate", "copy_rate_sigmas=1e9"]  # faults only
BEAM_FAST = ["--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]
STAGE_SECONDS = 240  # bound on any single wait
CHAIN_EPOCHS = 20  # tiny epochs take ~0.2 s after the first: room to land a kill mid-training
# The Ctrl-C and full-disk stages interrupt training. Small batches make each epoch ~0.5 s of
# train steps, so a signal sent just after an epoch line lands mid-epoch, and 50 epochs outlast
# the in-process second run (under 10 s, asserted).
LONG_EPOCHS = 50
LONG_TRAINING = ("--set", "batch_size=4")


class Rig:
    """A pipeline root and a serving dir, each on its own small tmpfs when mounting works."""

    def __init__(self, base: Path, data: Path):
        self.base, self.data = base, data
        self.pipeline_root, self.serving_dir = base / "pipeline", base / "serving"
        self.mounted: list[Path] = []
        for path, size in ((self.pipeline_root, "64m"), (self.serving_dir, "16m")):
            path.mkdir(parents=True)
            done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                                   str(path)], capture_output=True, text=True)
            if done.returncode == 0:
                self.mounted.append(path)
            else:
                self.mount_error = done.stderr.strip() or "mount failed"
        self.logs = base / "logs"
        self.logs.mkdir()
        self.count = 0

    @property
    def model_base(self) -> Path:
        return self.serving_dir / encoding.MODEL_NAME

    def args(self, epochs: int, *extra: str) -> list[str]:
        return ["run", "--preset", "tiny", "--epochs", str(epochs), "--data", str(self.data),
                "--pipeline-root", str(self.pipeline_root), "--serving-dir",
                str(self.serving_dir), *GATE_ANY, *BEAM_FAST, *extra]

    def launch(self, epochs: int, *extra: str, failpoint: str | None = None,
               release: Path | None = None) -> Launched:
        self.count += 1
        log = self.logs / f"run{self.count}.err"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1")
        env.pop("NAMEGEN_FAILPOINT", None)
        if failpoint:
            env["NAMEGEN_FAILPOINT"] = failpoint
        if release:
            env["NAMEGEN_FAILPOINT_RELEASE"] = str(release)
        handle = open(log, "w")  # noqa: SIM115  closed by Launched
        command = [sys.executable, "-m", "namegen.cli", *self.args(epochs, *extra)]
        # As from a terminal: Ctrl-C at its default, whatever this test process inherited (an
        # ignored SIGINT is inherited across exec, and Python then keeps it ignored).
        process = subprocess.Popen(command,
                                   cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=handle,
                                   start_new_session=True, preexec_fn=_default_ctrl_c)
        return Launched(process, log, handle)

    def versions(self) -> list[str]:
        base = self.model_base
        return sorted((p.name for p in base.iterdir() if p.name.isdigit()), key=int) \
            if base.exists() else []

    def fill(self, path: Path) -> Path:
        """Fills the tmpfs holding path to the last byte; returns the filler file."""
        filler = path / ".filler"
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            chunk = b"\0" * (1 << 20)
            for _ in range(1024):  # bounded: the tmpfs is at most 64 MiB
                f.write(chunk)
                f.flush()
            for _ in range(1 << 12):
                f.write(b"\0" * 1024)
                f.flush()
        return filler

    def close(self) -> None:
        for path in self.mounted:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _default_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Launched:
    def __init__(self, process: subprocess.Popen, log: Path, handle):
        self.process, self.log, self.handle = process, log, handle

    @property
    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, condition, what: str, seconds: float = STAGE_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                pytest.fail(f"run ended (rc {self.process.returncode}) before {what}:\n"
                            f"{self.stderr[-3000:]}")
            time.sleep(0.05)
        self.kill()
        pytest.fail(f"timed out waiting for {what}:\n{self.stderr[-3000:]}")

    def wait_for_text(self, text: str, seconds: float = STAGE_SECONDS) -> None:
        self.wait_for(lambda: text in self.stderr, repr(text), seconds)

    def kill(self) -> None:
        """kill -9 of the `namegen run` process, then of anything it started."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.handle.close()

    def finish(self, seconds: float = STAGE_SECONDS) -> int:
        try:
            rc = self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"run did not finish in {seconds}s:\n{self.stderr[-3000:]}")
        self.handle.close()
        return rc


@pytest.fixture(scope="module")
def rig(tmp_path_factory, dinos_path):
    made = Rig(tmp_path_factory.mktemp("reliability"), dinos_path)
    yield made
    made.close()


def executions(rig: Rig) -> list[dict]:
    from pipeline import metadata

    return metadata.executions(metadata.open_store(str(rig.pipeline_root)))


def running(rig: Rig) -> list[dict]:
    return [e for e in executions(rig) if e["state"] in ("RUNNING", "NEW")]


def model_runs(rig: Rig) -> set[Path]:
    return set((rig.pipeline_root / "Trainer" / "model_run").glob("*"))


def assert_complete_versions(rig: Rig, expected: list[str]) -> None:
    """Only complete versions are visible: numbered 1..n without gaps, each loadable on disk."""
    assert rig.versions() == expected
    for version in expected:
        folder = rig.model_base / version
        assert (folder / "saved_model.pb").is_file()
        assert list((folder / "variables").glob("variables.index"))
        assert (folder / "assets.extra" / "pushed_from.txt").is_file()


def assert_metadata_sound(rig: Rig) -> None:
    with sqlite3.connect(configs.metadata_path(rig.pipeline_root)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- kill -9 at each component, each followed by a re-run ---------------------------------------
def test_kill_9_at_each_component_then_rerun_finishes(rig):
    """ExampleGen, Transform, Trainer mid-epoch, Pusher before and after its rename: each kill
    is followed by a re-run that gets past the killed component; the last re-run finishes."""
    epochs = CHAIN_EPOCHS

    # 1. ExampleGen
    run = rig.launch(epochs, failpoint="example-gen")  # ExampleGen takes under a second
    run.wait_for_text("failpoint example-gen reached")
    run.kill()
    assert rig.versions() == []

    # 2. Transform (ExampleGen completes in this re-run)
    run = rig.launch(epochs)
    run.wait_for_text("▶ Transform")
    time.sleep(1.0)
    run.kill()
    assert "(FileBasedExampleGen) was left RUNNING by a run that died" in run.stderr
    assert "✓ FileBasedExampleGen" in run.stderr
    assert rig.versions() == []

    # 3. Trainer, mid-epoch: after the first epoch's checkpoint, before the second's
    run = rig.launch(epochs)
    # The epoch line comes after the checkpoint is committed (its state file written too);
    # ckpt-1.index alone appears a moment earlier, and a kill there leaves nothing to resume.
    run.wait_for_text(f"[trainer] epoch   1/{epochs}")
    run.kill()
    assert "(Transform) was left RUNNING by a run that died" in run.stderr
    assert "✓ Transform" in run.stderr
    (killed_attempt,) = model_runs(rig)
    assert not (killed_attempt / "checkpoints" / f"ckpt-{epochs}.index").exists()
    assert rig.versions() == []
    stuck = running(rig)
    assert [e["component"] for e in stuck] == ["Trainer"]  # what the kill left behind

    # 4. Pusher, killed after copying into .incoming-*, before the rename
    run = rig.launch(epochs, failpoint="push-before-rename")
    run.wait_for_text("failpoint push-before-rename reached")
    trainer_log = run.stderr
    run.kill()
    assert f"continuing the earlier attempt {killed_attempt}" in trainer_log
    assert "resumed from" in trainer_log and "at epoch 0" not in trainer_log
    assert f"epoch   1/{epochs}" not in trainer_log  # epoch 1 was not trained again
    assert f"epoch  {epochs}/{epochs}" in trainer_log
    assert f"execution {stuck[0]['id']} (Trainer) was left RUNNING" in trainer_log
    assert rig.versions() == []  # the half-pushed copy is invisible to TF Serving

    # 5. Pusher, killed after the rename, before ML Metadata records the push
    run = rig.launch(epochs, failpoint="push-after-rename")
    run.wait_for_text("failpoint push-after-rename reached")
    run.kill()
    assert_complete_versions(rig, ["1"])
    assert "✓ Trainer" in run.stderr and "resumed from" not in run.stderr  # cached

    # 6. The last re-run finishes, reusing version 1 for the same model (no duplicate)
    run = rig.launch(epochs)
    assert run.finish() == 0, run.stderr[-3000:]
    assert_complete_versions(rig, ["1"])
    assert not list(rig.model_base.glob(".incoming-*"))
    assert running(rig) == []
    assert "CANCELED" in {e["state"] for e in executions(rig)}
    assert_metadata_sound(rig)


# --- read-only folders ------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["pipeline root", "serving dir"])
def test_read_only_folder_stops_with_its_path_and_cause(rig, which, capsys):
    from namegen import cli

    path = rig.pipeline_root if which == "pipeline root" else rig.serving_dir
    if path not in rig.mounted:
        pytest.skip(f"cannot mount a tmpfs here: {rig.mount_error}")
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
    try:
        rc = cli.main(rig.args(CHAIN_EPOCHS))
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(path)], check=True)
    err = capsys.readouterr().err
    assert rc == 2
    assert f"namegen: error: cannot write to the {which} {path}: read-only file system" in err
    assert "Traceback" not in err
    assert_complete_versions(rig, ["1"])


# --- Ctrl-C and a second run on the same root ---------------------------------------------------
def test_second_run_refuses_and_ctrl_c_saves_a_checkpoint(rig, capsys, tmp_path):
    from namegen import cli
    from pipeline import run_lock

    before = model_runs(rig)
    run = rig.launch(LONG_EPOCHS, *LONG_TRAINING)  # the Trainer runs again, upstream is cached
    run.wait_for(lambda: any((d / "checkpoints" / "ckpt-1.index").exists()
                             for d in model_runs(rig) - before), "the first checkpoint")
    (attempt,) = model_runs(rig) - before

    # A second run on the same root refuses at once, naming the holder; nothing is touched.
    assert cli.main(rig.args(LONG_EPOCHS, *LONG_TRAINING)) == 2
    assert run.process.poll() is None  # refused while the holder still runs: it did not wait
    err = capsys.readouterr().err
    assert f"another `namegen run` (pid {run.process.pid}" in err
    assert f"is using {rig.pipeline_root}" in err and "--wait" in err
    # Runs on other roots are independent: their lock is free.
    with run_lock.run_lock(str(tmp_path / "other-root")):
        pass

    epochs_logged = run.stderr.count("[trainer] epoch ")
    run.wait_for(lambda: run.stderr.count("[trainer] epoch ") > epochs_logged, "the next epoch")
    time.sleep(0.2)  # into the following epoch's train steps
    epochs_at_signal = run.stderr.count("[trainer] epoch ")
    os.killpg(run.process.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    rc = run.finish()
    assert rc == 130, run.stderr[-3000:]
    # It stops within the epoch it was in (that one may just have ended), not at the 50th.
    assert run.stderr.count("[trainer] epoch ") <= epochs_at_signal + 1
    assert run.stderr.rstrip().endswith("namegen: interrupted; re-run to resume")
    assert "[trainer] interrupted: saved" in run.stderr
    assert (attempt / "checkpoints" / "interrupted.index").exists()
    assert_complete_versions(rig, ["1"])
    rig.interrupted_attempt = attempt
    rig.interrupted_history = json.loads((attempt / "history.json").read_text())
    (place,) = re.findall(r"\[trainer\] interrupted: saved \S+ (at epoch \d+, batch \d+)",
                          run.stderr)
    rig.resume_expected = f"/checkpoints/interrupted {place}"  # checked by the next Trainer


def assert_continues_from_the_interrupt(rig, err: str) -> None:
    """The first Trainer to resume after Ctrl-C does so at the epoch and batch it was saved at.

    A run that fails before resuming (a disk filled first) leaves the check to the next one;
    the last run's saved state is checked in any case (assert_kept_the_interrupted_epochs).
    """
    resumed = [line for line in err.splitlines() if "[trainer] resumed from" in line]
    if resumed and hasattr(rig, "resume_expected"):
        expected = rig.__dict__.pop("resume_expected")
        assert resumed[0].endswith(expected), (expected, err[-3000:])


def assert_kept_the_interrupted_epochs(rig, attempts: set[Path]) -> None:
    """Judged from saved state: a Trainer attempt after Ctrl-C kept the interrupted attempt's
    epochs as they were (timings included, so not trained again) and trained more after them."""
    kept = rig.interrupted_history
    histories = [json.loads((a / "history.json").read_text()) for a in attempts
                 if (a / "history.json").exists()]
    assert histories, f"no Trainer attempt after Ctrl-C saved a history: {sorted(attempts)}"
    longest = max(histories, key=len)
    assert longest[:len(kept)] == kept and len(longest) > len(kept), (kept, longest)
    assert not hasattr(rig, "resume_expected"), "no Trainer said it resumed from the Ctrl-C point"


# --- a full disk while training, then while pushing ---------------------------------------------
def test_disk_full_during_training_stops_with_path_and_cause(rig):
    if rig.pipeline_root not in rig.mounted:
        pytest.skip(f"cannot mount a tmpfs here: {rig.mount_error}")
    before = model_runs(rig)
    run = rig.launch(LONG_EPOCHS, *LONG_TRAINING)
    run.wait_for(lambda: model_runs(rig) - before, "the Trainer to start")
    filler = rig.fill(rig.pipeline_root)
    try:
        rc = run.finish()
    finally:
        filler.unlink()
    err = run.stderr
    assert_continues_from_the_interrupt(rig, err)
    assert rc == 2, err[-3000:]
    assert f"namegen: error: cannot write to the pipeline root {rig.pipeline_root}" in err
    assert "no space left on device" in err
    assert "Traceback" not in err
    assert_complete_versions(rig, ["1"])


def test_disk_full_during_push_leaves_nothing_partial_then_rerun_pushes(rig):
    if rig.serving_dir not in rig.mounted:
        pytest.skip(f"cannot mount a tmpfs here: {rig.mount_error}")
    filler = rig.fill(rig.serving_dir)
    before = model_runs(rig)
    try:
        run = rig.launch(LONG_EPOCHS, *LONG_TRAINING)
        rc = run.finish()
    finally:
        filler.unlink()
    err = run.stderr
    assert_continues_from_the_interrupt(rig, err)
    assert_kept_the_interrupted_epochs(rig, model_runs(rig) - before)
    # The Trainer went on from the Ctrl-C checkpoint (or a later one), not from epoch 0.
    assert "resumed from" in err and "at epoch 0, batch 0" not in err, err[-3000:]
    assert f"epoch   1/{LONG_EPOCHS}" not in err
    assert rc == 2, err[-3000:]
    assert f"namegen: error: cannot write to the serving dir {rig.serving_dir}" in err
    assert "no space left on device" in err and "Traceback" not in err
    assert_complete_versions(rig, ["1"])
    assert not list(rig.model_base.glob(".incoming-*"))


def test_two_runs_at_once_serialise_with_wait(rig, tmp_path):
    """With --wait the second run queues behind the first, then finds everything done."""
    release = tmp_path / "release"
    first = rig.launch(LONG_EPOCHS, *LONG_TRAINING, failpoint="push-before-rename",
                       release=release)
    first.wait_for_text("failpoint push-before-rename reached")  # holding the lock, mid-push
    second = rig.launch(LONG_EPOCHS, *LONG_TRAINING, "--wait")
    second.wait_for_text("waiting for it to finish")
    assert f"(pid {first.process.pid}" in second.stderr
    release.touch()
    assert first.finish() == 0, first.stderr[-3000:]
    assert second.finish() == 0, second.stderr[-3000:]
    assert_complete_versions(rig, ["1", "2"])
    assert running(rig) == []
    assert_metadata_sound(rig)
