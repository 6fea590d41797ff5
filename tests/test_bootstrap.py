"""scripts/bootstrap.sh: the one place the environment is made."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def test_bootstrap_stops_before_installing_when_the_disk_is_too_full(tmp_path):
    (tmp_path / "scripts").mkdir()
    for name in ("scripts/bootstrap.sh", "requirements.lock", "requirements-current.lock",
                 "pyproject.toml", ".python-version"):
        shutil.copy(PROJECT / name, tmp_path / name)
    env = {**os.environ, "BOOTSTRAP_MIN_FREE_MIB": str(10**9)}
    done = subprocess.run(["bash", str(tmp_path / "scripts" / "bootstrap.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert " MiB free on " in done.stderr
    assert "needs about 1000000000 MiB. Free some space and rerun." in done.stderr
    assert not (tmp_path / ".venv").exists()


# --- Which stack: fake ldd, getconf and Pythons on a PATH that holds nothing else of interest. ---
TOOLS = ("bash", "awk", "basename", "cat", "cut", "dirname", "env", "grep", "sha256sum")


def _fake_machine(tmp_path: Path, glibc: str | None, pythons: dict[str, str]) -> dict:
    """A bin/ with the shell tools, an `ldd` reporting `glibc`, and `pythons` (name -> version).

    A Python version ending in "-novenv" lacks ensurepip, as Debian's python3.x without -venv.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    if glibc is not None:
        (bin_dir / "ldd").write_text(
            f"#!/bin/sh\necho 'ldd (Fake GLIBC {glibc}-1) {glibc}'\necho 'Copyright'\n")
        (bin_dir / "getconf").write_text(f"#!/bin/sh\necho 'glibc {glibc}'\n")
    for name, version in pythons.items():
        real, _, flag = version.partition("-")
        major_minor = ".".join(real.split(".")[:2])
        (bin_dir / name).write_text(
            "#!/bin/sh\n"
            f'case "$1" in\n'
            f"  --version) echo 'Python {real}';;\n"
            f"  -c) case \"$2\" in *ensurepip*) {'exit 1' if flag else 'exit 0'};;"
            f" *) echo '{major_minor}';; esac;;\n"
            "esac\n")
    for script in bin_dir.iterdir():
        if not script.is_symlink():
            script.chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def _pick(tmp_path: Path, glibc: str | None, pythons: dict[str, str], stack: str | None = None):
    env = _fake_machine(tmp_path, glibc, pythons)
    if stack is not None:
        env["NAMEGEN_STACK"] = stack
    bash = shutil.which("bash")
    return subprocess.run([bash, str(PROJECT / "scripts" / "bootstrap.sh"), "--print-stack"],
                          env=env, capture_output=True, text=True, timeout=60)


def test_new_glibc_with_python313_picks_the_current_stack(tmp_path):
    done = _pick(tmp_path, "2.41", {"python3.10": "3.10.13", "python3.13": "3.13.5"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "current"
    assert "current stack (Python 3.13, requirements-current.lock)" in done.stderr
    assert "glibc 2.41 >= 2.39 and python3.13 found" in done.stderr


def test_old_glibc_picks_the_classic_stack_and_says_why(tmp_path):
    done = _pick(tmp_path, "2.36", {"python3.10": "3.10.13", "python3.13": "3.13.0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "classic"
    assert "not current: glibc 2.36 < 2.39 for the current stack" in done.stderr


def test_glibc_239_is_enough_and_238_is_not(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert _pick(tmp_path / "a", "2.39", {"python3.13": "3.13.1"}).stdout.strip() == "current"
    too_old = _pick(tmp_path / "b", "2.38", {"python3.13": "3.13.1"})
    assert too_old.returncode == 1
    assert "glibc 2.38 < 2.39" in too_old.stderr


def test_new_glibc_without_python313_falls_back_to_classic(tmp_path):
    done = _pick(tmp_path, "2.41", {"python3.10": "3.10.13"})
    assert done.stdout.strip() == "classic"
    assert "not current: python3.13 not found" in done.stderr


def test_neither_stack_names_exactly_what_is_missing(tmp_path):
    done = _pick(tmp_path, "2.36", {"python3.13": "3.13.0"})
    assert done.returncode == 1
    assert done.stdout == ""
    assert "python3.10 not found" in done.stderr
    assert "glibc 2.36 < 2.39 for the current stack" in done.stderr
    assert "python3.13 not found" not in done.stderr


def test_python_without_venv_is_named_with_the_package_to_install(tmp_path):
    done = _pick(tmp_path, "2.41", {"python3.13": "3.13.5-novenv"})
    assert done.returncode == 1
    assert "python3.13 has no venv/ensurepip (Debian: apt-get install python3.13-venv)" \
        in done.stderr


def test_unknown_glibc_is_reported_not_guessed(tmp_path):
    done = _pick(tmp_path, None, {"python3.13": "3.13.5"})
    assert done.returncode == 1
    assert "glibc version unknown" in done.stderr


def test_namegen_stack_overrides_the_choice(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    both = {"python3.10": "3.10.13", "python3.13": "3.13.5"}
    forced = _pick(tmp_path / "a", "2.41", both, stack="classic")
    assert forced.stdout.strip() == "classic"
    assert "NAMEGEN_STACK=classic" in forced.stderr
    impossible = _pick(tmp_path / "b", "2.36", both, stack="current")
    assert impossible.returncode == 1
    assert "NAMEGEN_STACK=current cannot install here: glibc 2.36 < 2.39" in impossible.stderr


def test_namegen_stack_rejects_an_unknown_name(tmp_path):
    done = _pick(tmp_path, "2.41", {"python3.13": "3.13.5"}, stack="newest")
    assert done.returncode == 2
    assert "NAMEGEN_STACK must be classic or current, not 'newest'" in done.stderr
