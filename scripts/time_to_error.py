"""Time to the error of the bad invocations in issue 24 ("Found"): a markdown table.

Usage: python scripts/time_to_error.py NAMEGEN_EXECUTABLE
Each invocation runs once from an empty temporary folder; the table gives the wall time until the
process exits, its exit status and the first line it wrote to stderr.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

BAD_INVOCATIONS = (
    ["serve", "--model_base_path", "/nonexistent", "--rest_api_port=-1"],
    ["serve", "--enable-model-warmup=maybe"],
    ["serve", "--grpc_socket_path=/tmp/s"],
    ["serve", "--max-temperature", "-1"],
    ["run", "--data", "/nonexistent"],
    ["run", "--set", "no_such_key=1"],
    ["run", "--gate", "no_such_gate=1"],
    ["kubeflow", "run-local", "/nonexistent.yaml"],
    ["generate", "--temperature", "-1"],
    ["generate", "--model", "/nonexistent", "-v"],
    ["rollback", "--serving-dir", "/nonexistent"],
    ["bench", "serve", "--model", "/nonexistent"],
)


def measure(executable: str, argv: list[str]) -> tuple[float, int, str]:
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        done = subprocess.run([executable, *argv], cwd=folder, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    error_lines = [line for line in lines if "error" in line.lower()]
    first = (error_lines or lines or [""])[0][:110].replace("|", "\\|")
    return seconds, done.returncode, first


def main() -> int:
    executable = sys.argv[1]
    print("| command | time to error (s) | exit | first error line |")
    print("|---|---:|---:|---|")
    for argv in BAD_INVOCATIONS:
        seconds, status, first = measure(executable, argv)
        print(f"| `namegen {' '.join(argv)}` | {seconds:.2f} | {status} | {first} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
